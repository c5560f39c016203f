// Build configuration of the portable kernels: compiled for the baseline target (x86-64
// with SSE2, or whatever the toolchain targets), so it runs on any CPU. The shared templates
// in this folder are symlinked into the AVX2 and AVX-512 targets and compiled again there.

/// Eight floats: two xmm registers on baseline x86-64.
typealias V = SIMD8<Float>
typealias VInt = SIMD8<Int32>
/// As many halves as `V` has floats (fp16 weight panels).
typealias VHalf = SIMD8<Float16>

/// `V.scalarCount` halves at `p` as floats. No F16C in the baseline: the conversion is done in
/// software, lane by lane (correct, and slow: fp16 is meant for the AVX2 / AVX-512 builds).
@inline(__always) func widenHalves(_ p: UnsafeRawPointer) -> V { V(p.loadUnaligned(as: VHalf.self)) }

/// int32 lanes as floats (the standard library's conversion; the ISA builds use one instruction).
@inline(__always) func toFloat(_ v: VInt) -> V { V(v) }

/// 1/d (a division: no estimate instruction in the baseline).
@inline(__always) func reciprocal(_ d: V) -> V { V(repeating: 1) / d }

/// The largest lane.
@inline(__always) func horizontalMax(_ v: V) -> Float { v.max() }

/// `a·b + c`. Not fused: without the FMA feature, `addingProduct` becomes a libm call per lane.
@inline(__always) func madd(_ a: V, _ b: V, _ c: V) -> V { a * b + c }

/// The kernels of one instruction set. Every ISA target declares the same surface, so the
/// dispatcher can switch between them.
public enum ISAKernels {
    public static let name = "portable"
    public static let mr = 6
    public static let nr = 16
    static let kc = 256
    static let mc = 144
    static let ncMax = 512
}
