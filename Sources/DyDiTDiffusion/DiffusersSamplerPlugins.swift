import DyDiTIO
import DyDiTModels

/// `euler`: diffusers' `EulerDiscreteScheduler` (options by its names, e.g. `use_karras_sigmas`,
/// `timestep_spacing`, `final_sigmas_type`).
public enum EulerPlugin: SamplerPlugin {
    public static let name = "euler"
    public static let summary = "diffusers' EulerDiscreteScheduler (k-diffusion's Euler in σ space; Karras σs optional)"
    public static let options = withDiffusers([], .euler, via: "diffusers")
    public static func make(steps: Int, options: JSONObject, config: DiTConfig, source: String) throws -> Sampler {
        try DiffusersConfig(json: .object(options), kind: .euler, source: source).makeSampler(steps: steps)
    }
}

/// `euler-ancestral`: diffusers' `EulerAncestralDiscreteScheduler` (a noise draw every step).
public enum EulerAncestralPlugin: SamplerPlugin {
    public static let name = "euler-ancestral"
    public static let summary = "diffusers' EulerAncestralDiscreteScheduler (Euler with ancestral noise every step)"
    public static let options = withDiffusers([], .eulerAncestral, via: "diffusers")
    public static func make(steps: Int, options: JSONObject, config: DiTConfig, source: String) throws -> Sampler {
        try DiffusersConfig(json: .object(options), kind: .eulerAncestral, source: source).makeSampler(steps: steps)
    }
}

/// `heun`: diffusers' `HeunDiscreteScheduler`: two model evaluations per step (2n − 1 for n
/// steps). Its diffusers defaults are Stable Diffusion's betas (0.00085 … 0.012, linear);
/// DiT was trained on 0.0001 … 0.02, which this sampler uses unless beta_start/beta_end are
/// given, so that `heun` samples a DiT from its own schedule like every other sampler here.
public enum HeunPlugin: SamplerPlugin {
    public static let name = "heun"
    public static let summary = "diffusers' HeunDiscreteScheduler (2nd order, two model calls per step; DiT's betas by default)"
    static let ditBetas: [(String, JSONValue)] = [("beta_start", .double(0.0001)), ("beta_end", .double(0.02))]
    public static let options = withDiffusers(ditBetas.map { PluginOption($0.0, $0.1, "diffusers; DiT's training value (diffusers' Heun default: Stable Diffusion's)") },
                                              .heun, via: "diffusers")
    public static func make(steps: Int, options given: JSONObject, config: DiTConfig, source: String) throws -> Sampler {
        var o = given
        for (key, value) in ditBetas where o[key] == nil { o[key] = value }
        return try DiffusersConfig(json: .object(o), kind: .heun, source: source).makeSampler(steps: steps)
    }
}

/// `unipc`: diffusers' `UniPCMultistepScheduler` (predictor–corrector; `solver_type` bh1 | bh2).
public enum UniPCPlugin: SamplerPlugin {
    public static let name = "unipc"
    public static let summary = "diffusers' UniPCMultistepScheduler (UniP predictor + UniC corrector, bh1 | bh2, orders 1–3)"
    public static let options = withDiffusers([], .unipc, via: "diffusers")
    public static func make(steps: Int, options: JSONObject, config: DiTConfig, source: String) throws -> Sampler {
        try DiffusersConfig(json: .object(options), kind: .unipc, source: source).makeSampler(steps: steps)
    }
}

/// `deis`: diffusers' `DEISMultistepScheduler` (log-ρ multistep, orders 1–3).
public enum DEISPlugin: SamplerPlugin {
    public static let name = "deis"
    public static let summary = "diffusers' DEISMultistepScheduler (log-ρ multistep, orders 1–3)"
    public static let options = withDiffusers([], .deis, via: "diffusers")
    public static func make(steps: Int, options: JSONObject, config: DiTConfig, source: String) throws -> Sampler {
        try DiffusersConfig(json: .object(options), kind: .deis, source: source).makeSampler(steps: steps)
    }
}
