import DyDiTIO
import DyDiTModels

/// `ddpm`: ancestral sampling. DiT's convention by default (the schedule respaced as DiT's
/// `create_diffusion(str(steps))`, variance from the model); `convention: "diffusers"` is
/// diffusers' `DDPMScheduler` with every option by its diffusers name.
public enum DDPMPlugin: SamplerPlugin {
    public static let name = "ddpm"
    public static let summary = "ancestral sampling; DiT's respaced loop by default, diffusers' DDPMScheduler with convention diffusers"
    static let own = DiTConvention.common
    public static let options = withDiffusers(own, .ddpm, via: "diffusers (convention: diffusers)")

    public static func make(steps: Int, options: JSONObject, config: DiTConfig, source: String) throws -> Sampler {
        var diffusersOptions = options
        if diffusersOptions["variance_type"] == nil, config.learnSigma { diffusersOptions["variance_type"] = .string("learned_range") }
        return try DiTConvention.make(name, own: own, .ddpm, steps: steps, options: options, diffusersOptions: diffusersOptions,
                                      config: config, source: source) { diffusion, o in
            DiTDDPM(diffusion, clipDenoised: o["clip_denoised"]?.boolValue ?? false)
        }
    }
}

/// `ddim`: DDIM with η, in DiT's convention by default or diffusers' `DDIMScheduler`.
public enum DDIMPlugin: SamplerPlugin {
    public static let name = "ddim"
    public static let summary = "DDIM with eta; DiT's respaced loop by default, diffusers' DDIMScheduler with convention diffusers"
    static let own = DiTConvention.common + [PluginOption("eta", .double(0), "noise scale η ≥ 0", check: .nonNegative)]
    public static let options = withDiffusers(own, .ddim, via: "diffusers (convention: diffusers)")

    public static func make(steps: Int, options: JSONObject, config: DiTConfig, source: String) throws -> Sampler {
        try DiTConvention.make(name, own: own, .ddim, steps: steps, options: options, diffusersOptions: options,
                               config: config, source: source) { diffusion, o in
            try DiTDDIM(diffusion, eta: o["eta"]?.doubleValue ?? 0, clipDenoised: o["clip_denoised"]?.boolValue ?? false)
        }
    }
}

/// What DiT's-convention DDPM and DDIM share: the convention switch, option checks through the
/// declarations, and DiT's 1000-step respaced diffusion.
enum DiTConvention {
    static let common = [
        PluginOption("convention", .string("dit"), "dit | diffusers", check: .oneOf(["dit", "diffusers"])),
        PluginOption("variance_type", .null, "dit: learned_range | fixed_large | fixed_small (default: from the model)",
                     check: .oneOf(DiTDiffusion.VarianceType.allNames)),
        PluginOption("clip_denoised", .bool(false), "dit: clip predicted x0 to [-1, 1]"),
        PluginOption("beta_schedule", .string("linear"), "dit: linear | squaredcos_cap_v2", check: .oneOf(["linear", "squaredcos_cap_v2"])),
    ]

    static func make(_ name: String, own: [PluginOption], _ kind: DiffusersConfig.Kind, steps: Int, options: JSONObject,
                     diffusersOptions: JSONObject, config: DiTConfig, source: String,
                     build: (DiTDiffusion, JSONObject) throws -> Sampler) throws -> Sampler {
        let convention = options["convention"] ?? .string("dit")
        if convention == .string("diffusers") {
            var rest = diffusersOptions
            rest["convention"] = nil
            return try DiffusersConfig(json: .object(rest), kind: kind, source: source).makeSampler(steps: steps)
        }
        for (key, value) in options {
            guard let option = own.first(where: { $0.name == key }) else {
                let known = own.map(\.name)
                let hint = closest(to: key, in: known).map { " (did you mean '\($0)'?)" } ?? ""
                throw SamplerError(source: source, "unknown option '\(key)' for \(name) in DiT's convention\(hint); options: \(known.joined(separator: ", ")) (or convention: diffusers for diffusers' options)")
            }
            if let problem = option.problem(with: value) { throw SamplerError(source: source, "\(key) \(problem)") }
        }
        // DiT's diffusion has 1000 training timesteps: respacing picks `steps` of them.
        guard steps <= 1000 else { throw SamplerError(source: source, "steps must be at most the 1000 training timesteps (got \(steps))") }
        var variance: DiTDiffusion.VarianceType = config.learnSigma ? .learnedRange : .fixedLarge
        if let v = options["variance_type"]?.stringValue { variance = DiTDiffusion.VarianceType(rawValue: v)! }
        let diffusion = try DiTDiffusion(respacing: "\(steps)", schedule: options["beta_schedule"]?.stringValue ?? "linear",
                                         varianceType: variance)
        return try build(diffusion, options)
    }
}
