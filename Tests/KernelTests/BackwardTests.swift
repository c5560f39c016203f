import XCTest
import DyDiTKernels

/// Training kernels of every ISA build against the scalar references, on widths with
/// vector tails and batches that split over threads (or not).
final class BackwardTests: XCTestCase {
    static let widths = [1, 3, 8, 15, 16, 17, 33, 64, 100, 384]

    func testLayerNormModulateBackward() {
        var rng = TestRNG(seed: 31)
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            for threads in [1, 2] {
                let ctx = context(isa, threads: threads)
                for d in Self.widths where d > 1 {
                    let batch = rng.int(1...4), n = rng.int(1...40), rows = batch * n, modStride = 3 * d
                    let x = rng.normals(rows * d, scale: 2).map { $0 + 3 }, dy = rng.normals(rows * d)
                    let mod = rng.normals(batch * modStride, scale: 0.5)
                    let start = rng.normals(rows * d)
                    var dx = start, dShift = [Float](repeating: 0.25, count: batch * d), dScale = dShift
                    var rdx = dx, rShift = dShift, rScale = dScale
                    x.withUnsafeBufferPointer { xp in dy.withUnsafeBufferPointer { gp in mod.withUnsafeBufferPointer { mp in
                        dx.withUnsafeMutableBufferPointer { dxp in dShift.withUnsafeMutableBufferPointer { sp in
                            dScale.withUnsafeMutableBufferPointer { cp in
                                Backward.layerNormModulate(x: xp.baseAddress!, dy: gp.baseAddress!, batch: batch, rowsPerSample: n,
                                                           d: d, scale: mp.baseAddress! + d, modStride: modStride,
                                                           dx: dxp.baseAddress!, accumulate: true, dShift: sp.baseAddress!,
                                                           dScale: cp.baseAddress!, dModStride: d, ctx: ctx)
                            }
                        } }
                    } } }
                    Reference.layerNormModulateBackward(x: x, dy: dy, batch: batch, rowsPerSample: n, d: d,
                                                        scale: Array(mod[d...]),
                                                        modStride: modStride, dx: &rdx, dShift: &rShift, dScale: &rScale)
                    let label = "\(isa) threads=\(threads) d=\(d) batch=\(batch) n=\(n)"
                    XCTAssertLessThanOrEqual(relativeError(dx, zip(rdx, start).map { $0 + $1 }), 1e-5, "dx " + label)
                    XCTAssertLessThanOrEqual(relativeError(dShift, rShift), 1e-5, "dShift " + label)
                    XCTAssertLessThanOrEqual(relativeError(dScale, rScale), 1e-5, "dScale " + label)
                }
            }
        }
    }

    func testMaskedGeluForwardAndBackward() {
        var rng = TestRNG(seed: 32)
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            let ctx = context(isa, threads: 2)
            for groupWidth in Self.widths {
                let batch = rng.int(1...3), n = rng.int(1...20), groups = rng.int(1...4), cols = groupWidth * groups
                let pre = rng.normals(batch * n * cols, scale: 3), da = rng.normals(batch * n * cols)
                let mask = (0..<(batch * groups)).map { _ in Float(rng.int(0...1)) }
                var act = [Float](repeating: .nan, count: pre.count), dpre = act
                var dMask = [Float](repeating: 0, count: batch * groups)
                pre.withUnsafeBufferPointer { pp in da.withUnsafeBufferPointer { ap in mask.withUnsafeBufferPointer { mp in
                    act.withUnsafeMutableBufferPointer {
                        Ops.maskedActivation(pp.baseAddress!, into: $0.baseAddress!, batch: batch, rowsPerSample: n,
                                                  cols: cols, groups: groups, mask: mp.baseAddress!, maskStride: groups,
                                                  activation: .gelu, ctx: ctx)
                    }
                    dpre.withUnsafeMutableBufferPointer { dp in dMask.withUnsafeMutableBufferPointer { mg in
                        Backward.maskedGelu(pre: pp.baseAddress!, da: ap.baseAddress!, dpre: dp.baseAddress!, batch: batch,
                                            rowsPerSample: n, cols: cols, groups: groups, mask: mp.baseAddress!,
                                            maskStride: groups, dMask: mg.baseAddress!, ctx: ctx)
                    } }
                } } }
                let wantAct = pre.indices.map { i -> Float in
                    let b = i / (n * cols), g = (i % cols) / groupWidth
                    return Reference.gelu(mask[b * groups + g] * pre[i])
                }
                var wantDpre = dpre, wantMask = dMask
                Reference.maskedGeluBackward(pre: pre, da: da, batch: batch, rowsPerSample: n, cols: cols, groups: groups,
                                             mask: mask, dpre: &wantDpre, dMask: &wantMask)
                let label = "\(isa) groupWidth=\(groupWidth) groups=\(groups)"
                XCTAssertLessThanOrEqual(relativeError(act, wantAct), 1e-6, "act " + label)
                XCTAssertLessThanOrEqual(relativeError(dpre, wantDpre), 1e-5, "dpre " + label)
                XCTAssertLessThanOrEqual(relativeError(dMask, wantMask), 1e-5, "dMask " + label)
            }
        }
    }

    func testMaskedColumnsAndGatedResidualBackward() {
        var rng = TestRNG(seed: 33)
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            let ctx = context(isa, threads: 2)
            for groupWidth in Self.widths {
                let batch = rng.int(1...3), n = rng.int(1...30), groups = rng.int(1...4), d = groupWidth * groups
                let dy = rng.normals(batch * n * d), x = rng.normals(batch * n * d)
                let mask = (0..<(batch * groups)).map { _ in Float(rng.int(0...1)) }
                let gate = rng.normals(batch * 6 * d), rowMask = (0..<(batch * n)).map { _ in Float(rng.int(0...1)) }
                var dx = [Float](repeating: .nan, count: dy.count), dMask = [Float](repeating: 0, count: batch * groups)
                var gdx = dx, dGate = [Float](repeating: 0, count: batch * d), dRow = [Float](repeating: .nan, count: batch * n)
                dy.withUnsafeBufferPointer { yp in x.withUnsafeBufferPointer { xp in
                    mask.withUnsafeBufferPointer { mp in dx.withUnsafeMutableBufferPointer { dp in dMask.withUnsafeMutableBufferPointer { mg in
                        Backward.maskedColumns(dy: yp.baseAddress!, x: xp.baseAddress!, dx: dp.baseAddress!, batch: batch,
                                               rowsPerSample: n, cols: d, groups: groups, mask: mp.baseAddress!,
                                               maskStride: groups, dMask: mg.baseAddress!, ctx: ctx)
                    } } }
                    gate.withUnsafeBufferPointer { gp in rowMask.withUnsafeBufferPointer { rp in
                        gdx.withUnsafeMutableBufferPointer { dp in dGate.withUnsafeMutableBufferPointer { gg in
                            dRow.withUnsafeMutableBufferPointer { rg in
                                Backward.gatedResidual(dh: yp.baseAddress!, x: xp.baseAddress!, batch: batch, rowsPerSample: n,
                                                       d: d, gate: gp.baseAddress! + 5 * d, gateStride: 6 * d,
                                                       rowMask: rp.baseAddress!, dx: dp.baseAddress!, dGate: gg.baseAddress!,
                                                       dGateStride: d, dMask: rg.baseAddress!, ctx: ctx)
                            }
                        } }
                    } }
                } }
                var wdx = dx, wMask = dMask, wgdx = gdx, wGate = dGate, wRow = dRow
                Reference.maskedColumnsBackward(dy: dy, x: x, batch: batch, rowsPerSample: n, cols: d, groups: groups,
                                                mask: mask, dx: &wdx, dMask: &wMask)
                let gates = (0..<(batch * d)).map { gate[($0 / d) * 6 * d + 5 * d + $0 % d] }
                Reference.gatedResidualBackward(dh: dy, x: x, batch: batch, rowsPerSample: n, d: d, gate: gates,
                                                rowMask: rowMask, dx: &wgdx, dGate: &wGate, dMask: &wRow)
                let label = "\(isa) groupWidth=\(groupWidth) groups=\(groups) batch=\(batch) n=\(n)"
                XCTAssertLessThanOrEqual(relativeError(dx, wdx), 1e-6, "masked dx " + label)
                XCTAssertLessThanOrEqual(relativeError(dMask, wMask), 1e-5, "masked dMask " + label)
                XCTAssertLessThanOrEqual(relativeError(gdx, wgdx), 1e-6, "residual dx " + label)
                XCTAssertLessThanOrEqual(relativeError(dGate, wGate), 1e-5, "residual dGate " + label)
                XCTAssertLessThanOrEqual(relativeError(dRow, wRow), 1e-5, "residual dMask " + label)
            }
        }
    }

    func testColumnSums() {
        var rng = TestRNG(seed: 34)
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            let ctx = context(isa, threads: 2)
            for cols in Self.widths + [129, 1536] {
                let rows = rng.int(1...300)
                let x = rng.normals(rows * cols), start = rng.normals(cols)
                var got = start
                x.withUnsafeBufferPointer { xp in
                    got.withUnsafeMutableBufferPointer { Backward.addColumnSums(xp.baseAddress!, rows: rows, cols: cols, into: $0.baseAddress!, ctx: ctx) }
                }
                // A float sum in row order is off by at most rows·ε·Σ|terms| (cancellation can make
                // that large relative to the sum itself, so bound each column by its own terms).
                var want = [Double](repeating: 0, count: cols), bounds = want
                for j in 0..<cols {
                    let terms = [Double(start[j])] + (0..<rows).map { Double(x[$0 * cols + j]) }
                    want[j] = terms.reduce(0, +)
                    bounds[j] = Double(rows + 1) * Double(Float.ulpOfOne) * terms.reduce(0) { $0 + abs($1) }
                }
                assertWithinBounds(got, want, bounds: bounds, "\(isa) cols=\(cols) rows=\(rows)")
            }
        }
    }

    func testAttentionForwardKeepsProbabilitiesAndBackwardMatches() {
        var rng = TestRNG(seed: 35)
        let cases = [(1, 1, 1, 1), (2, 5, 3, 7), (1, 16, 4, 16), (3, 49, 3, 16), (2, 64, 2, 33)]
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        for isa in supportedISAs {
            coverage.ran(isa.rawValue)
            for threads in [1, 2] {
                let ctx = context(isa, threads: threads)
                for (batch, tokens, heads, hd) in cases {
                    let d = heads * hd, rows = batch * tokens
                    let qkv = rng.normals(rows * 3 * d), dOut = rng.normals(rows * d)
                    var out = [Float](repeating: .nan, count: rows * d), want = out
                    var probs = [Float](repeating: .nan, count: Attention.probabilityCount(batch: batch, tokens: tokens, heads: heads))
                    var dqkv = [Float](repeating: .nan, count: qkv.count)
                    qkv.withUnsafeBufferPointer { qp in
                        probs.withUnsafeMutableBufferPointer { pp in
                            out.withUnsafeMutableBufferPointer {
                                Attention.forwardKeepingProbabilities(qkv: qp.baseAddress!, ldqkv: 3 * d, batch: batch, tokens: tokens,
                                                                      heads: heads, headDim: hd, probabilities: pp.baseAddress!,
                                                                      out: $0.baseAddress!, ldo: d, ctx: ctx)
                            }
                            dOut.withUnsafeBufferPointer { gp in dqkv.withUnsafeMutableBufferPointer {
                                Attention.backward(qkv: qp.baseAddress!, ldqkv: 3 * d, probabilities: pp.baseAddress!,
                                                   dOut: gp.baseAddress!, lddo: d, batch: batch, tokens: tokens, heads: heads,
                                                   headDim: hd, dqkv: $0.baseAddress!, lddqkv: 3 * d, ctx: ctx)
                            } }
                        }
                        want.withUnsafeMutableBufferPointer {
                            Reference.attention(qkv: qp.baseAddress!, batch: batch, tokens: tokens, heads: heads, headDim: hd,
                                                out: $0.baseAddress!)
                        }
                    }
                    let wantGrad = Reference.attentionBackward(qkv: qkv, dOut: dOut, batch: batch, tokens: tokens, heads: heads, headDim: hd)
                    let label = "\(isa) threads=\(threads) b=\(batch) n=\(tokens) h=\(heads) hd=\(hd)"
                    XCTAssertLessThanOrEqual(relativeError(out, want), 2e-6, "out " + label)
                    XCTAssertLessThanOrEqual(relativeError(dqkv, wantGrad), 1e-5, "dqkv " + label)
                }
            }
        }
    }
}
