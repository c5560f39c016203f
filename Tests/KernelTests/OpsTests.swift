import XCTest
import DyDiTKernels

/// Row-wise kernels of every ISA build against the scalar reference, on widths that leave
/// vector tails (odd sizes) and row counts that split unevenly over threads.
final class OpsTests: XCTestCase {
    static let widths = [1, 3, 8, 15, 16, 17, 33, 48, 64, 100, 384]

    func testLayerNormModulate() {
        var rng = TestRNG(seed: 3)
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            for threads in [1, 2] {
                let ctx = context(isa, threads: threads)
                for d in Self.widths {
                    let rowsPerGroup = rng.int(1...40)
                    let groups = rng.int(1...3)
                    let rows = rowsPerGroup * groups
                    let modStride = 3 * d
                    // Offset mean and spread so a one-pass variance would fail.
                    let x = rng.normals(rows * d, scale: 3).map { $0 + 50 }
                    let mod = rng.normals(groups * modStride)
                    var got = [Float](repeating: 0, count: rows * d), want = got
                    x.withUnsafeBufferPointer { xp in
                        mod.withUnsafeBufferPointer { mp in
                            let shift = mp.baseAddress!, scale = mp.baseAddress! + d
                            got.withUnsafeMutableBufferPointer {
                                Ops.layerNormModulate(xp.baseAddress!, into: $0.baseAddress!, rows: rows, d: d,
                                                      shift: shift, scale: scale, modStride: modStride,
                                                      rowsPerGroup: rowsPerGroup, ctx: ctx)
                            }
                            want.withUnsafeMutableBufferPointer {
                                Reference.layerNormModulate(xp.baseAddress!, $0.baseAddress!, rows: rows, d: d, eps: 1e-6,
                                                            shift: shift, scale: scale, modStride: modStride,
                                                            rowsPerGroup: rowsPerGroup)
                            }
                        }
                    }
                    // fp32 LayerNorm is only as good as its conditioning: rounding x and the mean
                    // costs ~ε·max|x| absolute, divided by the row's std. Bound each element by
                    // that condition number κ = max|x| / std (d = 1 normalises to exactly 0).
                    var bounds = [Double](repeating: 0, count: rows * d)
                    for r in 0..<rows {
                        let row = Array(x[(r * d)..<((r + 1) * d)])
                        let mean = row.reduce(0.0) { $0 + Double($1) } / Double(d)
                        let std = (row.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(d) + 1e-6).squareRoot()
                        let kappa = Double(row.reduce(0) { max($0, abs($1)) }) / std
                        let g = r / rowsPerGroup
                        for j in 0..<d {
                            let sc = Double(abs(1 + mod[g * modStride + d + j]))
                            bounds[r * d + j] = 8 * Double(Float.ulpOfOne) * (kappa * sc + abs(Double(want[r * d + j])) + 1)
                        }
                    }
                    assertWithinBounds(got, want, bounds: bounds, "\(isa) threads=\(threads) d=\(d)")
                }
            }
        }
    }

    func testSoftmaxRows() {
        var rng = TestRNG(seed: 4)
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            let ctx = context(isa, threads: 2)
            for cols in Self.widths {
                let rows = rng.int(1...70)
                let s = rng.normals(rows * cols, scale: 6)
                var got = s, want = s
                got.withUnsafeMutableBufferPointer { Ops.softmaxRows($0.baseAddress!, rows: rows, cols: cols, scale: 0.37, ctx: ctx) }
                want.withUnsafeMutableBufferPointer { Reference.softmaxRows($0.baseAddress!, rows: rows, cols: cols, scale: 0.37) }
                assertWithinBounds(got, want, bounds: want.map { 4e-6 * Double(max($0, 1e-3)) }, "\(isa) cols=\(cols)")
            }
        }
    }

    func testActivationsWithBias() {
        var rng = TestRNG(seed: 5)
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            let ctx = context(isa)
            for activation in [Activation.none, .gelu, .silu, .relu] {
                for cols in Self.widths {
                    let rows = rng.int(1...9)
                    // Wide range: saturation of tanh and of the exponential on both sides.
                    var x = rng.normals(rows * cols, scale: 8)
                    if x.count > 2 { x[0] = 90; x[1] = -90 }
                    let bias = rng.normals(cols)
                    var got = x
                    got.withUnsafeMutableBufferPointer { gp in
                        bias.withUnsafeBufferPointer { bp in
                            Ops.biasActivation(gp.baseAddress!, rows: rows, cols: cols, bias: bp.baseAddress!,
                                               activation: activation, ctx: ctx)
                        }
                    }
                    let want = x.indices.map { Reference.activate(x[$0] + bias[$0 % cols], activation) }
                    assertWithinBounds(got, want, bounds: want.map { 4e-7 * Double(max(1, abs($0))) }, "\(isa) \(activation) cols=\(cols)")
                }
            }
        }
    }

    func testGatedResidual() {
        var rng = TestRNG(seed: 6)
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            let ctx = context(isa, threads: 2)
            for d in Self.widths {
                let rowsPerGroup = rng.int(1...300), groups = 2, rows = rowsPerGroup * groups
                let h = rng.normals(rows * d), x = rng.normals(rows * d), gate = rng.normals(groups * 6 * d)
                var got = h, want = h
                x.withUnsafeBufferPointer { xp in
                    gate.withUnsafeBufferPointer { gp in
                        got.withUnsafeMutableBufferPointer {
                            Ops.gatedResidual($0.baseAddress!, adding: xp.baseAddress!, rows: rows, d: d,
                                              gate: gp.baseAddress! + 2 * d, gateStride: 6 * d,
                                              rowsPerGroup: rowsPerGroup, ctx: ctx)
                        }
                        want.withUnsafeMutableBufferPointer {
                            Reference.gatedResidual($0.baseAddress!, xp.baseAddress!, rows: rows, d: d,
                                                    gate: gp.baseAddress! + 2 * d, gateStride: 6 * d,
                                                    rowsPerGroup: rowsPerGroup)
                        }
                    }
                }
                XCTAssertLessThanOrEqual(relativeError(got, want), 1e-6, "\(isa) d=\(d)")
            }
        }
    }

    /// The token router's fused network against the double-precision reference: widths and
    /// hidden sizes that leave vector tails and padding, row counts that leave a short row
    /// tile and split unevenly over threads. Bounded by the worst case of summing d + H + 2
    /// products in fp32 (γ·Σ|terms|), which a wrong weight or row index exceeds by far.
    /// The sixteen-lane dot product against the Double reference on lengths around its
    /// 32- and 16-wide steps and the scalar tail, within fp32's bound for n products.
    func testDot() {
        var rng = TestRNG(seed: 22)
        for n in [0, 1, 7, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 100, 255, 256, 1000] {
            let a = rng.normals(n), b = rng.normals(n)
            let got = a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { Ops.dot(ap.baseAddress ?? UnsafePointer(bitPattern: 16)!, $0.baseAddress ?? UnsafePointer(bitPattern: 16)!, count: n) } }
            let want = Reference.dot(a, b)
            let bound = Float(n + 1) * Float.ulpOfOne * zip(a, b).reduce(Float(0)) { $0 + abs($1.0 * $1.1) }
            XCTAssertTrue(got.isFinite && abs(got - want) <= bound, "n=\(n): \(got) against \(want) (bound \(bound))")
        }
    }

    func testRouterLogits() {
        var rng = TestRNG(seed: 21)
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            for threads in [1, 2] {
                let ctx = context(isa, threads: threads)
                for (d, hidden) in [(1, 1), (3, 5), (16, 1), (17, 16), (33, 17), (256, 16), (384, 24), (100, 72)] {
                    for rows in [1, 2, 3, 5, 7, 130, 1001] {
                        let x = rng.normals(rows * d), w1 = rng.normals(hidden * d), b1 = rng.normals(hidden)
                        let w2 = rng.normals(hidden), b2 = rng.normals(1)[0]
                        let mlp = RouterMLP(w1: w1, b1: b1, w2: w2, b2: b2, inputs: d, hidden: hidden)
                        var got = [Float](repeating: .nan, count: rows)
                        x.withUnsafeBufferPointer { xp in
                            got.withUnsafeMutableBufferPointer { Ops.routerLogits(xp.baseAddress!, rows: rows, mlp, into: $0.baseAddress!, ctx: ctx) }
                        }
                        let want = Reference.routerLogits(x, rows: rows, d: d, w1: w1, b1: b1, w2: w2, b2: b2)
                        let bounds = (0..<rows).map { r -> Double in
                            var size = Double(abs(b2))
                            for j in 0..<hidden {
                                var s = Double(abs(b1[j]))
                                for k in 0..<d { s += Double(abs(x[r * d + k] * w1[j * d + k])) }
                                size += s * Double(abs(w2[j]))
                            }
                            return Double(d + hidden + 2) * Double(Float.ulpOfOne) * size
                        }
                        assertWithinBounds(got, want, bounds: bounds, "\(isa) threads=\(threads) d=\(d) hidden=\(hidden) rows=\(rows)")
                    }
                }
            }
        }
    }

    /// A non-finite input row gives a non-finite logit (the router's ReLU must not turn NaN
    /// into 0 and hide it), and only that row's.
    func testRouterLogitsKeepNaN() {
        var rng = TestRNG(seed: 22)
        for isa in supportedISAs {
            let d = 20, hidden = 3, rows = 6
            var x = rng.normals(rows * d)
            x[4 * d + 7] = .nan
            let w1 = rng.normals(hidden * d), b1 = [Float](repeating: 0, count: hidden), w2: [Float] = [1, 1, 1]
            let mlp = RouterMLP(w1: w1, b1: b1, w2: w2, b2: 0, inputs: d, hidden: hidden)
            var got = [Float](repeating: 0, count: rows)
            x.withUnsafeBufferPointer { xp in
                got.withUnsafeMutableBufferPointer { Ops.routerLogits(xp.baseAddress!, rows: rows, mlp, into: $0.baseAddress!, ctx: context(isa, threads: 1)) }
            }
            XCTAssertTrue(got[4].isNaN, "\(isa): row 4 has a NaN input, its logit is \(got[4])")
            XCTAssertTrue(got.enumerated().allSatisfy { $0.offset == 4 || $0.element.isFinite }, "\(isa): \(got)")
        }
    }

    func testAttention() {
        var rng = TestRNG(seed: 7)
        let cases = [(1, 1, 1, 1), (2, 5, 3, 7), (1, 16, 4, 16), (3, 49, 3, 16), (2, 64, 2, 64), (1, 130, 1, 20)]
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            for threads in [1, 2, 3] {
                let ctx = context(isa, threads: threads)
                for (batch, tokens, heads, hd) in cases {
                    let d = heads * hd
                    let qkv = rng.normals(batch * tokens * 3 * d)
                    var got = [Float](repeating: .nan, count: batch * tokens * d), want = got
                    qkv.withUnsafeBufferPointer { qp in
                        got.withUnsafeMutableBufferPointer {
                            Attention.forward(qkv: qp.baseAddress!, ldqkv: 3 * d, batch: batch, tokens: tokens,
                                              heads: heads, headDim: hd, out: $0.baseAddress!, ldo: d, ctx: ctx)
                        }
                        want.withUnsafeMutableBufferPointer {
                            Reference.attention(qkv: qp.baseAddress!, batch: batch, tokens: tokens, heads: heads,
                                                headDim: hd, out: $0.baseAddress!)
                        }
                    }
                    XCTAssertLessThanOrEqual(relativeError(got, want), 2e-6,
                                             "\(isa) threads=\(threads) b=\(batch) n=\(tokens) h=\(heads) hd=\(hd)")
                }
            }
        }
    }

    func testPatchesMatchIndexFormulas() {
        var rng = TestRNG(seed: 8)
        let (b, c, h, w, p) = (2, 3, 6, 10, 2)
        let x = rng.normals(b * c * h * w)
        let gh = h / p, gw = w / p, n = gh * gw
        var rows = [Float](repeating: 0, count: b * n * c * p * p)
        x.withUnsafeBufferPointer { xp in
            rows.withUnsafeMutableBufferPointer {
                Patches.extract(xp.baseAddress!, batch: b, channels: c, height: h, width: w, patch: p, into: $0.baseAddress!)
            }
        }
        for bi in 0..<b { for i in 0..<gh { for j in 0..<gw { for ci in 0..<c { for pq in 0..<p { for pk in 0..<p {
            let got = rows[((bi * gh + i) * gw + j) * c * p * p + (ci * p + pq) * p + pk]
            XCTAssertEqual(got, x[((bi * c + ci) * h + i * p + pq) * w + j * p + pk])
        } } } } } }
        var back = [Float](repeating: 0, count: x.count)
        let tokensOut = rng.normals(b * n * p * p * c)
        tokensOut.withUnsafeBufferPointer { tp in
            back.withUnsafeMutableBufferPointer {
                Patches.assemble(tp.baseAddress!, ld: p * p * c, batch: b, channels: c, height: h, width: w, patch: p,
                                 into: $0.baseAddress!)
            }
        }
        for bi in 0..<b { for i in 0..<gh { for j in 0..<gw { for ci in 0..<c { for pq in 0..<p { for pk in 0..<p {
            XCTAssertEqual(back[((bi * c + ci) * h + i * p + pq) * w + j * p + pk],
                           tokensOut[((bi * gh + i) * gw + j) * p * p * c + (pq * p + pk) * c + ci])
        } } } } } }
        // disassemble is assemble's inverse on whole images (each pixel in exactly one patch).
        var again = [Float](repeating: .nan, count: tokensOut.count)
        back.withUnsafeBufferPointer { bp in
            again.withUnsafeMutableBufferPointer {
                Patches.disassemble(bp.baseAddress!, batch: b, channels: c, height: h, width: w, patch: p,
                                    into: $0.baseAddress!, ld: p * p * c)
            }
        }
        XCTAssertEqual(again, tokensOut)
    }
}
