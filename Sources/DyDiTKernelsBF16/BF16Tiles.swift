// The bf16 register tile of CPUs with AVX512_BF16 (this target is compiled with AVX-512 and
// AVX512_BF16; the dispatcher calls the tile and `convertPairs` only when CPUID reports
// AVX512_BF16). `roundPairs`, `interleavePairs` and `transpose16x16` use AVX-512F alone and
// run on any AVX-512 CPU.

#if DYDIT_X86_ISA
import CSupport

public enum BF16Kernels {
    /// fp32 sums of 6 rows of A (bf16 pairs, `lda` words apart) with `panels` (1 to 4)
    /// 16-column weight panels (`[kPair][16]` words, `panelStride` words apart) into
    /// `out [6, 16·panels]` (`ldo` floats apart), overwritten.
    @inline(never)
    public static func tile(kPairs: Int, a: UnsafePointer<UInt32>, lda: Int, b: UnsafePointer<UInt32>, panelStride: Int,
                            panels: Int, out: UnsafeMutablePointer<Float>, ldo: Int) {
        if panels == 4 {
            tile4(kPairs, a, lda, b, panelStride, out, ldo)
        } else {
            for p in 0..<panels { tile1(kPairs, a, lda, b + p * panelStride, out + p * 16, ldo) }
        }
    }

    typealias F = SIMD16<Float>
    typealias I = SIMD16<Int32>

    @inline(__always) static func dp(_ acc: F, _ a: I, _ b: I) -> F { dydit_dpbf16_16(acc, a, b) }

    /// One pair of A in every lane (a broadcast from memory).
    @inline(__always) static func broadcast(_ a: UnsafePointer<UInt32>, _ offset: Int) -> I {
        I(repeating: Int32(bitPattern: a[offset]))
    }

    @inline(__always) static func load(_ p: UnsafePointer<UInt32>) -> I { UnsafeRawPointer(p).loadUnaligned(as: I.self) }

    static func tile4(_ kp: Int, _ a: UnsafePointer<UInt32>, _ lda: Int, _ b: UnsafePointer<UInt32>, _ ps: Int,
                      _ out: UnsafeMutablePointer<Float>, _ ldo: Int) {
        var c00 = F(), c01 = F(), c02 = F(), c03 = F(), c10 = F(), c11 = F(), c12 = F(), c13 = F()
        var c20 = F(), c21 = F(), c22 = F(), c23 = F(), c30 = F(), c31 = F(), c32 = F(), c33 = F()
        var c40 = F(), c41 = F(), c42 = F(), c43 = F(), c50 = F(), c51 = F(), c52 = F(), c53 = F()
        // Row and panel pointers fixed outside the loop, one moving offset per operand (as the
        // int8 tile: no checked index arithmetic among the dot products).
        let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda
        let p0 = b, p1 = b + ps, p2 = b + 2 * ps, p3 = b + 3 * ps
        var o = 0, pb = 0
        for _ in 0..<kp {
            let b0 = load(p0 + pb), b1 = load(p1 + pb), b2 = load(p2 + pb), b3 = load(p3 + pb)
            var x = broadcast(a0, o)
            c00 = dp(c00, x, b0); c01 = dp(c01, x, b1); c02 = dp(c02, x, b2); c03 = dp(c03, x, b3)
            x = broadcast(a1, o)
            c10 = dp(c10, x, b0); c11 = dp(c11, x, b1); c12 = dp(c12, x, b2); c13 = dp(c13, x, b3)
            x = broadcast(a2, o)
            c20 = dp(c20, x, b0); c21 = dp(c21, x, b1); c22 = dp(c22, x, b2); c23 = dp(c23, x, b3)
            x = broadcast(a3, o)
            c30 = dp(c30, x, b0); c31 = dp(c31, x, b1); c32 = dp(c32, x, b2); c33 = dp(c33, x, b3)
            x = broadcast(a4, o)
            c40 = dp(c40, x, b0); c41 = dp(c41, x, b1); c42 = dp(c42, x, b2); c43 = dp(c43, x, b3)
            x = broadcast(a5, o)
            c50 = dp(c50, x, b0); c51 = dp(c51, x, b1); c52 = dp(c52, x, b2); c53 = dp(c53, x, b3)
            o &+= 1
            pb &+= 16
        }
        store(out, c00, c01, c02, c03)
        store(out + ldo, c10, c11, c12, c13)
        store(out + 2 * ldo, c20, c21, c22, c23)
        store(out + 3 * ldo, c30, c31, c32, c33)
        store(out + 4 * ldo, c40, c41, c42, c43)
        store(out + 5 * ldo, c50, c51, c52, c53)
    }

