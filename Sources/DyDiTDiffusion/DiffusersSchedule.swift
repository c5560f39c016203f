import Foundation

/// betas, alphas and ᾱ as diffusers builds them: float32 tables (torch.linspace, torch.cumprod
/// with a double accumulator), promoted to Double for the step arithmetic.
struct DiffusersSchedule {
    let betas: [Double]
    let alphasCumprod: [Double]
    /// The float32 ᾱ table itself (DPM-Solver derives its sigmas from it in float32).
    let alphasCumprodF32: [Float]
    var count: Int { betas.count }

    init(_ config: DiffusersConfig) {
        let n = config.numTrainTimesteps
        let betas32: [Float]
        if let trained = config.options["trained_betas"]?.arrayValue {
            betas32 = trained.map { Float($0.doubleValue!) }
        } else {
            let b0 = config.double("beta_start"), b1 = config.double("beta_end")
            switch config.string("beta_schedule")! {
            case "scaled_linear":
                betas32 = ReferenceArithmetic.torchLinspaceF32(b0.squareRoot(), b1.squareRoot(), n).map { $0 * $0 }
            case "squaredcos_cap_v2":
                betas32 = NoiseSchedule.squaredCosCapV2(n).map(Float.init)
            default:
                betas32 = ReferenceArithmetic.torchLinspaceF32(b0, b1, n)
            }
        }
        let alphas32 = betas32.map { 1 - $0 }
        alphasCumprodF32 = ReferenceArithmetic.torchCumprodF32(alphas32)
        betas = betas32.map(Double.init)
        alphasCumprod = alphasCumprodF32.map(Double.init)
    }

    /// DDPM/DDIM `set_timesteps` (numpy semantics, half-to-even rounding).
    static func ddpmTimesteps(_ config: DiffusersConfig, steps n: Int) -> [Int] {
        let t = config.numTrainTimesteps
        switch config.string("timestep_spacing")! {
        case "linspace":
            return ReferenceArithmetic.numpyLinspace(0, Double(t - 1), n).map(ReferenceArithmetic.numpyRound).reversed()
        case "trailing":
            let ratio = Double(t) / Double(n)
            return Array(stride(from: 0, to: Int((Double(t) / ratio).rounded(.up)), by: 1))
                .map { ReferenceArithmetic.numpyRound(Double(t) - Double($0) * ratio) - 1 }
        default:
            let ratio = t / n
            let offset = config.int("steps_offset")
            return (0..<n).reversed().map { $0 * ratio + offset }
        }
    }
}

/// Noise schedules in Double (DiT's tables and the analytic formulas).
public enum NoiseSchedule {
    /// DiT's "linear": `linspace(1e-4·s, 0.02·s, T)` with `s = 1000 / T`, float64.
    public static func ditLinear(_ t: Int) -> [Double] {
        let scale = 1000 / Double(t)
        return ReferenceArithmetic.numpyLinspace(scale * 0.0001, scale * 0.02, t)
    }

    /// `squaredcos_cap_v2` (Nichol & Dhariwal's cosine), betas capped at 0.999, float64.
    public static func squaredCosCapV2(_ t: Int) -> [Double] {
        func alphaBar(_ x: Double) -> Double { pow(cos((x + 0.008) / 1.008 * Double.pi / 2), 2) }
        return (0..<t).map { i in min(1 - alphaBar(Double(i + 1) / Double(t)) / alphaBar(Double(i) / Double(t)), 0.999) }
    }

    /// `scaled_linear` (Stable Diffusion's): `linspace(√b0, √b1, T)²`, float64.
    public static func scaledLinear(_ t: Int, start: Double = 0.00085, end: Double = 0.012) -> [Double] {
        ReferenceArithmetic.numpyLinspace(start.squareRoot(), end.squareRoot(), t).map { $0 * $0 }
    }

    /// Running product of `1 − β` in Double.
    public static func alphasCumprod(_ betas: [Double]) -> [Double] {
        var acc = 1.0
        return betas.map { acc *= 1 - $0; return acc }
    }
}
