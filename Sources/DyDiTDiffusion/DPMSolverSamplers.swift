import DyDiTIO
import DyDiTModels

/// `dpm-solver`: diffusers' `DPMSolverMultistepScheduler` (or, `multistep: false`, the
/// singlestep one) with `algorithm_type: dpmsolver`.
public enum DPMSolverPlugin: SamplerPlugin {
    public static let name = "dpm-solver"
    public static let summary = "diffusers' DPMSolverMultistep/SinglestepScheduler, algorithm dpmsolver"
    /// diffusers refuses dpmsolver with a zero final σ; sigma_min is what it can run.
    public static let options = DPMSolverFamily.options(algorithm: "dpmsolver", finalSigmas: "sigma_min")
    public static func make(steps: Int, options given: JSONObject, config: DiTConfig, source: String) throws -> Sampler {
        try DPMSolverFamily.make(name, algorithm: "dpmsolver", declared: options, steps: steps, options: given, source: source)
    }
}

/// `dpm-solver++`: the same schedulers with `algorithm_type: dpmsolver++`.
public enum DPMSolverPlusPlusPlugin: SamplerPlugin {
    public static let name = "dpm-solver++"
    public static let summary = "diffusers' DPMSolverMultistep/SinglestepScheduler, algorithm dpmsolver++"
    public static let options = DPMSolverFamily.options(algorithm: "dpmsolver++", finalSigmas: "zero")
    public static func make(steps: Int, options given: JSONObject, config: DiTConfig, source: String) throws -> Sampler {
        try DPMSolverFamily.make(name, algorithm: "dpmsolver++", declared: options, steps: steps, options: given, source: source)
    }
}

enum DPMSolverFamily {
    static let multistep = PluginOption("multistep", .bool(true), "multistep or singlestep solver")

    /// Defaults as this sampler runs them (diffusers' own default final σ is zero, which it
    /// refuses for dpmsolver).
    static func options(algorithm: String, finalSigmas: String) -> [PluginOption] {
        let own = [multistep, PluginOption("algorithm_type", .string(algorithm), "diffusers; fixed by the sampler's name"),
                   PluginOption("final_sigmas_type", .string(finalSigmas), "diffusers: zero | sigma_min")]
        return withDiffusers(own, .dpmMultistep, via: "diffusers")
    }

    /// `declared`: the sampler's options, whose final_sigmas_type default is the one it runs
    /// with when none is given (it differs from diffusers' for dpmsolver).
    static func make(_ name: String, algorithm: String, declared: [PluginOption], steps: Int, options: JSONObject,
                     source: String) throws -> Sampler {
        var rest = options
        if rest["final_sigmas_type"] == nil {
            rest["final_sigmas_type"] = declared.first { $0.name == "final_sigmas_type" }?.defaultValue
        }
        let isMultistep = rest["multistep"] ?? .bool(true)
        rest["multistep"] = nil
        if let problem = multistep.problem(with: isMultistep) { throw SamplerError(source: source, "multistep \(problem)") }
        if let given = rest["algorithm_type"], given != .string(algorithm) {
            throw SamplerError(source: source, "algorithm_type \(given.serialized()) contradicts the sampler name '\(name)'")
        }
        rest["algorithm_type"] = .string(algorithm)
        return try DiffusersConfig(json: .object(rest), kind: isMultistep.boolValue! ? .dpmMultistep : .dpmSinglestep, source: source)
            .makeSampler(steps: steps)
    }
}
