import XCTest
import DyDiTKernels

/// Every ISA build of the SGEMM against the scalar reference, on random shapes chosen to
/// hit partial register tiles (M, N not multiples of mr, nr), several K blocks, every operand
/// layout (fp16 panels against the reference on the same half-rounded weights) and every
/// epilogue.
final class GemmTests: XCTestCase {
    /// Shapes (m, n, k): single elements, odd tails, exact tiles, more than one K/row block.
    static let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (1, 7, 3), (5, 1, 9), (6, 16, 8), (7, 17, 13), (6, 64, 128), (13, 65, 129),
        (31, 100, 257), (150, 70, 300), (145, 129, 513), (2, 300, 64), (300, 3, 40),
        // Last panels of 16, 24, 32 and 48 columns: the AVX-512 build's narrow edge tiles.
        (12, 80, 70), (7, 88, 33), (6, 32, 20), (19, 112, 17),
        // One or two rows over several K blocks, odd panel counts, a partial last panel: the
        // two-row paths (adaLN at batch 1–2).
        (2, 100, 600), (1, 45, 300), (2, 16, 513),
    ]

    /// Elementwise bound for a K-term fp32 dot product against a Double reference:
    /// |c − ref| ≤ 4·K·ε·Σ|a·b| plus the rounding of bias, C and the activation.
    func check(_ got: [Float], _ want: [Float], bound: [Float], _ label: String) {
        assertWithinBounds(got, want, bounds: zip(bound, want).map { Double($0 + 4 * Float.ulpOfOne * abs($1) + 1e-30) }, label)
    }

    func testAgainstReferenceAllLayoutsAndEpilogues() {
        var rng = TestRNG(seed: 1)
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            let ctx = context(isa)
            for (m, n, k) in Self.shapes {
                for layout in [RightOperandLayout.packed, .packedHalf, .rowsNK, .rowsKN] {
                    let aTransposed = rng.int(0...1) == 1
                    let accumulate = rng.int(0...1) == 1
                    let activation = Activation(rawValue: Int32(rng.int(0...3)))!
                    let useBias = rng.int(0...1) == 1
                    let a = rng.normals(m * k)
                    let drawn = rng.normals(n * k)
                    // fp16 panels hold the weights rounded to half: the reference takes the same values.
                    let b = layout == .packedHalf ? drawn.map { Float(Float16($0)) } : drawn
                    let bias = rng.normals(n)
                    let c0 = rng.normals(m * n)
                    let label = "\(isa) m=\(m) n=\(n) k=\(k) \(layout) aT=\(aTransposed) acc=\(accumulate) \(activation) bias=\(useBias)"
                    var got = c0, want = c0
                    // Bound from the pre-activation magnitude; both activations are 1-Lipschitz-ish (≤ 1.13).
                    var bound = [Float](repeating: 0, count: m * n)
                    for i in 0..<m {
                        for j in 0..<n {
                            var s: Float = 0
                            for kk in 0..<k {
                                let av = aTransposed ? a[kk * m + i] : a[i * k + kk]
                                let bv = layout == .rowsKN ? b[kk * n + j] : b[j * k + kk]
                                s += abs(av * bv)
                            }
                            let extra = (accumulate ? abs(c0[i * n + j]) : 0) + (useBias ? abs(bias[j]) : 0)
                            bound[i * n + j] = 1.2 * (4 * Float(k + 2) * Float.ulpOfOne * (s + extra)) + 1e-6
                        }
                    }
                    let packed = layout.isPacked
                        ? PackedMatrix.packing(drawn, n: n, k: k, isa: isa, precision: layout == .packedHalf ? .fp16 : .fp32) : nil
                    a.withUnsafeBufferPointer { ap in
                        b.withUnsafeBufferPointer { bp in
                            bias.withUnsafeBufferPointer { biasp in
                                let ldb = layout == .rowsKN ? n : k
                                let refOps = { (c: UnsafeMutablePointer<Float>) in
                                    GemmOperands(m: m, n: n, k: k, a: ap.baseAddress!, lda: aTransposed ? m : k,
                                                 aTransposed: aTransposed, b: bp.baseAddress!, ldb: ldb,
                                                 bLayout: layout.isPacked ? .rowsNK : layout, c: c, ldc: n,
                                                 accumulate: accumulate, bias: useBias ? biasp.baseAddress! : nil,
                                                 activation: activation)
                                }
                                want.withUnsafeMutableBufferPointer { Reference.gemm(refOps($0.baseAddress!)) }
                                got.withUnsafeMutableBufferPointer { cp in
                                    var ops = refOps(cp.baseAddress!)
                                    if let packed { (ops.b, ops.bLayout) = packed.operand }
                                    Gemm.run(ops, ctx: ctx)
                                }
                            }
                        }
                    }
                    check(got, want, bound: bound, label)
                }
            }
        }
    }

    /// The split into tasks must not change a single bit: 1, 2 and 3 threads agree exactly.
    func testBitIdenticalAcrossThreadCounts() {
        var rng = TestRNG(seed: 2)
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            let (m, n, k) = (301, 397, 611)
            let a = rng.normals(m * k), w = rng.normals(n * k), bias = rng.normals(n)
            let packed = PackedMatrix.packing(w, n: n, k: k, isa: isa)
            var outputs: [[Float]] = []
            for threads in [1, 2, 3] {
                let ctx = context(isa, threads: threads)
                var c = [Float](repeating: 0, count: m * n)
                a.withUnsafeBufferPointer { ap in
                    bias.withUnsafeBufferPointer { bp in
                        c.withUnsafeMutableBufferPointer { cp in
                            Gemm.linear(ap.baseAddress!, rows: m, weight: packed, bias: bp.baseAddress!,
                                        out: cp.baseAddress!, activation: .gelu, ctx: ctx)
                        }
                    }
                }
                outputs.append(c)
            }
            XCTAssertEqual(outputs[0], outputs[1], "\(isa): 1 vs 2 threads")
            XCTAssertEqual(outputs[0], outputs[2], "\(isa): 1 vs 3 threads")
        }
    }

    /// Packing a right operand moves values, so it must be exact: every panel element is its
    /// source element and every padding column is zero. Shapes cover whole register-transpose
    /// blocks (8 × 8 on AVX2, 16 × 16 on AVX-512), K and column tails, a partial last panel and
    /// rows wider than K (attention's keys sit `ld` = 3·d floats apart in the qkv rows).
    func testPackedRightOperandIsExactInEveryLayout() {
        var rng = TestRNG(seed: 5)
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            let kernels = Dispatch.kernels(isa), nr = kernels.nr
            for (n, k, pad) in [(256, 64, 1088), (64, 72, 0), (16, 16, 3), (79, 37, 5), (8, 9, 0), (3, 100, 1), (130, 17, 0)] {
                for layout in [RightOperandLayout.rowsNK, .rowsKN] {
                    // Row-major source: n rows of k (rowsNK) or k rows of n (rowsKN), each `ld` apart.
                    let (rows, width) = layout == .rowsNK ? (n, k) : (k, n)
                    let ld = width + pad
                    let src = (0..<(rows * ld)).map { _ in rng.normal() }
                    let panels = (n + nr - 1) / nr
                    var dst = [Float](repeating: .nan, count: kernels.packedWeightCount(n: n, k: k))
                    src.withUnsafeBufferPointer { sp in
                        dst.withUnsafeMutableBufferPointer {
                            kernels.packRightOperand(sp.baseAddress!, layout: layout, n: n, k: k, ld: ld, into: $0.baseAddress!)
                        }
                    }
                    var mismatches = 0
                    for p in 0..<panels {
                        for kk in 0..<k {
                            for c in 0..<nr {
                                let j = p * nr + c
                                let want: Float = j >= n ? 0 : layout == .rowsNK ? src[j * ld + kk] : src[kk * ld + j]
                                let got = dst[(p * k + kk) * nr + c]
                                if got.bitPattern != want.bitPattern { mismatches += 1 }
                            }
                        }
                    }
                    XCTAssertEqual(mismatches, 0, "\(isa) \(layout) n=\(n) k=\(k) ld=\(ld): packed elements differ from their source")
                }
            }
        }
    }

    /// A product of one or two rows (the two-row paths, 2 × 64 on AVX-512) gives those rows exactly as
    /// they come out of a taller product (the blocked path): same K blocks, same sums, same
    /// epilogue — fp32 and fp16 panels, accumulating or not, on 1 and 2 threads (2 threads give
    /// each task single panels, 1 thread panel pairs and a partial last panel).
    func testOneOrTwoRowsMatchTheBlockedPathExactly() {
        var rng = TestRNG(seed: 4)
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        let (m, n, k) = (14, 100, 600)
        let a = rng.normals(m * k), w = rng.normals(n * k), bias = rng.normals(n), c0 = rng.normals(m * n)
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            for precision in [WeightPrecision.fp32, .fp16] {
                let packed = PackedMatrix.packing(w, n: n, k: k, isa: isa, precision: precision)
                for (accumulate, activation) in [(false, Activation.gelu), (true, Activation.none)] {
                    for threads in [1, 2] {
                        let ctx = context(isa, threads: threads)
                        // `rows` rows of A from row `first`, into the same rows of C.
                        func product(first: Int, rows: Int) -> [Float] {
                            var c = c0
                            a.withUnsafeBufferPointer { ap in bias.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                                let (b, layout) = packed.operand
                                Gemm.run(GemmOperands(m: rows, n: n, k: k, a: ap.baseAddress! + first * k, lda: k, b: b, ldb: k,
                                                      bLayout: layout, c: cp.baseAddress! + first * n, ldc: n,
                                                      accumulate: accumulate, bias: bp.baseAddress!, activation: activation),
                                         ctx: ctx)
                            } } }
                            return c
                        }
                        let tall = product(first: 0, rows: m)
                        XCTAssertFalse(tall.contains { !$0.isFinite }, "\(isa): the taller product is finite")
                        for (first, rows) in [(0, 2), (5, 1), (12, 2)] {
                            let few = product(first: first, rows: rows)
                            let span = (first * n)..<((first + rows) * n)
                            XCTAssertEqual(Array(few[span]), Array(tall[span]),
                                           "\(isa) \(precision) acc=\(accumulate) \(threads) threads: rows \(first)..<\(first + rows)")
                        }
                    }
                }
            }
        }
    }

    /// Weights over `Gemm.cachedWeightBytes` (8 MB: DiT-XL's 16–21 MB layers) are split by
    /// columns only, each task taking every row: that split, on 2 and 3 threads, against the
    /// scalar reference, with M over one row block (so the other split would cut rows) and
    /// N not a whole number of panels.
    func testWeightsOverCacheSizeSplitByColumns() {
        var rng = TestRNG(seed: 3)
        let (m, n, k) = (150, 1043, 2011)
        XCTAssertGreaterThan(n * k * MemoryLayout<Float>.stride, Gemm.cachedWeightBytes, "the weight must stream")
        let a = rng.normals(m * k), w = rng.normals(n * k), bias = rng.normals(n)
        var want = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { ap in w.withUnsafeBufferPointer { wp in bias.withUnsafeBufferPointer { bp in
            want.withUnsafeMutableBufferPointer { cp in
                Reference.gemm(GemmOperands(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: wp.baseAddress!, ldb: k,
                                            bLayout: .rowsNK, c: cp.baseAddress!, ldc: n, bias: bp.baseAddress!))
            }
        } } }
        // |a·b| sums to about K·(2/π) for unit Gaussians; the bound uses each element's own sum.
        var bound = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for kk in 0..<k { s += abs(a[i * k + kk] * w[j * k + kk]) }
                bound[i * n + j] = 1.2 * (4 * Float(k + 2) * Float.ulpOfOne * (s + abs(bias[j]))) + 1e-6
            }
        }
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            let packed = PackedMatrix.packing(w, n: n, k: k, isa: isa)
            for threads in [2, 3] {
                var got = [Float](repeating: .nan, count: m * n)
                a.withUnsafeBufferPointer { ap in bias.withUnsafeBufferPointer { bp in got.withUnsafeMutableBufferPointer { cp in
                    Gemm.linear(ap.baseAddress!, rows: m, weight: packed, bias: bp.baseAddress!, out: cp.baseAddress!,
                                ctx: context(isa, threads: threads))
                } } }
                check(got, want, bound: bound, "\(isa) \(threads) threads, \((n * k * 4) >> 20) MB of weights")
            }
        }
    }

    /// `Gemm.run`'s tasks come in whole shares per thread wherever the panels allow it: nine
    /// tasks on two threads (three row blocks, DyDiT's MLP on ~300 gathered rows) left one
    /// thread a task more than the other, the product waiting for it. Every row and panel is
    /// still covered.
    func testTaskGridGivesEveryThreadWholeShares() {
        for isa in supportedISAs {
            let (mr, nr) = (Dispatch.tile(isa).mr, Dispatch.tile(isa).nr)
            for threads in [2, 3, 4] {
                for m in [1, 7, 144, 145, 301, 307, 433, 512, 1000, 32000] {
                    for (n, k) in [(16, 384), (48, 384), (384, 768), (768, 384), (1152, 384), (4608, 1152)] {
                        let g = Gemm.taskGrid(m: m, n: n, k: k, isa: isa, threads: threads)
                        let panels = (n + nr - 1) / nr, at = "\(isa) \(threads) threads, \(m)×\(n)×\(k)"
                        XCTAssertTrue(g.colChunks >= 1 && g.colChunks <= panels, at)
                        XCTAssertTrue(g.rowsPerBlock % mr == 0 && g.rowBlocks * g.rowsPerBlock >= m, at)
                        if g.colChunks < panels {
                            XCTAssertEqual((g.rowBlocks * g.colChunks) % threads, 0, "\(at): \(g.rowBlocks) × \(g.colChunks) tasks")
                        }
                    }
                }
            }
        }
    }

    /// K = 0 is an empty sum: C becomes bias (or keeps C when accumulating).
    func testEmptyK() {
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            let ctx = context(isa)
            var c: [Float] = [1, 2, 3, 4, 5, 6]
            let bias: [Float] = [10, 20, 30]
            let dummy: [Float] = [0]
            dummy.withUnsafeBufferPointer { d in
                bias.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        Gemm.run(GemmOperands(m: 2, n: 3, k: 0, a: d.baseAddress!, lda: 1, b: d.baseAddress!, ldb: 1,
                                              bLayout: .rowsNK, c: cp.baseAddress!, ldc: 3, accumulate: true,
                                              bias: bp.baseAddress!), ctx: ctx)
                    }
                }
            }
            XCTAssertEqual(c, [11, 22, 33, 14, 25, 36], "\(isa)")
        }
    }
}
