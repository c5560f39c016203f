import DyDiTEvaluation
import Foundation

/// The classifier written out in Double with plain loops, in PyTorch's conventions (NCHW,
/// `[out, in, 3, 3]` kernels, padding 1, flatten of NCHW): the scalar reference the
/// optimised forward and backward are checked against. Its own gradient is checked against
/// central differences in Double, where ε can be far smaller than any activation's distance
/// to ReLU's kink.
struct ClassifierReference {
    let a: ClassifierArchitecture
    var weights: [String: [Double]]

    /// Mean cross-entropy of `x [n, size, size]` against `labels`, and its gradient by name.
    func lossAndGradients(_ x: [Double], labels: [Int]) -> (Double, [String: [Double]]) {
        let n = labels.count
        var grads: [String: [Double]] = weights.mapValues { [Double](repeating: 0, count: $0.count) }
        var loss = 0.0
        for b in 0..<n {
            // Forward, keeping every layer's input and ReLU output.
            let plane = a.inputSize * a.inputSize
            var acts: [[Double]] = [Array(x[(b * plane)..<((b + 1) * plane)])]
            var sizes = [a.inputSize]
            for (i, c) in a.convs.enumerated() {
                let s = sizes.last!, o = (s - 1) / c.stride + 1
                let w = weights["conv\(i + 1).weight"]!, bias = weights["conv\(i + 1).bias"]!
                var out = [Double](repeating: 0, count: c.outChannels * o * o)
                for oc in 0..<c.outChannels {
                    for oy in 0..<o {
                        for ox in 0..<o {
                            var sum = bias[oc]
                            for ic in 0..<c.inChannels {
                                for ky in 0..<3 {
                                    for kx in 0..<3 {
                                        let iy = oy * c.stride + ky - 1, ix = ox * c.stride + kx - 1
                                        guard iy >= 0, iy < s, ix >= 0, ix < s else { continue }
                                        sum += w[((oc * c.inChannels + ic) * 3 + ky) * 3 + kx] * acts.last![(ic * s + iy) * s + ix]
                                    }
                                }
                            }
                            out[(oc * o + oy) * o + ox] = max(0, sum)
                        }
                    }
                }
                acts.append(out)
                sizes.append(o)
            }
            let flat = acts.last!
            let w1 = weights["fc1.weight"]!, b1 = weights["fc1.bias"]!, w2 = weights["fc2.weight"]!, b2 = weights["fc2.bias"]!
            let f = a.featureSize, k = a.numClasses
            let h = (0..<f).map { j in max(0, b1[j] + (0..<flat.count).reduce(0.0) { $0 + w1[j * flat.count + $1] * flat[$1] }) }
            let logits = (0..<k).map { j in b2[j] + (0..<f).reduce(0.0) { $0 + w2[j * f + $1] * h[$1] } }
            let top = logits.max()!
            let z = logits.reduce(0) { $0 + exp($1 - top) }
            loss += log(z) + top - logits[labels[b]]
            // Backward.
            let dlogits = (0..<k).map { (exp(logits[$0] - top) / z - ($0 == labels[b] ? 1 : 0)) / Double(n) }
            var dh = [Double](repeating: 0, count: f)
            for j in 0..<k {
                grads["fc2.bias"]![j] += dlogits[j]
                for t in 0..<f {
                    grads["fc2.weight"]![j * f + t] += dlogits[j] * h[t]
                    dh[t] += dlogits[j] * w2[j * f + t]
                }
            }
            var dflat = [Double](repeating: 0, count: flat.count)
            for j in 0..<f where h[j] > 0 {
                grads["fc1.bias"]![j] += dh[j]
                for t in 0..<flat.count {
                    grads["fc1.weight"]![j * flat.count + t] += dh[j] * flat[t]
                    dflat[t] += dh[j] * w1[j * flat.count + t]
                }
            }
            var dout = dflat
            for i in stride(from: a.convs.count - 1, through: 0, by: -1) {
                let c = a.convs[i], s = sizes[i], o = sizes[i + 1]
                let w = weights["conv\(i + 1).weight"]!
                var din = [Double](repeating: 0, count: c.inChannels * s * s)
                for oc in 0..<c.outChannels {
                    for oy in 0..<o {
                        for ox in 0..<o {
                            let idx = (oc * o + oy) * o + ox
                            guard acts[i + 1][idx] > 0 else { continue }
                            let g = dout[idx]
                            grads["conv\(i + 1).bias"]![oc] += g
                            for ic in 0..<c.inChannels {
                                for ky in 0..<3 {
                                    for kx in 0..<3 {
                                        let iy = oy * c.stride + ky - 1, ix = ox * c.stride + kx - 1
                                        guard iy >= 0, iy < s, ix >= 0, ix < s else { continue }
                                        let wi = ((oc * c.inChannels + ic) * 3 + ky) * 3 + kx
                                        grads["conv\(i + 1).weight"]![wi] += g * acts[i][(ic * s + iy) * s + ix]
                                        din[(ic * s + iy) * s + ix] += g * w[wi]
                                    }
                                }
                            }
                        }
                    }
                }
                dout = din
            }
        }
        return (loss / Double(n), grads)
    }
}
