import DyDiTIO
import DyDiTModels

/// `dpm-solver`: diffusers' `DPMSolverMultistepScheduler` (or, `multistep: false`, the
/// singlestep one) with `algorithm_type: dpmsolver`.
public enum DPMSolverPlugin: SamplerPlugin {
    public static let name = "dpm-solver"
    public static let summary = "diffusers' DPMSolverMultistep/SinglestepScheduler, algorithm dpmsolver"
    public static let options = DPMSolverFamily.options(algorithm: "dpmsolver", finalSigmas: "sigma_min")
    public static func make(steps: Int, options: JSONObject, config: DiTConfig, source: String) throws -> Sampler {
        var o = options
        // diffusers refuses dpmsolver with a zero final σ; sigma_min is what it can run.
        if o["final_sigmas_type"] == nil { o["final_sigmas_type"] = .string("sigma_min") }
        return try DPMSolverFamily.make(name, algorithm: "dpmsolver", steps: steps, options: o, source: source)
    }
}

/// `dpm-solver++`: the same schedulers with `algorithm_type: dpmsolver++`.
public enum DPMSolverPlusPlusPlugin: SamplerPlugin {
    public static let name = "dpm-solver++"
    public static let summary = "diffusers' DPMSolverMultistep/SinglestepScheduler, algorithm dpmsolver++"
    public static let options = DPMSolverFamily.options(algorithm: "dpmsolver++", finalSigmas: "zero")
    public static func make(steps: Int, options: JSONObject, config: DiTConfig, source: String) throws -> Sampler {
        try DPMSolverFamily.make(name, algorithm: "dpmsolver++", steps: steps, options: options, source: source)
    }
}

enum DPMSolverFamily {
    static let multistep = PluginOption("multistep", .bool(true), "multistep or singlestep solver")

    /// Defaults as this sampler runs them (diffusers' own default final σ is zero, which it
    /// refuses for dpmsolver).
    static func options(algorithm: String, finalSigmas: String) -> [PluginOption] {
        let own = [multistep, PluginOption("algorithm_type", .string(algorithm), "diffusers; fixed by the sampler's name"),
                   PluginOption("final_sigmas_type", .string(finalSigmas), "diffusers: zero | sigma_min")]
        return DDPMPlugin.withDiffusers(own, .dpmMultistep, via: "diffusers")
    }

    static func make(_ name: String, algorithm: String, steps: Int, options: JSONObject, source: String) throws -> Sampler {
        var rest = options
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
