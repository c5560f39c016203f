// `vexp`'s rounding and power of two through float bits: the portable and AVX2 builds
// (symlinked there); the AVX-512 build has an instruction for each, in its ISAConfig, except
// on a non-x86 host (no DYDIT_VSCALEF), where it uses these.
#if !DYDIT_VSCALEF

/// Lanes rounded to the nearest integer, ties to even: adding 1.5·2²³ leaves the integer in
/// the low mantissa bits (the FPU's own rounding); SIMD `rounded` is not vectorised in Swift.
@inline(__always) func roundedToNearest(_ v: V) -> V {
    let magic = V(repeating: 12_582_912)
    return (v + magic) - magic
}

/// `y·2ⁿ` for integral `n` in [-126, 128], through the exponent field in two halves so each
/// factor stays a normal float.
@inline(__always) func timesPowerOfTwo(_ y: V, _ n: V) -> V {
    let ni = unsafeBitCast(n + V(repeating: 12_582_912), to: VInt.self) &- VInt(repeating: 0x4B40_0000)
    let half = ni &>> 1
    let s1 = unsafeBitCast((half &+ 127) &<< 23, to: V.self)
    let s2 = unsafeBitCast((ni &- half &+ 127) &<< 23, to: V.self)
    return y * s1 * s2
}
#endif
