/// diffusers' `DDIMScheduler` (epsilon prediction), with `eta` and `use_clipped_model_output`
/// taken from the config (they are `step()` arguments in diffusers).
public final class DiffusersDDIM: Sampler {
    public let name = "ddim (diffusers)"
    public let timesteps: [Int]
    let schedule: DiffusersSchedule
    let finalAlphaCumprod: Double
    let eta: Double
    let clip: Double?
    let useClippedModelOutput: Bool
    /// DDIM always steps back by `T // n`, whatever the spacing (diffusers' rule).
    let stride: Int

    public init(_ config: DiffusersConfig, steps: Int) throws {
        try SamplerSteps.check(steps, config.numTrainTimesteps)
        schedule = DiffusersSchedule(config)
        timesteps = DiffusersSchedule.ddpmTimesteps(config, steps: steps)
        finalAlphaCumprod = config.bool("set_alpha_to_one") ? 1 : schedule.alphasCumprod[0]
        eta = config.double("eta")
        clip = config.bool("clip_sample") ? config.double("clip_sample_range") : nil
        useClippedModelOutput = config.bool("use_clipped_model_output")
        stride = config.numTrainTimesteps / steps
    }

    public func drawsNoise(atStep k: Int) -> Bool { eta > 0 }
    public func reset() {}

    public func step(_ k: Int, eps: [Double], v: [Double]?, x: inout [Double], noise: [Float]?) {
        let t = timesteps[k], prevT = t - stride
        let ac = schedule.alphasCumprod
        let alphaProd = ac[t], alphaProdPrev = prevT >= 0 ? ac[prevT] : finalAlphaCumprod
        let betaProd = 1 - alphaProd
        let variance = (1 - alphaProdPrev) / betaProd * (1 - alphaProd / alphaProdPrev)
        let std = eta * variance.squareRoot()
        let direction = (1 - alphaProdPrev - std * std).squareRoot()
        for i in x.indices {
            var x0 = (x[i] - betaProd.squareRoot() * eps[i]) / alphaProd.squareRoot()
            if let clip { x0 = min(max(x0, -clip), clip) }
            let e = useClippedModelOutput ? (x[i] - alphaProd.squareRoot() * x0) / betaProd.squareRoot() : eps[i]
            var next = alphaProdPrev.squareRoot() * x0 + direction * e
            if eta > 0, let noise { next += std * Double(noise[i]) }
            x[i] = next
        }
    }
}
