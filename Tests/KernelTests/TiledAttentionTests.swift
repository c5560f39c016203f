import XCTest
import DyDiTKernels

/// The online softmax and the tiled (FlashAttention-style) attention of every ISA build
/// against the double-precision references, on lengths that leave partial key tiles and
/// vector tails, and with NaN inputs, which must reach the output.
final class TiledAttentionTests: XCTestCase {
    /// Three tiles of one row set, each through the kernel and the reference, carrying the
    /// running maximum and sum: every intermediate (exponentials, α, m, l) compared.
    func testOnlineSoftmaxRowsAgainstReference() {
        var rng = TestRNG(seed: 41)
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            for cols in OpsTests.widths {
                let rows = rng.int(1...50), ld = cols + rng.int(0...5)
                var gotMax = [Float](repeating: -.infinity, count: rows), wantMax = gotMax
                var gotSum = [Float](repeating: 0, count: rows), wantSum = gotSum
                var gotAlpha = [Float](repeating: .nan, count: rows), wantAlpha = gotAlpha
                for tile in 0..<3 {
                    // Later tiles shifted up and down, so the running maximum both moves and stays.
                    let shift: Float = [0, 4, -3][tile]
                    let s = rng.normals(rows * ld, scale: 5).map { $0 + shift }
                    var got = s, want = s
                    got.withUnsafeMutableBufferPointer { g in
                        Ops.onlineSoftmaxRows(g.baseAddress!, ld: ld, rows: rows, cols: cols, scale: 0.37,
                                              rowMax: &gotMax, rowSum: &gotSum, alpha: &gotAlpha, isa: isa)
                    }
                    want.withUnsafeMutableBufferPointer { w in
                        Reference.onlineSoftmaxRows(w.baseAddress!, ld: ld, rows: rows, cols: cols, scale: 0.37,
                                                    rowMax: &wantMax, rowSum: &wantSum, alpha: &wantAlpha)
                    }
                    let what = "\(isa) cols=\(cols) ld=\(ld) tile \(tile)"
                    let used = (0..<rows).flatMap { r in (0..<cols).map { r * ld + $0 } }
                    assertWithinBounds(used.map { got[$0] }, used.map { want[$0] },
                                       bounds: used.map { 4e-6 * Double(max(want[$0], 1e-3)) }, "exponentials, \(what)")
                    XCTAssertEqual(gotMax, wantMax, "running maximum, \(what)")
                    assertWithinBounds(gotAlpha, wantAlpha, bounds: wantAlpha.map { 4e-6 * Double($0) + 1e-30 }, "α, \(what)")
                    XCTAssertLessThanOrEqual(relativeError(gotSum, wantSum), 4e-6, "running sum, \(what)")
                    if tile == 0 { XCTAssertEqual(gotAlpha, [Float](repeating: 0, count: rows), "α on the first tile, \(what)") }
                }
            }
        }
    }

    /// Both kernels against the reference, on lengths below, at and past one key tile
    /// (`Attention.keyTile` = 256), odd head sizes and uneven thread splits.
    func testBothKernelsAgainstReference() {
        var rng = TestRNG(seed: 42)
        let cases = [(1, 1, 1, 1), (2, 5, 3, 7), (1, 255, 2, 16), (1, 256, 1, 64), (2, 257, 2, 20),
                     (1, 600, 1, 64), (1, 513, 3, 33)]
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            for threads in [1, 3] {
                let ctx = context(isa, threads: threads)
                for (batch, tokens, heads, hd) in cases {
                    let d = heads * hd
                    // Scores of a few units: the running maximum changes across tiles.
                    let qkv = rng.normals(batch * tokens * 3 * d, scale: 1.5)
                    var want = [Float](repeating: .nan, count: batch * tokens * d)
                    qkv.withUnsafeBufferPointer { qp in
                        want.withUnsafeMutableBufferPointer {
                            Reference.attention(qkv: qp.baseAddress!, batch: batch, tokens: tokens, heads: heads,
                                                headDim: hd, out: $0.baseAddress!)
                        }
                    }
                    for kernel in AttentionKernel.allCases {
                        var got = [Float](repeating: .nan, count: batch * tokens * d)
                        qkv.withUnsafeBufferPointer { qp in
                            got.withUnsafeMutableBufferPointer {
                                Attention.forward(qkv: qp.baseAddress!, ldqkv: 3 * d, batch: batch, tokens: tokens,
                                                  heads: heads, headDim: hd, out: $0.baseAddress!, ldo: d, ctx: ctx,
                                                  kernel: kernel)
                            }
                        }
                        XCTAssertLessThanOrEqual(relativeError(got, want), 2e-6,
                                                 "\(isa) \(kernel) threads=\(threads) b=\(batch) n=\(tokens) h=\(heads) hd=\(hd)")
                    }
                }
            }
        }
    }

    /// A NaN in one key makes every query of its head NaN (it is in every row's sum), in
    /// either kernel and in any tile; the other heads stay finite.
    func testNaNKeyReachesItsHeadsOutput() {
        var rng = TestRNG(seed: 43)
        let (tokens, heads, hd) = (600, 2, 16)
        let d = heads * hd
        for isa in supportedISAs {
            let ctx = context(isa, threads: 2)
            for nanToken in [3, 300, 599] {
                var qkv = rng.normals(tokens * 3 * d)
                qkv[nanToken * 3 * d + d + 5] = .nan                    // head 0's key, element 5
                for kernel in [AttentionKernel.blocked, .tiled] {
                    var got = [Float](repeating: 0, count: tokens * d)
                    qkv.withUnsafeBufferPointer { qp in
                        got.withUnsafeMutableBufferPointer {
                            Attention.forward(qkv: qp.baseAddress!, ldqkv: 3 * d, batch: 1, tokens: tokens, heads: heads,
                                              headDim: hd, out: $0.baseAddress!, ldo: d, ctx: ctx, kernel: kernel)
                        }
                    }
                    let head0 = (0..<tokens).flatMap { t in (0..<hd).map { got[t * d + $0] } }
                    let head1 = (0..<tokens).flatMap { t in (0..<hd).map { got[t * d + hd + $0] } }
                    XCTAssertTrue(head0.allSatisfy(\.isNaN), "\(isa) \(kernel) NaN key at \(nanToken): head 0 has finite values")
                    XCTAssertTrue(head1.allSatisfy(\.isFinite), "\(isa) \(kernel) NaN key at \(nanToken): head 1 is not finite")
                }
            }
        }
    }

    /// `Attention.scratchBytes` is what `forward` then uses: a model reserves it up front and
    /// the forward allocates nothing (the scratch stays where it was), on either side of
    /// `tiledFromTokens` and with a last key tile nearly empty (1030 = 4·256 + 6 tokens).
    func testReservedScratchIsEnough() {
        var rng = TestRNG(seed: 44)
        for isa in supportedISAs {
            for (tokens, hd) in [(300, 64), (Attention.tiledFromTokens, 72), (1030, 72)] {
                let ctx = context(isa, threads: 2)
                ctx.reserveExtraScratch(bytes: Attention.scratchBytes(tokens: tokens, headDim: hd, isa: isa))
                let before = (0..<2).map { ctx.extraScratch(thread: $0) }
                let qkv = rng.normals(tokens * 3 * hd)
                var out = [Float](repeating: 0, count: tokens * hd)
                qkv.withUnsafeBufferPointer { qp in
                    out.withUnsafeMutableBufferPointer {
                        Attention.forward(qkv: qp.baseAddress!, ldqkv: 3 * hd, batch: 1, tokens: tokens, heads: 1,
                                          headDim: hd, out: $0.baseAddress!, ldo: hd, ctx: ctx)
                    }
                }
                XCTAssertEqual((0..<2).map { ctx.extraScratch(thread: $0) }, before,
                               "\(isa) n=\(tokens) hd=\(hd): the forward reallocated its scratch")
                XCTAssertTrue(out.allSatisfy(\.isFinite), "\(isa) n=\(tokens)")
            }
        }
    }
}