    static func tile1(_ kp: Int, _ a: UnsafePointer<UInt32>, _ lda: Int, _ b: UnsafePointer<UInt32>,
                      _ out: UnsafeMutablePointer<Float>, _ ldo: Int) {
        var c0 = F(), c1 = F(), c2 = F(), c3 = F(), c4 = F(), c5 = F()
        let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda
        var o = 0, pb = 0
        for _ in 0..<kp {
            let b0 = load(b + pb)
            c0 = dp(c0, broadcast(a0, o), b0)
            c1 = dp(c1, broadcast(a1, o), b0)
            c2 = dp(c2, broadcast(a2, o), b0)
            c3 = dp(c3, broadcast(a3, o), b0)
            c4 = dp(c4, broadcast(a4, o), b0)
            c5 = dp(c5, broadcast(a5, o), b0)
            o &+= 1
            pb &+= 16
        }
        let raw = UnsafeMutableRawPointer(out), row = ldo * 4
        raw.storeBytes(of: c0, as: F.self)
        raw.storeBytes(of: c1, toByteOffset: row, as: F.self)
        raw.storeBytes(of: c2, toByteOffset: 2 * row, as: F.self)
        raw.storeBytes(of: c3, toByteOffset: 3 * row, as: F.self)
        raw.storeBytes(of: c4, toByteOffset: 4 * row, as: F.self)
        raw.storeBytes(of: c5, toByteOffset: 5 * row, as: F.self)
    }

    /// `iterations` rounds of 24 independent `vdpbf16ps` on registers only: the bf16 dot
    /// product's arithmetic peak of one core (24·16·4 flops per round: two products and two
    /// additions per lane).
    @inline(never)
    public static func peakLoop(iterations: Int, seed: Int32) -> Float {
        let a = I(repeating: 0x3F80_3F80), b = I(repeating: seed)
        var r0 = F(), r1 = r0, r2 = r0, r3 = r0, r4 = r0, r5 = r0, r6 = r0, r7 = r0
        var r8 = r0, r9 = r0, r10 = r0, r11 = r0, r12 = r0, r13 = r0, r14 = r0, r15 = r0
        var r16 = r0, r17 = r0, r18 = r0, r19 = r0, r20 = r0, r21 = r0, r22 = r0, r23 = r0
        for _ in 0..<iterations {
            r0 = dp(r0, a, b); r1 = dp(r1, a, b); r2 = dp(r2, a, b); r3 = dp(r3, a, b)
            r4 = dp(r4, a, b); r5 = dp(r5, a, b); r6 = dp(r6, a, b); r7 = dp(r7, a, b)
            r8 = dp(r8, a, b); r9 = dp(r9, a, b); r10 = dp(r10, a, b); r11 = dp(r11, a, b)
            r12 = dp(r12, a, b); r13 = dp(r13, a, b); r14 = dp(r14, a, b); r15 = dp(r15, a, b)
            r16 = dp(r16, a, b); r17 = dp(r17, a, b); r18 = dp(r18, a, b); r19 = dp(r19, a, b)
            r20 = dp(r20, a, b); r21 = dp(r21, a, b); r22 = dp(r22, a, b); r23 = dp(r23, a, b)
        }
        let s = r0 + r1 + r2 + r3 + r4 + r5 + r6 + r7 + r8 + r9 + r10 + r11
            + r12 + r13 + r14 + r15 + r16 + r17 + r18 + r19 + r20 + r21 + r22 + r23
        return s.sum()
    }

