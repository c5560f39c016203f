#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Scalar references of the training kernels (`Backward`, `Attention.backward`), in Double,
/// written from the calculus rather than from the optimised code.
extension Reference {
    public static func geluDerivative(_ x: Double) -> Double {
        let k = 0.7978845608028654, a = 0.044715
        let t = tanh(k * (x + a * x * x * x))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * a * x * x)
    }

    /// See `Backward.layerNormModulate`; `dx` is overwritten.
    public static func layerNormModulateBackward(x: [Float], dy: [Float], batch: Int, rowsPerSample n: Int, d: Int,
                                                 eps: Double = 1e-6, scale: [Float], modStride: Int,
                                                 dx: inout [Float], dShift: inout [Float], dScale: inout [Float]) {
        for r in 0..<(batch * n) {
            let b = r / n
            let row = (0..<d).map { Double(x[r * d + $0]) }
            let mean = row.reduce(0, +) / Double(d)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d)
            let rstd = 1 / (variance + eps).squareRoot()
            let xhat = row.map { ($0 - mean) * rstd }
            let g = (0..<d).map { Double(dy[r * d + $0]) * (1 + Double(scale[b * modStride + $0])) }
            let meanG = g.reduce(0, +) / Double(d)
            let meanGX = zip(g, xhat).reduce(0) { $0 + $1.0 * $1.1 } / Double(d)
            for j in 0..<d {
                dx[r * d + j] = Float(rstd * (g[j] - meanG - xhat[j] * meanGX))
                dShift[b * d + j] += dy[r * d + j]
                dScale[b * d + j] += Float(Double(dy[r * d + j]) * xhat[j])
            }
        }
    }

    /// See `Backward.maskedGelu`; `dMask` is `[batch, groups]`.
    public static func maskedGeluBackward(pre: [Float], da: [Float], batch: Int, rowsPerSample n: Int, cols: Int,
                                          groups: Int, mask: [Float], dpre: inout [Float], dMask: inout [Float]) {
        let gw = cols / groups
        var sums = [Double](repeating: 0, count: batch * groups)
        for r in 0..<(batch * n) {
            let b = r / n
            for j in 0..<cols {
                let m = Double(mask[b * groups + j / gw]), x = Double(pre[r * cols + j])
                let t = Double(da[r * cols + j]) * geluDerivative(m * x)
                dpre[r * cols + j] = Float(t * m)
                sums[b * groups + j / gw] += t * x
            }
        }
        dMask = sums.map { Float($0) }
    }

    /// See `Backward.maskedColumns`.
    public static func maskedColumnsBackward(dy: [Float], x: [Float], batch: Int, rowsPerSample n: Int, cols: Int,
                                             groups: Int, mask: [Float], dx: inout [Float], dMask: inout [Float]) {
        let gw = cols / groups
        var sums = [Double](repeating: 0, count: batch * groups)
        for r in 0..<(batch * n) {
            let b = r / n
            for j in 0..<cols {
                dx[r * cols + j] = dy[r * cols + j] * mask[b * groups + j / gw]
                sums[b * groups + j / gw] += Double(dy[r * cols + j]) * Double(x[r * cols + j])
            }
        }
        dMask = sums.map { Float($0) }
    }

    /// See `Backward.gatedResidual`; `dGate` is `[batch, d]`, `dMask` `[rows]`.
    public static func gatedResidualBackward(dh: [Float], x: [Float], batch: Int, rowsPerSample n: Int, d: Int, gate: [Float],
                                             rowMask: [Float]?, dx: inout [Float], dGate: inout [Float], dMask: inout [Float]) {
        var sums = [Double](repeating: 0, count: batch * d)
        for r in 0..<(batch * n) {
            let b = r / n, m = Double(rowMask?[r] ?? 1)
            var acc = 0.0
            for j in 0..<d {
                let g = Double(gate[b * d + j]), v = Double(dh[r * d + j]), xv = Double(x[r * d + j])
                dx[r * d + j] = Float(m * g * v)
                sums[b * d + j] += m * v * xv
                acc += g * v * xv
            }
            dMask[r] = Float(acc)
        }
        dGate = sums.map { Float($0) }
    }

    /// Gradient of `Reference.attention` with respect to `qkv` (same layout).
    public static func attentionBackward(qkv: [Float], dOut: [Float], batch: Int, tokens: Int, heads: Int,
                                         headDim: Int) -> [Float] {
        let d = heads * headDim, scale = 1 / Double(headDim).squareRoot()
        var dqkv = [Double](repeating: 0, count: qkv.count)
        func at(_ b: Int, _ i: Int, _ part: Int, _ h: Int, _ e: Int) -> Int { (b * tokens + i) * 3 * d + part * d + h * headDim + e }
        for b in 0..<batch {
            for h in 0..<heads {
                var p = [[Double]](repeating: [Double](repeating: 0, count: tokens), count: tokens)
                for i in 0..<tokens {
                    var s = (0..<tokens).map { j in
                        (0..<headDim).reduce(0.0) { $0 + Double(qkv[at(b, i, 0, h, $1)]) * Double(qkv[at(b, j, 1, h, $1)]) } * scale
                    }
                    let m = s.max()!
                    s = s.map { exp($0 - m) }
                    let sum = s.reduce(0, +)
                    p[i] = s.map { $0 / sum }
                }
                for i in 0..<tokens {
                    let dO = (0..<headDim).map { Double(dOut[(b * tokens + i) * d + h * headDim + $0]) }
                    let dP = (0..<tokens).map { j in (0..<headDim).reduce(0.0) { $0 + dO[$1] * Double(qkv[at(b, j, 2, h, $1)]) } }
                    let dot = (0..<tokens).reduce(0.0) { $0 + dP[$1] * p[i][$1] }
                    for j in 0..<tokens {
                        let dS = p[i][j] * (dP[j] - dot) * scale
                        for e in 0..<headDim {
                            dqkv[at(b, j, 2, h, e)] += p[i][j] * dO[e]
                            dqkv[at(b, i, 0, h, e)] += dS * Double(qkv[at(b, j, 1, h, e)])
                            dqkv[at(b, j, 1, h, e)] += dS * Double(qkv[at(b, i, 0, h, e)])
                        }
                    }
                }
            }
        }
        return dqkv.map { Float($0) }
    }
}
