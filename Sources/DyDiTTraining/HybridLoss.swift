import DyDiTDiffusion
import Foundation

/// DiT's training loss (`training_losses` with learned sigma): per sample
/// `mse = mean_{C,H,W} (ε − eps)²` plus, with learn_sigma, `vb`: the KL between the true
/// posterior and the model's Gaussian (bits), computed with the eps output detached so that
/// only the variance channels `v` get its gradient, and at t = 0 the discretized-Gaussian
/// decoder NLL instead. The batch loss is the mean over samples.
///
/// Table entries are rounded to float32 where the official code extracts them; the t = 0
/// likelihood is evaluated in float32 as PyTorch does (where a tanh-approximated CDF saturates,
/// float32 clamps to log(1e-12) and float64 would not: a 2% difference in vb).
public struct HybridLoss: Sendable {
    public let diffusion: DiTDiffusion
    public let learnSigma: Bool
    let sqrtAC: [Double], sqrtOneMinusAC: [Double]

    public init(learnSigma: Bool, trainSteps: Int = 1000) throws {
        diffusion = try DiTDiffusion(respacing: "\(trainSteps)", trainSteps: trainSteps,
                                     varianceType: learnSigma ? .learnedRange : .fixedLarge)
        self.learnSigma = learnSigma
        sqrtAC = diffusion.sqrtAlphasCumprod
        sqrtOneMinusAC = diffusion.sqrtOneMinusAlphasCumprod
    }

    static func f32(_ v: Double) -> Double { DiTDiffusion.f32(v) }

    /// `q_sample`: `x_t = √ᾱ_t·x0 + √(1 − ᾱ_t)·ε`, per sample of `plane·channels` values.
    public func noisy(x0: [Float], t: [Int], noise: [Float]) -> [Float] {
        let per = x0.count / t.count
        return x0.indices.map { i in
            let tt = t[i / per]
            return Float(Self.f32(sqrtAC[tt]) * Double(x0[i]) + Self.f32(sqrtOneMinusAC[tt]) * Double(noise[i]))
        }
    }

    public struct Result {
        public var loss: Double
        public var perSample: [Double]
        public var mse: [Double]
        public var vb: [Double]
        /// d loss / d model output, `[B, outC, H, W]`.
        public var gradient: [Float]
    }

    /// - Parameters: `output [B, outC, H, W]` is the model's output at `xt`; `channels` is C.
    public func evaluate(output: [Float], x0: [Float], xt: [Float], t: [Int], noise: [Float], channels: Int) -> Result {
        let batch = t.count, per = x0.count / batch, plane = per / channels
        let outC = output.count / (batch * plane)
        var gradient = [Float](repeating: 0, count: output.count)
        var mse = [Double](repeating: 0, count: batch), vb = mse
        let ln2 = log(2.0)
        for b in 0..<batch {
            let outBase = b * outC * plane, base = b * per
            var sum = 0.0
            for i in 0..<per {
                let diff = Double(noise[base + i]) - Double(output[outBase + i])
                sum += diff * diff
                gradient[outBase + i] = Float(-2 * diff / Double(per) / Double(batch))
            }
            mse[b] = sum / Double(per)
            guard learnSigma else { continue }
            let tt = t[b], d = diffusion
            let minLog = Self.f32(d.posteriorLogVarianceClipped[tt]), maxLog = Self.f32(d.logBetas[tt])
            let c1 = Self.f32(d.posteriorMeanCoef1[tt]), c2 = Self.f32(d.posteriorMeanCoef2[tt])
            let recip = Self.f32(d.sqrtRecipAlphasCumprod[tt]), recipm1 = Self.f32(d.sqrtRecipm1AlphasCumprod[tt])
            var term = 0.0
            for i in 0..<per {
                let x = Double(xt[base + i]), eps = Double(output[outBase + i]), v = Double(output[outBase + per + i])
                let frac = (v + 1) / 2
                let logVar = frac * maxLog + (1 - frac) * minLog
                let x0Pred = recip * x - recipm1 * eps
                let mean = c1 * x0Pred + c2 * x
                let dLogVar: Double
                if tt == 0 {
                    let (nll, dLogScale) = Self.decoderNLL(x: x0[base + i], mean: Float(mean), logScale: Float(0.5 * logVar))
                    term += nll
                    dLogVar = 0.5 * dLogScale
                } else {
                    let trueMean = c1 * Double(x0[base + i]) + c2 * x
                    let e = exp(minLog - logVar), m = (trueMean - mean) * (trueMean - mean) * exp(-logVar)
                    term += 0.5 * (-1 + logVar - minLog + e + m)
                    dLogVar = 0.5 * (1 - e - m)
                }
                let dv = dLogVar * (maxLog - minLog) / 2
                gradient[outBase + per + i] = Float(dv / Double(per) / ln2 / Double(batch))
            }
            vb[b] = term / Double(per) / ln2
        }
        let perSample = (0..<batch).map { mse[$0] + vb[$0] }
        return Result(loss: perSample.reduce(0, +) / Double(batch), perSample: perSample, mse: mse, vb: vb, gradient: gradient)
    }

    /// −log p(x | mean, e^{2·logScale}) for an 8-bit-discretized x in [−1, 1] (bins ±1/255),
    /// with DiT's tanh approximation of the normal CDF, in float32; and its derivative with
    /// respect to `logScale` (0 where the probability is clamped at 1e-12).
    static func decoderNLL(x: Float, mean: Float, logScale: Float) -> (Double, Double) {
        let k = Float((2 / Double.pi).squareRoot())
        func cdf(_ z: Float) -> (value: Float, slope: Float) {
            let z3 = z * z * z
            let a = k * (z + Float(0.044715) * z3)
            let th = tanhf(a)
            let value = Float(0.5) * (Float(1) + th)
            let slope = 0.5 * (1 - th * th) * k * (1 + 3 * 0.044715 * z * z)
            return (value, slope)
        }
        let centered = x - mean
        let invStd = expf(-logScale)
        let plusIn = invStd * (centered + Float(1.0 / 255.0))
        let minIn = invStd * (centered - Float(1.0 / 255.0))
        let (cdfPlus, slopePlus) = cdf(plusIn), (cdfMin, slopeMin) = cdf(minIn)
        // d z / d logScale = −z, so d cdf / d logScale = −slope·z.
        let dPlus = -Double(slopePlus) * Double(plusIn), dMin = -Double(slopeMin) * Double(minIn)
        let p: Float, dp: Double
        if x < -0.999 {
            (p, dp) = (cdfPlus, dPlus)
        } else if x > 0.999 {
            (p, dp) = (Float(1) - cdfMin, -dMin)
        } else {
            (p, dp) = (cdfPlus - cdfMin, dPlus - dMin)
        }
        if p <= 1e-12 { return (-Double(logf(Float(1e-12))), 0) }
        return (-Double(logf(p)), -dp / Double(p))
    }
}
