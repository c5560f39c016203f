import CSupport

// Build configuration of the AVX-512 kernels: this target is compiled with AVX-512F/BW/VL/DQ,
// FMA and F16C (see Package.swift). The shared templates (symlinked from
// DyDiTKernelsPortable) read `V`, `madd` and the tile sizes from here.

/// One zmm register of floats.
typealias V = SIMD16<Float>
typealias VInt = SIMD16<Int32>
/// As many halves as `V` has floats (fp16 weight panels).
typealias VHalf = SIMD16<Float16>

// The x86 forms of the vector helpers; without DYDIT_X86_ISA (a non-x86 host) this target uses
// the portable ones (PortableVectorOps.swift, ExponentBits.swift).
#if DYDIT_X86_ISA
/// Sixteen halves at `p` as floats: one vcvtph2ps, inlined from CSupport's header.
@inline(__always) func widenHalves(_ p: UnsafeRawPointer) -> V { dydit_widen_half16(p) }

/// int32 lanes as floats: one vcvtdq2ps, inlined from CSupport's header.
@inline(__always) func toFloat(_ v: VInt) -> V { dydit_int_to_float16(v) }

/// 1/d for finite d: the hardware estimate and one Newton step, inlined from CSupport's header.
@inline(__always) func reciprocal(_ d: V) -> V { dydit_reciprocal16(d) }

/// Lanes rounded to the nearest integer, ties to even: one vrndscaleps.
@inline(__always) func roundedToNearest(_ v: V) -> V { dydit_round16(v) }

/// `y·2ⁿ` for integral `n` in [-126, 128]: one vscalefps.
@inline(__always) func timesPowerOfTwo(_ y: V, _ n: V) -> V { dydit_scale_pow2_16(y, n) }

/// The largest lane.
@inline(__always) func horizontalMax(_ v: V) -> Float { dydit_hmax16(v) }

/// The sum of the lanes, by a tree of halves.
@inline(__always) func horizontalSum(_ v: V) -> Float { dydit_hsum16(v) }

/// `a·b + c` as one fused multiply-add instruction (FMA is enabled for this target).
@inline(__always) func madd(_ a: V, _ b: V, _ c: V) -> V { c.addingProduct(a, b) }

/// `dst[c·ldd + r] = src[r·lds + c]` for a 16 × 16 block: 16 loads, 64 shuffles, 16 stores.
@inline(__always) func transposeSquare(_ src: UnsafePointer<Float>, lds: Int, _ dst: UnsafeMutablePointer<Float>, ldd: Int) {
    dydit_transpose16x16(UnsafeRawPointer(src).assumingMemoryBound(to: UInt32.self), lds,
                         UnsafeMutableRawPointer(dst).assumingMemoryBound(to: UInt32.self), ldd)
}
#endif

/// The kernels of one instruction set. Every ISA target declares the same surface, so the
/// dispatcher can switch between them.
public enum ISAKernels {
    public static let name = "avx512"
    /// Vector registers the build may name (zmm0–31): what a register-only loop must fit in.
    public static let vectorRegisters = 32
    /// Register tile: `mr` rows of A times `nr` columns of B (24 zmm accumulators).
    public static let mr = 6
    public static let nr = 64
    /// Deepest K block. Blocks are balanced (K = 1152 runs as 3 × 384): fewer blocks mean
    /// fewer passes of C through the caches, which costs more than B panels from L2.
    static let kc = 384
    /// Rows of A packed at once (144×128 floats, 72 KiB, live in L2).
    static let mc = 144
    /// Columns of an unpacked B packed at once.
    static let ncMax = 512
}
