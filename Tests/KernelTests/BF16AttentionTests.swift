import DyDiTKernels
import XCTest

/// Attention with bf16 products on every (kernel build, bf16 tile) pair this CPU runs, on odd
/// shapes (token counts and head sizes not multiples of the tiles, odd ones included): against
/// the exact attention of the bf16-rounded Q, K and V (in Double) within the one rounding the
/// kernel adds (P to bf16) and fp32 summation; the AVX512_BF16 path against the scalar path
/// bit for bit.
final class BF16AttentionTests: XCTestCase {
    /// (batch, tokens, heads, head size)
    static let shapes: [(Int, Int, Int, Int)] = [(1, 1, 1, 8), (1, 5, 2, 16), (2, 17, 3, 8), (1, 64, 2, 64), (1, 97, 1, 72),
                                                 (2, 196, 2, 32), (1, 257, 1, 64), (1, 33, 2, 11), (1, 100, 1, 130)]

    func qkv(_ batch: Int, _ tokens: Int, _ heads: Int, _ hd: Int, seed: UInt64) -> [Float] {
        var rng = TestRNG(seed: seed)
        return (0..<(batch * tokens * 3 * heads * hd)).map { _ in Float(rng.uniform()) * 4 - 2 }
    }

    func attention(_ x: [Float], _ shape: (Int, Int, Int, Int), ctx: ComputeContext, path: BF16Path,
                   rounding: BF16PairRounding? = nil) -> [Float] {
        let (batch, tokens, heads, hd) = shape
        var out = [Float](repeating: .nan, count: batch * tokens * heads * hd)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                BF16Attention.forward(qkv: xp.baseAddress!, ldqkv: 3 * heads * hd, batch: batch, tokens: tokens, heads: heads,
                                      headDim: hd, out: op.baseAddress!, ldo: heads * hd, ctx: ctx, path: path,
                                      rounding: rounding)
            }
        }
        return out
    }

    func testMatchesTheExactAttentionOfTheRoundedOperandsOnEveryShape() throws {
        let combinations = BF16Tests.combinations
        XCTAssertFalse(combinations.isEmpty)
        var checked = 0
        for (isa, path) in combinations {
            for threads in [1, 2] {
                let ctx = try ComputeContext(threads: threads, isa: isa)
                for (seed, shape) in Self.shapes.enumerated() {
                    let (batch, tokens, heads, hd) = shape
                    let x = qkv(batch, tokens, heads, hd, seed: UInt64(seed + 1))
                    let out = attention(x, shape, ctx: ctx, path: path)
                    let ld = 3 * heads * hd, d = heads * hd, scale = 1 / Double(Float(hd).squareRoot())
                    let r = { (i: Int) in Double(BFloat16.rounded(x[i])) }
                    for b in 0..<batch {
                        for h in 0..<heads {
                            var maxV = 0.0
                            for j in 0..<tokens { for c in 0..<hd { maxV = max(maxV, abs(r((b * tokens + j) * ld + 2 * d + h * hd + c))) } }
                            for i in 0..<tokens {
                                let q = (b * tokens + i) * ld + h * hd
                                var s = [Double](repeating: 0, count: tokens), magnitude = 0.0
                                for j in 0..<tokens {
                                    let k = (b * tokens + j) * ld + d + h * hd
                                    var dot = 0.0, m = 0.0
                                    for c in 0..<hd {
                                        dot += r(q + c) * r(k + c)
                                        m += abs(r(q + c) * r(k + c))
                                    }
                                    s[j] = dot * scale
                                    magnitude = max(magnitude, m * scale)
                                }
                                let top = s.max()!
                                let e = s.map { Foundation.exp($0 - top) }, sum = e.reduce(0, +)
                                // P rounded to bf16 (≤ 2⁻⁹ relative, Σp = 1), scores summed in fp32 (each
                                // within (hd+1)·2⁻²⁴·Σ|q·k|, moving p by at most twice that relatively),
                                // exp and the P·V sums in fp32.
                                let scoreError = Double(hd + 1) * 0x1p-24 * magnitude
                                let bound = maxV * (0x1p-9 * 1.01 + 4 * scoreError + 1e-6 + Double(tokens + 2) * 0x1p-24) + 1e-30
                                for c in 0..<hd {
                                    var o = 0.0
                                    for j in 0..<tokens { o += e[j] / sum * r((b * tokens + j) * ld + 2 * d + h * hd + c) }
                                    let got = Double(out[(b * tokens + i) * d + h * hd + c])
                                    XCTAssert(got.isFinite && abs(got - o) <= bound,
                                              "\(isa)/\(path) \(shape) (b \(b), h \(h), query \(i), feature \(c)): \(got), expected \(o) ± \(bound)")
                                }
                            }
                        }
                    }
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 2 * Self.shapes.count)
    }

    /// `vdpbf16ps` adds in the fallback tile's order: the two paths agree bit for bit.
    func testAVX512BF16PathEqualsTheScalarPathBitForBit() throws {
        guard BF16Path.avx512bf16.isSupported() else { throw XCTSkip("this CPU has no AVX512_BF16") }
        let ctx = try ComputeContext(threads: 2, isa: .avx512)
        for (seed, shape) in Self.shapes.enumerated() {
            let x = qkv(shape.0, shape.1, shape.2, shape.3, seed: UInt64(50 + seed))
            let fast = attention(x, shape, ctx: ctx, path: .avx512bf16), scalar = attention(x, shape, ctx: ctx, path: .portable)
            XCTAssertEqual(fast.map(\.bitPattern), scalar.map(\.bitPattern), "\(shape)")
            XCTAssertFalse(fast.contains { !$0.isFinite }, "\(shape)")
        }
    }

    /// Q, K and the probabilities rounded any way give the same attention bit for bit, also
    /// with scores spread wide enough that softmax leaves denormals (which `vcvtne2ps2bf16`
    /// alone would read as zero).
    func testEveryRoundingGivesTheSameAttention() throws {
        let ctx = try ComputeContext(threads: 2, isa: CPUFeatures.current.supports(.avx512) ? .avx512 : .portable)
        let path = BF16Path.best(for: ctx.isa)
        let roundings = BF16PairRounding.allCases.filter { $0.isSupported() && $0 != .scalar }
        for (seed, shape) in [(2, 64, 2, 32), (1, 33, 3, 16), (1, 17, 1, 64)].enumerated() {
            for spread: Float in [1, 12] {
                let x = qkv(shape.0, shape.1, shape.2, shape.3, seed: UInt64(90 + seed)).map { $0 * spread }
                let scalar = attention(x, shape, ctx: ctx, path: path, rounding: .scalar)
                XCTAssertFalse(scalar.contains { !$0.isFinite }, "\(shape)")
                for rounding in roundings {
                    let fast = attention(x, shape, ctx: ctx, path: path, rounding: rounding)
                    XCTAssertEqual(fast.map(\.bitPattern), scalar.map(\.bitPattern), "\(rounding), \(shape), spread \(spread)")
                }
            }
        }
    }
}
