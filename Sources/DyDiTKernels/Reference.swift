#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Plain scalar versions of every optimised kernel, written for clarity: the tests compare
/// each ISA build against these on random shapes.
public enum Reference {
    /// `C = op(A)·op(B) (+ C) + bias`, then activation; accumulates in Double.
    public static func gemm(_ p: GemmOperands, packedB: UnsafePointer<Float>? = nil) {
        precondition(!p.bLayout.isPacked, "the reference reads B unpacked")
        for i in 0..<p.m {
            for j in 0..<p.n {
                var acc = 0.0
                for kk in 0..<p.k {
                    let a = p.aTransposed ? p.a[kk * p.lda + i] : p.a[i * p.lda + kk]
                    let b = p.bLayout == .rowsNK ? p.bFloats[j * p.ldb + kk] : p.bFloats[kk * p.ldb + j]
                    acc += Double(a) * Double(b)
                }
                var v = Float(acc)
                if p.accumulate { v += p.c[i * p.ldc + j] }
                if let bias = p.bias { v += bias[j] }
                p.c[i * p.ldc + j] = activate(v, p.activation)
            }
        }
    }

    /// `out[m, n] = bf16(x) · bf16(w)ᵀ` as every bf16 tile adds it (`vdpbf16ps`'s order): for
    /// each pair of k (2q, 2q+1), from a zero sum, the odd k's product, then the even one's;
    /// past an odd K the missing element counts as a zero product. `x` is rounded to bf16 here;
    /// `w` (`[n, k]`) must hold bf16 values already. No bias or activation.
    public static func bf16Product(_ x: [Float], rows m: Int, _ w: [Float], n: Int, k: Int) -> [Float] {
        let a = x.map(BFloat16.rounded)
        var out = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var sum: Float = 0
                for q in 0..<((k + 1) / 2) {
                    let odd = 2 * q + 1 < k ? a[i * k + 2 * q + 1] * w[j * k + 2 * q + 1] : 0
                    sum += odd
                    sum += a[i * k + 2 * q] * w[j * k + 2 * q]
                }
                out[i * n + j] = sum
            }
        }
        return out
    }

    public static func activate(_ x: Float, _ activation: Activation) -> Float {
        switch activation {
        case .none: return x
        case .gelu: return gelu(x)
        case .silu: return silu(x)
        case .relu: return max(x, 0)
        }
    }

    public static func gelu(_ x: Float) -> Float {
        let d = Double(x)
        return Float(0.5 * d * (1 + tanh(0.7978845608028654 * (d + 0.044715 * d * d * d))))
    }

    public static func silu(_ x: Float) -> Float {
        Float(Double(x) / (1 + exp(-Double(x))))
    }

    public static func layerNormModulate(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                         rows: Int, d: Int, eps: Float,
                                         shift: UnsafePointer<Float>?, scale: UnsafePointer<Float>?,
                                         modStride: Int, rowsPerGroup: Int) {
        for r in 0..<rows {
            var mean = 0.0
            for j in 0..<d { mean += Double(x[r * d + j]) }
            mean /= Double(d)
            var variance = 0.0
            for j in 0..<d { let t = Double(x[r * d + j]) - mean; variance += t * t }
            variance /= Double(d)
            let rstd = 1 / (variance + Double(eps)).squareRoot()
            let g = r / rowsPerGroup
            for j in 0..<d {
                var v = (Double(x[r * d + j]) - mean) * rstd
                if let scale { v *= 1 + Double(scale[g * modStride + j]) }
                if let shift { v += Double(shift[g * modStride + j]) }
                y[r * d + j] = Float(v)
            }
        }
    }

    public static func softmaxRows(_ s: UnsafeMutablePointer<Float>, rows: Int, cols: Int, scale: Float) {
        for r in 0..<rows {
            let row = s + r * cols
            var m = -Double.infinity
            for j in 0..<cols { m = max(m, Double(row[j]) * Double(scale)) }
            var sum = 0.0
            for j in 0..<cols { sum += exp(Double(row[j]) * Double(scale) - m) }
            for j in 0..<cols { row[j] = Float(exp(Double(row[j]) * Double(scale) - m) / sum) }
        }
    }

    /// `ISAKernels.onlineSoftmaxRows` in double precision (rows `ld` apart): the new running
    /// maximum of `scale·s`, the correction factor (0 on a row's first tile), the exponentials
    /// and the running sum.
    public static func onlineSoftmaxRows(_ s: UnsafeMutablePointer<Float>, ld: Int, rows: Int, cols: Int, scale: Float,
                                         rowMax: UnsafeMutablePointer<Float>, rowSum: UnsafeMutablePointer<Float>,
                                         alpha: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = s + r * ld
            var t = -Double.infinity
            for j in 0..<cols { t = max(t, Double(row[j]) * Double(scale)) }
            let old = Double(rowMax[r])
            let m = max(old, t)
            let a = old == -.infinity ? 0 : exp(old - m)
            var sum = 0.0
            for j in 0..<cols {
                let e = exp(Double(row[j]) * Double(scale) - m)
                row[j] = Float(e)
                sum += e
            }
            alpha[r] = Float(a)
            rowMax[r] = Float(m)
            rowSum[r] = Float(Double(rowSum[r]) * a + sum)
        }
    }

    /// Attention with the layout of `Attention.forward` (ldqkv = 3·heads·headDim, ldo = heads·headDim).
    public static func attention(qkv: UnsafePointer<Float>, batch: Int, tokens: Int, heads: Int,
                                 headDim: Int, out: UnsafeMutablePointer<Float>) {
        let d = heads * headDim
        let scale = 1 / Double(headDim).squareRoot()
        var p = [Double](repeating: 0, count: tokens)
        for b in 0..<batch {
            for h in 0..<heads {
                for i in 0..<tokens {
                    let q = qkv + (b * tokens + i) * 3 * d + h * headDim
                    var m = -Double.infinity
                    for j in 0..<tokens {
                        let k = qkv + (b * tokens + j) * 3 * d + d + h * headDim
                        var dot = 0.0
                        for e in 0..<headDim { dot += Double(q[e]) * Double(k[e]) }
                        p[j] = dot * scale
                        m = max(m, p[j])
                    }
                    var sum = 0.0
                    for j in 0..<tokens { p[j] = exp(p[j] - m); sum += p[j] }
                    for e in 0..<headDim {
                        var acc = 0.0
                        for j in 0..<tokens { acc += p[j] * Double(qkv[(b * tokens + j) * 3 * d + 2 * d + h * headDim + e]) }
                        out[(b * tokens + i) * d + h * headDim + e] = Float(acc / sum)
                    }
                }
            }
        }
    }

    /// `Ops.routerLogits` in double precision from PyTorch's layouts: `w1 [hidden, d]`,
    /// `w2 [hidden]`.
    public static func routerLogits(_ x: [Float], rows: Int, d: Int, w1: [Float], b1: [Float], w2: [Float], b2: Float) -> [Float] {
        let hidden = b1.count
        return (0..<rows).map { r in
            var logit = Double(b2)
            for j in 0..<hidden {
                var acc = 0.0
                for k in 0..<d { acc += Double(x[r * d + k]) * Double(w1[j * d + k]) }
                let z = acc + Double(b1[j])
                logit += (z < 0 ? 0 : z) * Double(w2[j])
            }
            return Float(logit)
        }
    }

    public static func gatedResidual(_ h: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                                     rows: Int, d: Int, gate: UnsafePointer<Float>, gateStride: Int,
                                     rowsPerGroup: Int) {
        for r in 0..<rows {
            let g = gate + (r / rowsPerGroup) * gateStride
            for j in 0..<d { h[r * d + j] += g[j] * x[r * d + j] }
        }
    }
}
