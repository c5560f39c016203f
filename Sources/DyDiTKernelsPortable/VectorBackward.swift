// Backward passes of the row-wise kernels, for training (shared template, compiled once per ISA).
// Each function works on rows of one sample, so the caller hands it that sample's modulation,
// masks and gradient accumulators, and per-sample sums keep a fixed order.

import DyDiTKernelABI

/// d GELU(x) / dx for the tanh form: `0.5·(1 + tanh u) + 0.5·x·(1 − tanh² u)·u'`,
/// `u = √(2/π)·(x + 0.044715·x³)`.
@inline(__always) func vgeluDerivative(_ x: V) -> V {
    let k = V(repeating: 0.7978845608028654), a = V(repeating: 0.044715)
    let x2 = x * x
    let t = vtanh(k * (x + a * x2 * x))
    let du = k * madd(V(repeating: 3) * a, x2, V(repeating: 1))
    let half = V(repeating: 0.5)
    return half * (V(repeating: 1) + t) + half * x * (V(repeating: 1) - t * t) * du
}

/// Calls `body(j, n)` for vector-sized column chunks `[j, j + n)` of a row of `count` values.
@inline(__always) func forChunks(_ count: Int, _ body: (Int, Int) -> Void) {
    let w = V.scalarCount
    var j = 0
    while j < count {
        body(j, min(w, count - j))
        j += w
    }
}

@inline(__always) func loadN(_ p: UnsafePointer<Float>, _ n: Int) -> V {
    n == V.scalarCount ? load(p) : loadPartial(p, n)
}

@inline(__always) func storeN(_ v: V, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
    if n == V.scalarCount { store(v, p) } else { storePartial(v, p, n) }
}

extension ISAKernels {
    /// Gradient of `y = LayerNorm(x)·(1 + scale) + shift` for `rows` rows of one sample:
    /// `dx = rstd·(g − mean(g) − x̂·mean(g·x̂))` with `g = dy·(1 + scale)` (added to `dx` when
    /// `accumulate`), `dShift += Σ dy`, `dScale += Σ dy·x̂`. Statistics are recomputed from x
    /// as the forward pass computes them.
    public static func layerNormModulateBackward(_ x: UnsafePointer<Float>, ldx: Int, _ dy: UnsafePointer<Float>, ldy: Int,
                                                 rows: Int, d: Int, eps: Float, scale: UnsafePointer<Float>?,
                                                 _ dx: UnsafeMutablePointer<Float>, lddx: Int, accumulate: Bool,
                                                 dShift: UnsafeMutablePointer<Float>?, dScale: UnsafeMutablePointer<Float>?) {
        let one = V(repeating: 1)
        let tailMask = laneMask(d % V.scalarCount)
        for r in 0..<rows {
            let src = x + r * ldx, grad = dy + r * ldy, out = dx + r * lddx
            let (mean, rstdValue) = rowStatistics(src, d: d, eps: eps, tailMask: tailMask)
            let vmean = V(repeating: mean), rstd = V(repeating: rstdValue)
            var sumG = V(), sumGX = V()
            forChunks(d) { j, n in
                let xhat = (loadN(src + j, n) - vmean) * rstd
                let g0 = loadN(grad + j, n)
                let g = scale.map { g0 * (one + loadN($0 + j, n)) } ?? g0
                sumG += g
                sumGX = madd(g, xhat, sumGX)
                if let dShift { storeN(loadN(dShift + j, n) + g0, dShift + j, n) }
                if let dScale { storeN(madd(g0, xhat, loadN(dScale + j, n)), dScale + j, n) }
            }
            let meanG = V(repeating: sumG.sum() / Float(d)), meanGX = V(repeating: sumGX.sum() / Float(d))
            forChunks(d) { j, n in
                let xhat = (loadN(src + j, n) - vmean) * rstd
                let g0 = loadN(grad + j, n)
                let g = scale.map { g0 * (one + loadN($0 + j, n)) } ?? g0
                var v = rstd * (g - meanG - xhat * meanGX)
                if accumulate { v += loadN(out + j, n) }
                storeN(v, out + j, n)
            }
        }
    }

    /// `dst = activation(m_g · src)` for `rows` rows of one sample whose `groups` column groups
    /// of `groupWidth` have masks `mask[g]` (all 1 when nil): DyDiT's masked fc1 output.
    public static func maskedActivation(_ src: UnsafePointer<Float>, ldsrc: Int, _ dst: UnsafeMutablePointer<Float>, lddst: Int,
                                        rows: Int, groupWidth: Int, groups: Int, mask: UnsafePointer<Float>?,
                                        activation: Activation) {
        for r in 0..<rows {
            for g in 0..<groups {
                let m = V(repeating: mask?[g] ?? 1)
                let s = src + r * ldsrc + g * groupWidth, o = dst + r * lddst + g * groupWidth
                forChunks(groupWidth) { j, n in storeN(vactivate(m * loadN(s + j, n), activation), o + j, n) }
            }
        }
    }

