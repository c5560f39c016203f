// bf16 products on CPUs without bf16 instructions (shared template, compiled once per ISA).

import DyDiTKernelABI

/// k pairs of A split into floats at a time: 6 rows × 16 pairs × 2 halves = 768 bytes, which
/// `withUnsafeTemporaryAllocation` always places on the stack.
private let splitPairs = 16

extension ISAKernels {
    /// The bf16 tile for CPUs with neither AVX512_BF16 nor AMX-BF16 (`BF16Path.portable`):
    /// 6 rows × `panels` (≤ 4) panels of 16 columns, in `vdpbf16ps`'s order — per k pair the
    /// odd k's product added first, then the even one's, starting from zero. A product of two
    /// bf16 is exact in fp32, so each addition is the only rounding, and every lane does the
    /// additions of `Reference.bf16Product` in its order: the result is the same bit for bit
    /// (products and sums stay separate instructions: with exact products a fused
    /// multiply-add rounds the same way, but only for normal operands).
    ///
    /// `a`: rows of k pairs (bf16 of k+1 in the high half, k in the low half), `lda` words
    /// apart, 6 rows readable; `b`: panels of 16 pairs per k pair, `panelStride` words apart.
    ///
    /// Why this shape: a bf16 half becomes a float by a mask or a shift, and splitting A's
    /// pairs inside the product loop cost two vector operations per row and half (a move and a
    /// broadcast) beside each multiply and add — the loop ran at a third of the fp32 product's
    /// rate. So A's pairs are split once per 16 k pairs into a stack buffer, and the loop
    /// broadcasts them from memory (a load, no arithmetic); B's halves are split once per
    /// vector for six rows. Six accumulators of one vector each (a 16-column panel is 2 ymm
    /// on AVX2, 1 zmm on AVX-512, 4 chunks of 4 lanes in the portable build), two widened B
    /// vectors and the operands fit in 16 registers. The sums are parked in `out` between
    /// blocks of 16 pairs: stored and reloaded exactly, so the order of additions is unchanged.
    public static func tile(kPairs: Int, a: UnsafePointer<UInt32>, lda: Int, b: UnsafePointer<UInt32>, panelStride: Int,
                            panels: Int, out: UnsafeMutablePointer<Float>, ldo: Int) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 6 * 2 * splitPairs) { buffer in
            let split = buffer.baseAddress!
            var q0 = 0
            repeat {  // once at least: with no pairs, the sums are zero
                let count = min(splitPairs, kPairs - q0)
                splitPairsOfSixRows(a + q0, lda: lda, count: count, into: split)
                for p in 0..<panels {
                    var c = 0
                    while c < 16 {
                        bf16SixRows(split, count: count, b + p &* panelStride + q0 &* 16 + c, out + p &* 16 + c, ldo,
                                    first: q0 == 0)
                        c &+= V.scalarCount
                    }
                }
                q0 &+= splitPairs
            } while q0 < kPairs
        }
    }

    /// `count` (≤ 16) pairs of 6 rows → floats: row r's odd halves at `split + 32r`, its even
    /// halves 16 floats after.
    @inline(__always)
    static func splitPairsOfSixRows(_ a: UnsafePointer<UInt32>, lda: Int, count: Int, into split: UnsafeMutablePointer<Float>) {
        let w = V.scalarCount
        let high = VInt(repeating: Int32(bitPattern: 0xFFFF_0000))
        for r in 0..<6 {
            let row = UnsafeRawPointer(a + r &* lda), odd = split + r &* 2 &* splitPairs, even = odd + splitPairs
            var q = 0
            while q + w <= count {
                let words = row.loadUnaligned(fromByteOffset: q &* 4, as: VInt.self)
                store(unsafeBitCast(words & high, to: V.self), odd + q)
                store(unsafeBitCast(words &<< 16, to: V.self), even + q)
                q &+= w
            }
            while q < count {
                let word = a[r &* lda &+ q]
                odd[q] = Float(bitPattern: word & 0xFFFF_0000)
                even[q] = Float(bitPattern: word &<< 16)
                q &+= 1
            }
        }
    }

    /// Six rows × one vector of columns for `count` pairs: `out`'s sums continued (or started
    /// from zero when `first`), B's pairs 16 words apart.
    @inline(__always)
    static func bf16SixRows(_ split: UnsafePointer<Float>, count: Int, _ b: UnsafePointer<UInt32>,
                            _ out: UnsafeMutablePointer<Float>, _ ldo: Int, first: Bool) {
        let high = VInt(repeating: Int32(bitPattern: 0xFFFF_0000))
        var s0 = V(), s1 = V(), s2 = V(), s3 = V(), s4 = V(), s5 = V()
        if !first {
            s0 = load(out); s1 = load(out + ldo); s2 = load(out + 2 &* ldo)
            s3 = load(out + 3 &* ldo); s4 = load(out + 4 &* ldo); s5 = load(out + 5 &* ldo)
        }
        let rowStride = 2 &* splitPairs
        var w = UnsafeRawPointer(b)
        for q in 0..<count {
            let y = w.loadUnaligned(as: VInt.self)
            let bOdd = unsafeBitCast(y & high, to: V.self), bEven = unsafeBitCast(y &<< 16, to: V.self)
            let o = split + q, e = split + splitPairs + q
            s0 += V(repeating: o[0]) * bOdd
            s1 += V(repeating: o[rowStride]) * bOdd
            s2 += V(repeating: o[2 &* rowStride]) * bOdd
            s3 += V(repeating: o[3 &* rowStride]) * bOdd
            s4 += V(repeating: o[4 &* rowStride]) * bOdd
            s5 += V(repeating: o[5 &* rowStride]) * bOdd
            s0 += V(repeating: e[0]) * bEven
            s1 += V(repeating: e[rowStride]) * bEven
            s2 += V(repeating: e[2 &* rowStride]) * bEven
            s3 += V(repeating: e[3 &* rowStride]) * bEven
            s4 += V(repeating: e[4 &* rowStride]) * bEven
            s5 += V(repeating: e[5 &* rowStride]) * bEven
            w += 64
        }
        store(s0, out); store(s1, out + ldo); store(s2, out + 2 &* ldo)
        store(s3, out + 3 &* ldo); store(s4, out + 4 &* ldo); store(s5, out + 5 &* ldo)
    }
}
