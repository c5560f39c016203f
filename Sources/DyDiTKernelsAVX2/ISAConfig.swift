import CSupport

// Build configuration of the AVX2 kernels: this target is compiled with AVX2, FMA and F16C
// (see Package.swift). The shared templates (symlinked from DyDiTKernelsPortable) read `V`,
// `madd` and the tile sizes from here.

/// One ymm register of floats.
typealias V = SIMD8<Float>
typealias VInt = SIMD8<Int32>
/// As many halves as `V` has floats (fp16 weight panels).
typealias VHalf = SIMD8<Float16>

// The x86 forms of the vector helpers; without DYDIT_X86_ISA (a non-x86 host) this target uses
// the portable ones (PortableVectorOps.swift).
#if DYDIT_X86_ISA
/// Eight halves at `p` as floats: one vcvtph2ps (F16C), inlined from CSupport's header.
@inline(__always) func widenHalves(_ p: UnsafeRawPointer) -> V { dydit_widen_half8(p) }

/// int32 lanes as floats: one vcvtdq2ps, inlined from CSupport's header.
@inline(__always) func toFloat(_ v: VInt) -> V { dydit_int_to_float8(v) }

/// 1/d for finite d: the hardware estimate and one Newton step, inlined from CSupport's header.
@inline(__always) func reciprocal(_ d: V) -> V { dydit_reciprocal8(d) }

/// The largest lane.
@inline(__always) func horizontalMax(_ v: V) -> Float { dydit_hmax8(v) }

/// The sum of the lanes, by a tree of halves.
@inline(__always) func horizontalSum(_ v: V) -> Float { dydit_hsum8(v) }

/// `a·b + c` as one fused multiply-add instruction (FMA is enabled for this target).
@inline(__always) func madd(_ a: V, _ b: V, _ c: V) -> V { c.addingProduct(a, b) }

/// `dst[c·ldd + r] = src[r·lds + c]` for an 8 × 8 block: 8 loads, 24 shuffles, 8 stores.
@inline(__always) func transposeSquare(_ src: UnsafePointer<Float>, lds: Int, _ dst: UnsafeMutablePointer<Float>, ldd: Int) {
    dydit_transpose8x8(src, lds, dst, ldd)
}
#endif

/// The kernels of one instruction set. Every ISA target declares the same surface, so the
/// dispatcher can switch between them.
public enum ISAKernels {
    public static let name = "avx2"
    /// Vector registers the build may name (ymm0–15): what a register-only loop must fit in.
    public static let vectorRegisters = 16
    /// Register tile: 6 rows × 16 columns = 12 ymm accumulators of the 16 registers.
    public static let mr = 6
    public static let nr = 16
    static let kc = 256
    static let mc = 144
    static let ncMax = 512
}