    /// Gradient of `a = GELU(m_g · pre)` (see `maskedActivation`): `dpre = da·GELU'(m·pre)·m`
    /// and, when `dMask` is given, `dMask[g] += Σ da·GELU'(m·pre)·pre`.
    public static func maskedGeluBackward(_ pre: UnsafePointer<Float>, ldpre: Int, _ da: UnsafePointer<Float>, ldda: Int,
                                          _ dpre: UnsafeMutablePointer<Float>, lddpre: Int, rows: Int, groupWidth: Int,
                                          groups: Int, mask: UnsafePointer<Float>?, dMask: UnsafeMutablePointer<Float>?) {
        for g in 0..<groups {
            let mv = mask?[g] ?? 1, m = V(repeating: mv)
            var acc = V()
            for r in 0..<rows {
                let p = pre + r * ldpre + g * groupWidth, a = da + r * ldda + g * groupWidth
                let o = dpre + r * lddpre + g * groupWidth
                forChunks(groupWidth) { j, n in
                    let x = loadN(p + j, n)
                    let t = loadN(a + j, n) * vgeluDerivative(m * x)
                    storeN(t * m, o + j, n)
                    acc = madd(t, x, acc)
                }
            }
            if let dMask { dMask[g] += acc.sum() }
        }
    }

    /// Gradient of `y = m_g · x` over column groups (DyDiT's head mask on the attention output),
    /// for `rows` rows of one sample: `dx = m·dy`, `dMask[g] += Σ dy·x`.
    public static func maskedColumnsBackward(_ dy: UnsafePointer<Float>, ldy: Int, _ x: UnsafePointer<Float>, ldx: Int,
                                             _ dx: UnsafeMutablePointer<Float>, lddx: Int, rows: Int, groupWidth: Int,
                                             groups: Int, mask: UnsafePointer<Float>, dMask: UnsafeMutablePointer<Float>) {
        for g in 0..<groups {
            let m = V(repeating: mask[g])
            var acc = V()
            for r in 0..<rows {
                let gy = dy + r * ldy + g * groupWidth, xs = x + r * ldx + g * groupWidth
                let o = dx + r * lddx + g * groupWidth
                forChunks(groupWidth) { j, n in
                    let v = loadN(gy + j, n)
                    storeN(v * m, o + j, n)
                    acc = madd(v, loadN(xs + j, n), acc)
                }
            }
            dMask[g] += acc.sum()
        }
    }

    /// Gradient of `h += m_r · gate ⊙ x` for `rows` rows of one sample: `dx = m_r·gate ⊙ dh`,
    /// `dGate += Σ_r m_r·dh ⊙ x`, and `dMask[r] = Σ_j gate·dh·x` when asked (the token mask).
    public static func gatedResidualBackward(_ dh: UnsafePointer<Float>, ldh: Int, _ x: UnsafePointer<Float>, ldx: Int,
                                             rows: Int, d: Int, gate: UnsafePointer<Float>, rowMask: UnsafePointer<Float>?,
                                             _ dx: UnsafeMutablePointer<Float>, lddx: Int, dGate: UnsafeMutablePointer<Float>,
                                             dMask: UnsafeMutablePointer<Float>?) {
        for r in 0..<rows {
            let mv = rowMask?[r] ?? 1, m = V(repeating: mv)
            let gh = dh + r * ldh, xs = x + r * ldx, o = dx + r * lddx
            var acc = V()
            forChunks(d) { j, n in
                let g = loadN(gate + j, n), v = loadN(gh + j, n)
                let t = v * loadN(xs + j, n)
                storeN(m * g * v, o + j, n)
                storeN(madd(m, t, loadN(dGate + j, n)), dGate + j, n)
                acc = madd(g, t, acc)
            }
            dMask?[r] = acc.sum()
        }
    }

    /// Gradient of a row-wise `softmax(scale·s)` given its output `p`, in place on `dp`:
    /// `ds = scale·p ⊙ (dp − Σ_j p·dp)`.
    public static func softmaxBackwardRows(_ p: UnsafePointer<Float>, ldp: Int, _ dp: UnsafeMutablePointer<Float>, lddp: Int,
                                           rows: Int, cols: Int, scale: Float) {
        let vscale = V(repeating: scale)
        for r in 0..<rows {
            let pr = p + r * ldp, dr = dp + r * lddp
            var acc = V()
            forChunks(cols) { j, n in acc = madd(loadN(pr + j, n), loadN(dr + j, n), acc) }
            let dot = V(repeating: acc.sum())
            forChunks(cols) { j, n in storeN(vscale * loadN(pr + j, n) * (loadN(dr + j, n) - dot), dr + j, n) }
        }
    }

    /// `sums[j] += Σ_r x[r, j]` for `rows` rows of `cols` columns (bias gradients), rows in order.
    public static func addColumnSums(_ x: UnsafePointer<Float>, ld: Int, rows: Int, cols: Int,
                                     into sums: UnsafeMutablePointer<Float>) {
        forChunks(cols) { j, n in
            var acc = loadN(sums + j, n)
            for r in 0..<rows { acc += loadN(x + r * ld + j, n) }
            storeN(acc, sums + j, n)
        }
    }
}
