import Foundation

/// diffusers' `DDPMScheduler` (epsilon prediction).
public final class DiffusersDDPM: Sampler {
    public let name = "ddpm (diffusers)"
    public let timesteps: [Int]
    let config: DiffusersConfig
    let schedule: DiffusersSchedule
    let varianceType: String
    let clip: Double?

    public init(_ config: DiffusersConfig, steps: Int) throws {
        try SamplerSteps.check(steps, config.numTrainTimesteps)
        self.config = config
        schedule = DiffusersSchedule(config)
        timesteps = DiffusersSchedule.ddpmTimesteps(config, steps: steps)
        varianceType = config.string("variance_type")!
        clip = config.bool("clip_sample") ? config.double("clip_sample_range") : nil
    }

    /// Whether the variance comes from the model's `v` channels (it must learn sigma).
    public var learnedVarianceOption: String? {
        varianceType == "learned" || varianceType == "learned_range" ? "variance_type '\(varianceType)'" : nil
    }

    public func drawsNoise(atStep k: Int) -> Bool { timesteps[k] > 0 }
    public func reset() {}

    public func step(_ k: Int, eps: [Double], v: [Double]?, x: inout [Double], noise: [Float]?) {
        let t = timesteps[k]
        let prevT = k + 1 < timesteps.count ? timesteps[k + 1] : -1
        let ac = schedule.alphasCumprod
        let alphaProd = ac[t], alphaProdPrev = prevT >= 0 ? ac[prevT] : 1
        let betaProd = 1 - alphaProd, betaProdPrev = 1 - alphaProdPrev
        let currentAlpha = alphaProd / alphaProdPrev, currentBeta = 1 - currentAlpha
        let x0Coeff = alphaProdPrev.squareRoot() * currentBeta / betaProd
        let xCoeff = currentAlpha.squareRoot() * betaProdPrev / betaProd
        // _get_variance: the posterior variance, clamped before any use.
        let variance = max((1 - alphaProdPrev) / (1 - alphaProd) * currentBeta, 1e-20)
        for i in x.indices {
            var x0 = (x[i] - betaProd.squareRoot() * eps[i]) / alphaProd.squareRoot()
            if let clip { x0 = min(max(x0, -clip), clip) }
            var next = x0Coeff * x0 + xCoeff * x[i]
            if t > 0, let noise {
                let std: Double
                switch varianceType {
                case "fixed_small_log": std = exp(0.5 * log(variance))
                case "fixed_large": std = currentBeta.squareRoot()
                case "learned" where v != nil: std = v![i].squareRoot()
                case "learned_range" where v != nil:
                    let frac = (v![i] + 1) / 2
                    std = exp(0.5 * (frac * log(currentBeta) + (1 - frac) * log(variance)))
                default: std = variance.squareRoot()
                }
                next += std * Double(noise[i])
            }
            x[i] = next
        }
    }
}

/// Step-count checks shared by every sampler.
enum SamplerSteps {
    static func check(_ steps: Int, _ trainSteps: Int) throws {
        guard steps >= 1 && steps <= trainSteps else {
            throw SamplerError("steps must be between 1 and the \(trainSteps) training timesteps (got \(steps))")
        }
    }
}