    /// Sixteen floats rounded to bf16, each in its lane's upper half (lower half garbage):
    /// round to nearest even, a NaN made quiet — `scalarPair`'s rounding in integer lanes only.
    /// Branch-free integer arithmetic (`replacing(with:where:)` on a float compare compiled to
    /// mask conversions); LLVM still splits part of it into 128-bit pieces (about 60
    /// instructions per 32 floats), so CPUs with AVX512_BF16 take `convertPairs` instead.
    @inline(__always)
    static func roundedUpperHalves(_ x: F) -> SIMD16<Int32> {
        let u = unsafeBitCast(x, to: SIMD16<Int32>.self)
        let even = u &+ 0x7FFF &+ ((u &>> 16) & 1)
        // All ones where |x| is above infinity's bits (a NaN), else zero.
        let nan = (0x7F80_0000 &- (u & 0x7FFF_FFFF)) &>> 31
        return (even & ~nan) | ((u | 0x40_0000) & nan)
    }

    /// `pairs` words from `2·pairs` floats: each float rounded to bf16 (nearest even, NaN kept
    /// a quiet NaN), two consecutive ones per word, the first in the low half — what
    /// `BFloat16.pair` does one word at a time, sixteen words per step here.
    public static func roundPairs(_ src: UnsafePointer<Float>, pairs: Int, into dst: UnsafeMutablePointer<UInt32>) {
        typealias U = SIMD16<UInt32>
        @inline(__always) func rounded(_ x: F) -> U { unsafeBitCast(roundedUpperHalves(x), to: U.self) }
        var p = 0
        let raw = UnsafeRawPointer(src)
        while p + 16 <= pairs {
            let lo = rounded(raw.loadUnaligned(fromByteOffset: 8 * p, as: F.self))
            let hi = rounded(raw.loadUnaligned(fromByteOffset: 8 * p + 64, as: F.self))
            // Each float's bf16 is its upper half: truncated to 16-bit lanes, floats 2j and
            // 2j+1 become the low and high halves of word j (no even/odd lane shuffles).
            let out = UnsafeMutableRawPointer(dst + p)
            out.storeBytes(of: SIMD16<UInt16>(truncatingIfNeeded: lo &>> 16), as: SIMD16<UInt16>.self)
            out.storeBytes(of: SIMD16<UInt16>(truncatingIfNeeded: hi &>> 16), toByteOffset: 32, as: SIMD16<UInt16>.self)
            p += 16
        }
        while p < pairs {
            dst[p] = scalarPair(src[2 * p], src[2 * p + 1])
            p += 1
        }
    }

    /// `roundPairs` with AVX512_BF16's conversion instruction (the CPU must have it): the same
    /// words in a fifth of the instructions. `vcvtne2ps2bf16` reads a denormal as zero where the
    /// definition rounds it, so a step whose 32 floats hold one rounds them in integer lanes.
    public static func convertPairs(_ src: UnsafePointer<Float>, pairs: Int, into dst: UnsafeMutablePointer<UInt32>) {
        var p = 0
        while p + 16 <= pairs {
            if !dydit_bf16_convert32(src + 2 * p, dst + p) { roundPairs(src + 2 * p, pairs: 16, into: dst + p) }
            p += 16
        }
        if p < pairs { roundPairs(src + 2 * p, pairs: pairs - p, into: dst + p) }
    }

    /// `dst[c·ldd + r] = src[r·lds + c]` for r, c < 16 (attention's K into B panels).
    @inline(__always)
    public static func transpose16x16(_ src: UnsafePointer<UInt32>, lds: Int, into dst: UnsafeMutablePointer<UInt32>, ldd: Int) {
        dydit_transpose16x16(src, lds, dst, ldd)
    }

