import Foundation

/// The σ schedule of diffusers' Euler-family schedulers (`EulerDiscreteScheduler`,
/// `EulerAncestralDiscreteScheduler`, `HeunDiscreteScheduler`; diffusers 0.42.1,
/// `src/diffusers/schedulers/scheduling_{euler_discrete,euler_ancestral_discrete,heun_discrete}.py`,
/// `set_timesteps`): k-diffusion's σ = √((1 − ᾱ)/ᾱ), the timesteps the model sees (fractional
/// with the default `linspace` spacing or Karras σs) and `init_noise_sigma`, in the float32
/// values diffusers holds.
struct DiffusersSigmaSchedule {
    /// One σ per inference step, then the final σ (0, or σ_min for Euler's `final_sigmas_type`).
    let sigmas: [Double]
    /// One timestep per inference step (float32 values; fractional where interpolated).
    let timesteps: [Double]
    /// The pipelines' `latents * scheduler.init_noise_sigma`: σ_max for `linspace` and
    /// `trailing` spacing (diffusers' rule, though √(σ_max² + 1) is the noise's true scale),
    /// √(σ_max² + 1) for `leading`.
    let initNoiseSigma: Double

    /// - Parameter finalSigmaMin: Euler's `final_sigmas_type: sigma_min` (the others end at 0).
    init(_ config: DiffusersConfig, steps n: Int, karras: Bool, sigmaMin: Double?, sigmaMax: Double?, finalSigmaMin: Bool) {
        let ac = DiffusersSchedule(config).alphasCumprodF32
        // ((1 − ᾱ)/ᾱ) ** 0.5 on the float32 table, as torch computes it.
        let table = ac.map { ((1 - $0) / $0).squareRoot() }
        let t = config.numTrainTimesteps
        var steps: [Double]
        switch config.string("timestep_spacing")! {
        case "linspace":
            steps = ReferenceArithmetic.numpyLinspace(0, Double(t - 1), n).reversed().map { Double(Float($0)) }
        default:
            steps = DiffusersSchedule.ddpmTimesteps(config, steps: n).map(Double.init)
        }
        var sigmas = steps.map { Self.interpolate(table, at: $0) }
        if karras {
            // _convert_to_karras: ρ = 7 between σ_min and σ_max (the config's, else the ends of
            // the interpolated σs), then each σ's timestep by interpolation in log σ.
            sigmas = DPMSolver.karrasSigmas(min: sigmaMin ?? sigmas[sigmas.count - 1], max: sigmaMax ?? sigmas[0], steps: n)
            let logTable = table.map { Double(logf($0)) }
            steps = sigmas.map { Double(Float(DPMSolver.sigmaToT($0, logSigmas: logTable))) }
        }
        let last = finalSigmaMin ? Double(table[0]) : 0
        self.sigmas = (sigmas + [last]).map { Double(Float($0)) }
        timesteps = steps
        let top = Float(self.sigmas.max()!)
        initNoiseSigma = ["linspace", "trailing"].contains(config.string("timestep_spacing")!) ? Double(top)
            : Double((top * top + 1).squareRoot())
    }

    /// `np.interp(x, arange(len(fp)), fp)` in float64.
    static func interpolate(_ fp: [Float], at x: Double) -> Double {
        let last = fp.count - 1
        if x >= Double(last) { return Double(fp[last]) }
        if x <= 0 { return Double(fp[0]) }
        let j = Int(x.rounded(.down))
        let slope = Double(fp[j + 1]) - Double(fp[j])
        return slope * (x - Double(j)) + Double(fp[j])
    }
}
