import Foundation

/// diffusers' Euler-family schedulers in their own conventions (diffusers 0.42.1,
/// `scheduling_euler_discrete.py`, `scheduling_euler_ancestral_discrete.py`,
/// `scheduling_heun_discrete.py`): the state is k-diffusion's x/√ᾱ (σ space), started at
/// noise × `init_noise_sigma`; the model sees it scaled by 1/√(σ² + 1) (`scale_model_input`)
/// at a timestep that may be fractional. Epsilon prediction; Euler without churn (`s_churn`
/// is a `step()` argument diffusers' pipelines leave at 0).
///
/// Heun evaluates the model twice per step, as diffusers' scheduler does: its `timesteps`
/// (one per model call) hold the first and then every later timestep twice, 2n − 1 calls for
/// n steps, and it alternates an Euler predictor with the trapezoid corrector; the last step,
/// to σ = 0, is the predictor alone.
public final class DiffusersSigmaSampler: Sampler {
    public enum Method: Sendable { case euler, eulerAncestral, heun }

    public let name: String
    public let method: Method
    /// σ at each model call, then the σ after the last (Heun: diffusers' doubled layout).
    let sigmas: [Double]
    public let modelTimesteps: [Double]
    /// The model timesteps rounded, for reports and labels.
    public let timesteps: [Int]
    public let initNoiseSigma: Double
    let clip: Double?
    // Heun's predictor, kept for its corrector call.
    private var heunDerivative: [Double] = []
    private var heunStart: [Double] = []
    private var heunDt = 0.0

    public init(_ config: DiffusersConfig, method: Method, steps: Int) throws {
        try SamplerSteps.check(steps, config.numTrainTimesteps)
        self.method = method
        let karras = config.options["use_karras_sigmas"]?.boolValue ?? false
        func optionalDouble(_ key: String) -> Double? { config.options[key]?.doubleValue }
        let schedule = DiffusersSigmaSchedule(config, steps: steps, karras: karras,
                                              sigmaMin: optionalDouble("sigma_min"), sigmaMax: optionalDouble("sigma_max"),
                                              finalSigmaMin: config.options["final_sigmas_type"]?.stringValue == "sigma_min")
        initNoiseSigma = schedule.initNoiseSigma
        switch method {
        case .euler, .eulerAncestral:
            name = method == .euler ? "euler (diffusers)" : "euler-ancestral (diffusers)"
            sigmas = schedule.sigmas
            modelTimesteps = schedule.timesteps
        case .heun:
            name = "heun (diffusers)"
            let s = schedule.sigmas, t = schedule.timesteps
            // [σ0, σ1, σ1, …, σn−1, σn−1, σn] and [t0, t1, t1, …, tn−1, tn−1].
            sigmas = [s[0]] + s[1..<(s.count - 1)].flatMap { [$0, $0] } + [s[s.count - 1]]
            modelTimesteps = [t[0]] + t.dropFirst().flatMap { [$0, $0] }
        }
        timesteps = modelTimesteps.map { Int($0.rounded()) }
        clip = (config.options["clip_sample"]?.boolValue ?? false) ? config.double("clip_sample_range") : nil
    }

    public func drawsNoise(atStep k: Int) -> Bool { method == .eulerAncestral }

    public func reset() {
        heunDerivative = []
        heunStart = []
        heunDt = 0
    }

    /// `scale_model_input`: 1/√(σ² + 1) of this call's σ.
    public func modelInputScale(atStep k: Int) -> Double { 1 / (sigmas[k] * sigmas[k] + 1).squareRoot() }

    public func step(_ k: Int, eps: [Double], v: [Double]?, x: inout [Double], noise: [Float]?) {
        switch method {
        case .euler:
            let sigma = sigmas[k], dt = sigmas[k + 1] - sigma
            for i in x.indices {
                let x0 = x[i] - sigma * eps[i]
                x[i] += (x[i] - x0) / sigma * dt
            }
        case .eulerAncestral:
            let from = sigmas[k], to = sigmas[k + 1]
            let up = (to * to * (from * from - to * to) / (from * from)).squareRoot()
            let down = (to * to - up * up).squareRoot()
            for i in x.indices {
                let x0 = x[i] - from * eps[i]
                x[i] += (x[i] - x0) / from * (down - from) + Double(noise![i]) * up
            }
        case .heun:
            heunStep(k, eps: eps, x: &x)
        }
    }

    /// diffusers' `state_in_first_order` is "no predictor pending": calls alternate, the
    /// first (and the last, to σ = 0) being predictors.
    private func heunStep(_ k: Int, eps: [Double], x: inout [Double]) {
        let predictor = heunDerivative.isEmpty
        let sigma = predictor ? sigmas[k] : sigmas[k - 1], next = predictor ? sigmas[k + 1] : sigmas[k]
        // The σ the model's input had: this call's.
        let inputSigma = predictor ? sigma : next
        var derivative = [Double](repeating: 0, count: x.count)
        for i in x.indices {
            var x0 = x[i] - inputSigma * eps[i]
            if let clip { x0 = min(max(x0, -clip), clip) }
            derivative[i] = (x[i] - x0) / inputSigma
        }
        if predictor {
            heunDerivative = derivative
            heunStart = x
            heunDt = next - sigma
            for i in x.indices { x[i] += derivative[i] * heunDt }
        } else {
            for i in x.indices { x[i] = heunStart[i] + (heunDerivative[i] + derivative[i]) / 2 * heunDt }
            reset()
        }
    }
}