    /// `dst[c] = pair(even[c], odd[c])` for `c < count`: two rows of a matrix become one row
    /// of k-pairs (attention's V as the B operand of P·V), sixteen words per step.
    public static func interleavePairs(_ even: UnsafePointer<Float>, _ odd: UnsafePointer<Float>, count: Int,
                                       into dst: UnsafeMutablePointer<UInt32>) {
        typealias U = SIMD16<UInt32>
        @inline(__always) func rounded(_ x: F) -> U { unsafeBitCast(roundedUpperHalves(x), to: U.self) }
        var c = 0
        while c + 16 <= count {
            let lo = rounded(UnsafeRawPointer(even + c).loadUnaligned(as: F.self))
            let hi = rounded(UnsafeRawPointer(odd + c).loadUnaligned(as: F.self))
            UnsafeMutableRawPointer(dst + c).storeBytes(of: (lo &>> 16) | (hi & 0xFFFF_0000), as: U.self)
            c += 16
        }
        while c < count {
            dst[c] = scalarPair(even[c], odd[c])
            c += 1
        }
    }

    @inline(__always)
    static func store(_ p: UnsafeMutablePointer<Float>, _ v0: F, _ v1: F, _ v2: F, _ v3: F) {
        let raw = UnsafeMutableRawPointer(p)
        raw.storeBytes(of: v0, as: F.self)
        raw.storeBytes(of: v1, toByteOffset: 64, as: F.self)
        raw.storeBytes(of: v2, toByteOffset: 128, as: F.self)
        raw.storeBytes(of: v3, toByteOffset: 192, as: F.self)
    }
}

#else
/// Built for a non-x86 host: the bf16 tile does not exist there, and the dispatcher never picks
/// it (`BF16Path.isSupported` needs CPUID's AVX512_BF16, which such a host cannot report).
public enum BF16Kernels {
    public static func tile(kPairs: Int, a: UnsafePointer<UInt32>, lda: Int, b: UnsafePointer<UInt32>, panelStride: Int,
                            panels: Int, out: UnsafeMutablePointer<Float>, ldo: Int) {
        preconditionFailure("the AVX512_BF16 tile is not built for this CPU architecture")
    }

    public static func roundPairs(_ src: UnsafePointer<Float>, pairs: Int, into dst: UnsafeMutablePointer<UInt32>) {
        for p in 0..<pairs { dst[p] = scalarPair(src[2 * p], src[2 * p + 1]) }
    }

    public static func convertPairs(_ src: UnsafePointer<Float>, pairs: Int, into dst: UnsafeMutablePointer<UInt32>) {
        roundPairs(src, pairs: pairs, into: dst)
    }

    public static func transpose16x16(_ src: UnsafePointer<UInt32>, lds: Int, into dst: UnsafeMutablePointer<UInt32>, ldd: Int) {
        for r in 0..<16 { for c in 0..<16 { dst[c * ldd + r] = src[r * lds + c] } }
    }

    public static func interleavePairs(_ even: UnsafePointer<Float>, _ odd: UnsafePointer<Float>, count: Int,
                                       into dst: UnsafeMutablePointer<UInt32>) {
        for c in 0..<count { dst[c] = scalarPair(even[c], odd[c]) }
    }

    public static func peakLoop(iterations: Int, seed: Int32) -> Float {
        preconditionFailure("the AVX512_BF16 peak loop is not built for this CPU architecture")
    }
}
#endif

extension BF16Kernels {
    /// One word of two bf16 (round to nearest even; NaN a quiet NaN), the first in the low half.
    @inline(__always)
    static func scalarPair(_ lo: Float, _ hi: Float) -> UInt32 {
        @inline(__always) func bits(_ x: Float) -> UInt32 {
            let b = x.bitPattern
            return x.isNaN ? (b >> 16) | 0x40 : (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16
        }
        return bits(lo) | bits(hi) << 16
    }
}

import DyDiTKernelABI

/// The AVX512_BF16 path's entry in the bf16 dispatch table (`BF16Path.kernels`).
extension BF16Kernels: BF16TileKernels {}
