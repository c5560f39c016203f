// Build configuration of the portable kernels: compiled for the baseline target (x86-64
// with SSE2, or whatever the toolchain targets), so it runs on any CPU. The shared templates
// in this folder are symlinked into the AVX2 and AVX-512 targets and compiled again there.

/// Eight floats: two xmm registers on baseline x86-64.
typealias V = SIMD8<Float>
typealias VInt = SIMD8<Int32>
/// As many halves as `V` has floats (fp16 weight panels).
typealias VHalf = SIMD8<Float16>

// The vector helpers (`widenHalves`, `madd`, …) are in PortableVectorOps.swift, shared with the
// AVX2 and AVX-512 targets when those are built without x86 flags (a non-x86 host).

/// The kernels of one instruction set. Every ISA target declares the same surface, so the
/// dispatcher can switch between them.
public enum ISAKernels {
    public static let name = "portable"
    /// Vector registers the build may name (SSE2's xmm0–15): what a register-only loop must fit in.
    public static let vectorRegisters = 16
    public static let mr = 6
    public static let nr = 16
    static let kc = 256
    static let mc = 144
    static let ncMax = 512
}
