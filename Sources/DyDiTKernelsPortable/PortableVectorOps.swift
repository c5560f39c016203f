// The vector helpers of a build without x86 instructions: the portable build's own, and the
// AVX2 and AVX-512 targets' when the package is built for a non-x86 host (or with
// DYDIT_PORTABLE_ONLY=1): Package.swift then compiles those targets without their ISA flags
// and without DYDIT_X86_ISA, their ISAConfig.swift keeps only the types and tile sizes, and
// the dispatcher never picks them (CPUID reports no x86 feature there).
#if !DYDIT_X86_ISA
/// `V.scalarCount` halves at `p` as floats. No F16C in the baseline: the conversion is done in
/// software, lane by lane (correct, and slow: fp16 is meant for the AVX2 / AVX-512 builds).
@inline(__always) func widenHalves(_ p: UnsafeRawPointer) -> V { V(p.loadUnaligned(as: VHalf.self)) }

/// int32 lanes as floats (the standard library's conversion; the ISA builds use one instruction).
@inline(__always) func toFloat(_ v: VInt) -> V { V(v) }

/// 1/d (a division: no estimate instruction in the baseline).
@inline(__always) func reciprocal(_ d: V) -> V { V(repeating: 1) / d }

/// The largest lane.
@inline(__always) func horizontalMax(_ v: V) -> Float { v.max() }

/// The sum of the lanes by a tree of halves (lane i + lane i + n/2, then again), like the x86
/// builds' shuffle trees.
@inline(__always) func horizontalSum(_ v: V) -> Float {
    var t = v, n = V.scalarCount
    while n > 1 {
        n /= 2
        for i in 0..<n { t[i] += t[i &+ n] }
    }
    return t[0]
}

/// `a·b + c`. Not fused: without the FMA feature, `addingProduct` becomes a libm call per lane.
@inline(__always) func madd(_ a: V, _ b: V, _ c: V) -> V { a * b + c }

/// `dst[c·ldd + r] = src[r·lds + c]` for a `V.scalarCount`-square block, element by element
/// (the ISA builds use register shuffles).
@inline(__always) func transposeSquare(_ src: UnsafePointer<Float>, lds: Int, _ dst: UnsafeMutablePointer<Float>, ldd: Int) {
    let w = V.scalarCount
    for r in 0..<w {
        for c in 0..<w { dst[c &* ldd &+ r] = src[r &* lds &+ c] }
    }
}
#endif
