import DyDiTIO
import DyDiTModels

/// Samplers by name, with their options. One place maps a name to a sampler: the CLI and
/// the experiment specs go through here.
///
/// - `ddpm`, `ddim`: DiT's convention by default (`convention: "dit"`): the schedule respaced
///   as DiT's `create_diffusion(str(steps))`, variance from the model (learned range with
///   learn_sigma, else fixed large), options `eta` (ddim), `variance_type`, `clip_denoised`.
///   With `convention: "diffusers"`, diffusers' `DDPMScheduler` / `DDIMScheduler` and every
///   option of theirs by its diffusers name.
/// - `dpm-solver`, `dpm-solver++`: diffusers' `DPMSolverMultistepScheduler`, or with
///   `multistep: false` `DPMSolverSinglestepScheduler`, and their options (`solver_order`,
///   `solver_type`, `lower_order_final`, `final_sigmas_type`, `use_karras_sigmas`, …).
public enum SamplerRegistry {
    public static let names = ["ddpm", "ddim", "dpm-solver", "dpm-solver++"]

    /// Options each sampler accepts besides the diffusers scheduler's own, with defaults.
    public static func ownOptions(_ name: String) -> [(String, JSONValue, String)] {
        switch name {
        case "ddpm":
            return [("convention", .string("dit"), "dit | diffusers"),
                    ("variance_type", .null, "dit: learned_range | fixed_large | fixed_small (default: from the model)"),
                    ("clip_denoised", .bool(false), "dit: clip predicted x0 to [-1, 1]"),
                    ("beta_schedule", .string("linear"), "dit: linear | squaredcos_cap_v2")]
        case "ddim":
            return [("convention", .string("dit"), "dit | diffusers"), ("eta", .double(0), "noise scale η ≥ 0"),
                    ("clip_denoised", .bool(false), "dit: clip predicted x0 to [-1, 1]"),
                    ("beta_schedule", .string("linear"), "dit: linear | squaredcos_cap_v2")]
        default:
            return [("multistep", .bool(true), "multistep or singlestep solver")]
        }
    }

    /// A sampler `name` with `steps` steps and `options`, for a model of `config`.
    /// - Parameter source: names the origin of the options in errors (a file, a JSON path).
    public static func make(_ name: String, steps: Int, options: JSONObject = JSONObject(), config: DiTConfig,
                            source: String = "sampler") throws -> Sampler {
        guard names.contains(name) else {
            let hint = closest(to: name, in: names).map { " (did you mean '\($0)'?)" } ?? ""
            throw SamplerError("\(source): unknown sampler '\(name)'\(hint); valid: \(names.joined(separator: ", "))")
        }
        guard steps >= 1 else { throw SamplerError("\(source): steps must be at least 1 (got \(steps))") }
        var rest = options
        func take(_ key: String) -> JSONValue? {
            let v = rest[key]
            rest[key] = nil
            return v
        }
        switch name {
        case "ddpm", "ddim":
            let convention = take("convention")?.stringValue ?? "dit"
            if convention == "diffusers" {
                if name == "ddpm", rest["variance_type"] == nil, config.learnSigma {
                    rest["variance_type"] = .string("learned_range")
                }
                let kind: DiffusersConfig.Kind = name == "ddpm" ? .ddpm : .ddim
                return try DiffusersConfig(json: .object(rest), kind: kind, source: source).makeSampler(steps: steps)
            }
            guard convention == "dit" else {
                throw SamplerError("\(source): convention '\(convention)' is not one of dit, diffusers")
            }
            let clip = try take("clip_denoised").map { v -> Bool in
                guard let b = v.boolValue else { throw SamplerError("\(source): clip_denoised must be true or false") }
                return b
            } ?? false
            var variance: DiTDiffusion.VarianceType = config.learnSigma ? .learnedRange : .fixedLarge
            if let v = take("variance_type"), v != .null {
                guard let s = v.stringValue, let parsed = DiTDiffusion.VarianceType(rawValue: s) else {
                    throw SamplerError("\(source): variance_type \(v.serialized()) is not one of learned_range, fixed_large, fixed_small")
                }
                variance = parsed
            }
            let schedule = take("beta_schedule")?.stringValue ?? "linear"
            var eta = 0.0
            if name == "ddim", let v = take("eta") {
                guard let e = v.doubleValue, e >= 0 else { throw SamplerError("\(source): eta must be a number ≥ 0 (got \(v.serialized()))") }
                eta = e
            }
            if let unknown = rest.keys.first {
                let known = ownOptions(name).map(\.0)
                let hint = closest(to: unknown, in: known).map { " (did you mean '\($0)'?)" } ?? ""
                throw SamplerError("\(source): unknown option '\(unknown)' for \(name) in DiT's convention\(hint); options: \(known.joined(separator: ", ")) (or convention: diffusers for diffusers' options)")
            }
            guard steps <= 1000 else { throw SamplerError("\(source): steps must be at most the 1000 training timesteps (got \(steps))") }
            let diffusion = try DiTDiffusion(respacing: "\(steps)", schedule: schedule, varianceType: variance)
            return name == "ddpm" ? DiTDDPM(diffusion, clipDenoised: clip) : try DiTDDIM(diffusion, eta: eta, clipDenoised: clip)
        default:
            let multistep = take("multistep")?.boolValue ?? true
            if let algorithm = rest["algorithm_type"]?.stringValue, algorithm != (name == "dpm-solver" ? "dpmsolver" : "dpmsolver++") {
                throw SamplerError("\(source): algorithm_type '\(algorithm)' contradicts the sampler name '\(name)'")
            }
            rest["algorithm_type"] = .string(name == "dpm-solver" ? "dpmsolver" : "dpmsolver++")
            if name == "dpm-solver", rest["final_sigmas_type"] == nil { rest["final_sigmas_type"] = .string("sigma_min") }
            return try DiffusersConfig(json: .object(rest), kind: multistep ? .dpmMultistep : .dpmSinglestep, source: source)
                .makeSampler(steps: steps)
        }
    }
}
