import DyDiTIO

/// A diffusers scheduler configuration, read by diffusers' own option names so that a
/// `scheduler_config.json` loads as it is. Options this implementation cannot honour (other
/// prediction types, thresholding, SDE solvers, flow matching, …) are errors, not ignored.
/// Unknown options are errors with a suggestion — except in a whole `scheduler_config.json`
/// (`ignoringUnknown`), where diffusers itself ignores the keys its class does not take (a
/// config saved for another scheduler carries `skip_prk_steps`, `clip_sample`, …): they are
/// listed in `ignoredKeys` for the caller to say so.
public struct DiffusersConfig: Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        case ddpm = "DDPMScheduler"
        case ddim = "DDIMScheduler"
        case dpmMultistep = "DPMSolverMultistepScheduler"
        case dpmSinglestep = "DPMSolverSinglestepScheduler"
        case euler = "EulerDiscreteScheduler"
        case eulerAncestral = "EulerAncestralDiscreteScheduler"
        case heun = "HeunDiscreteScheduler"
        case unipc = "UniPCMultistepScheduler"
        case deis = "DEISMultistepScheduler"
    }

    public let kind: Kind
    /// The options given, with diffusers' defaults filled in for those not given.
    public private(set) var options: JSONObject
    /// Keys of the configuration this scheduler does not take, ignored (`ignoringUnknown`).
    public private(set) var ignoredKeys: [String] = []

    /// Every scheduler's schedule and prediction options.
    static let schedule: [(String, JSONValue)] = [
        ("num_train_timesteps", .int(1000)), ("beta_start", .double(0.0001)), ("beta_end", .double(0.02)),
        ("beta_schedule", .string("linear")), ("trained_betas", .null), ("prediction_type", .string("epsilon")),
    ]
    /// DDPM's, DDIM's and DPM-Solver's (the Euler family has no thresholding).
    static let common: [(String, JSONValue)] = schedule + [
        ("thresholding", .bool(false)), ("dynamic_thresholding_ratio", .double(0.995)), ("sample_max_value", .double(1.0)),
    ]
    static let sigmaOptions: [(String, JSONValue)] = [
        ("use_karras_sigmas", .bool(false)), ("use_exponential_sigmas", .bool(false)), ("use_beta_sigmas", .bool(false)),
    ]

    public static func defaults(_ kind: Kind) -> [(String, JSONValue)] {
        switch kind {
        case .ddpm:
            return common + [("variance_type", .string("fixed_small")), ("clip_sample", .bool(true)),
                             ("clip_sample_range", .double(1.0)), ("timestep_spacing", .string("leading")),
                             ("steps_offset", .int(0)), ("rescale_betas_zero_snr", .bool(false))]
        case .ddim:
            // `eta` is the argument of DDIMScheduler.step; accepted here so one object describes a run.
            return common + [("clip_sample", .bool(true)), ("set_alpha_to_one", .bool(true)), ("steps_offset", .int(0)),
                             ("clip_sample_range", .double(1.0)), ("timestep_spacing", .string("leading")),
                             ("rescale_betas_zero_snr", .bool(false)), ("eta", .double(0)),
                             ("use_clipped_model_output", .bool(false))]
        case .dpmMultistep, .dpmSinglestep:
            var d = common + [("solver_order", .int(2)), ("algorithm_type", .string("dpmsolver++")),
                              ("solver_type", .string("midpoint")), ("lower_order_final", .bool(kind == .dpmMultistep)),
                              ("use_karras_sigmas", .bool(false)), ("use_exponential_sigmas", .bool(false)),
                              ("use_beta_sigmas", .bool(false)), ("use_flow_sigmas", .bool(false)), ("flow_shift", .double(1.0)),
                              ("final_sigmas_type", .string("zero")), ("lambda_min_clipped", .double(-.infinity)),
                              ("variance_type", .null), ("use_dynamic_shifting", .bool(false)),
                              ("time_shift_type", .string("exponential"))]
            if kind == .dpmMultistep {
                d += [("euler_at_final", .bool(false)), ("use_lu_lambdas", .bool(false)),
                      ("timestep_spacing", .string("linspace")), ("steps_offset", .int(0)),
                      ("rescale_betas_zero_snr", .bool(false))]
            }
            return d
        case .unipc:
            return common + [("solver_order", .int(2)), ("predict_x0", .bool(true)), ("solver_type", .string("bh2")),
                             ("lower_order_final", .bool(true)), ("disable_corrector", .array([])), ("solver_p", .null)]
                + sigmaOptions + [("use_flow_sigmas", .bool(false)), ("flow_shift", .double(1.0)),
                                  ("timestep_spacing", .string("linspace")), ("steps_offset", .int(0)),
                                  ("final_sigmas_type", .string("zero")), ("rescale_betas_zero_snr", .bool(false)),
                                  ("use_dynamic_shifting", .bool(false)), ("time_shift_type", .string("exponential")),
                                  ("sigma_min", .null), ("sigma_max", .null), ("shift_terminal", .null)]
        case .deis:
            return common + [("solver_order", .int(2)), ("algorithm_type", .string("deis")), ("solver_type", .string("logrho")),
                             ("lower_order_final", .bool(true))]
                + sigmaOptions + [("use_flow_sigmas", .bool(false)), ("flow_shift", .double(1.0)),
                                  ("timestep_spacing", .string("linspace")), ("steps_offset", .int(0)),
                                  ("use_dynamic_shifting", .bool(false)), ("time_shift_type", .string("exponential"))]
        case .euler:
            return schedule + [("interpolation_type", .string("linear"))] + sigmaOptions
                + [("sigma_min", .null), ("sigma_max", .null), ("timestep_spacing", .string("linspace")),
                   ("timestep_type", .string("discrete")), ("steps_offset", .int(0)), ("rescale_betas_zero_snr", .bool(false)),
                   ("final_sigmas_type", .string("zero"))]
        case .eulerAncestral:
            return schedule + [("timestep_spacing", .string("linspace")), ("steps_offset", .int(0)),
                               ("rescale_betas_zero_snr", .bool(false))]
        case .heun:
            // diffusers' Heun defaults to Stable Diffusion's betas, not DDPM's.
            return schedule.map { $0.0 == "beta_start" ? ($0.0, .double(0.00085)) : $0.0 == "beta_end" ? ($0.0, .double(0.012)) : $0 }
                + sigmaOptions + [("clip_sample", .bool(false)), ("clip_sample_range", .double(1.0)),
                                  ("timestep_spacing", .string("linspace")), ("steps_offset", .int(0))]
        }
    }

    /// - Parameters:
    ///   - json: the configuration object; `_class_name` picks the scheduler unless `kind` is given.
    ///   - source: names the file (or spec path) in errors.
    ///   - ignoringUnknown: a saved `scheduler_config.json`: keys this scheduler does not take
    ///     are ignored (and listed in `ignoredKeys`), as diffusers' `from_config` does.
    public init(json: JSONValue, kind given: Kind? = nil, source: String, ignoringUnknown: Bool = false) throws {
        guard case let .object(o) = json else { throw SamplerError(source: source, "scheduler config is \(json.typeName), expected an object") }
        if let given {
            kind = given
        } else {
            guard let name = o["_class_name"]?.stringValue else {
                throw SamplerError(source: source, "scheduler config has no '_class_name'; one of \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let k = Kind(rawValue: name) else {
                let hint = closest(to: name, in: Kind.allCases.map(\.rawValue)).map { " (did you mean \($0)?)" } ?? ""
                throw SamplerError(source: source, "unsupported scheduler '\(name)'\(hint); supported: \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            kind = k
        }
        var merged = JSONObject(Self.defaults(kind))
        let known = merged.keys
        for (key, value) in o where !key.hasPrefix("_") {
            if !known.contains(key) && ignoringUnknown {
                ignoredKeys.append(key)
                continue
            }
            guard known.contains(key) else { throw SamplerError.unknownOption(key, source: source, scheduler: kind.rawValue, known: known) }
            merged[key] = value
        }
        options = merged
        try validate(source: source)
    }

    public init(kind: Kind, options: [(String, JSONValue)] = [], source: String = "scheduler") throws {
        try self.init(json: .object(JSONObject(options)), kind: kind, source: source)
    }

    // MARK: Typed access (validated in `validate`)

    func double(_ key: String) -> Double { options[key]!.doubleValue! }
    func int(_ key: String) -> Int { Int(options[key]!.intValue!) }
    func bool(_ key: String) -> Bool { options[key]!.boolValue! }
    func string(_ key: String) -> String? { options[key]!.stringValue }

    public var numTrainTimesteps: Int { int("num_train_timesteps") }

    private func validate(source: String) throws {
        func check(_ key: String, _ ok: (JSONValue) -> Bool, _ allowed: String) throws {
            if let v = options[key], !ok(v) { throw SamplerError.badValue(key, v.serialized(), source: source, scheduler: kind.rawValue, allowed: allowed) }
        }
        func oneOf(_ key: String, _ values: [String]) throws {
            try check(key, { $0.stringValue.map(values.contains) ?? false }, values.joined(separator: ", "))
        }
        func isFalse(_ key: String, why: String) throws {
            try check(key, { $0.boolValue == false }, "false (\(why))")
        }
        try check("num_train_timesteps", { ($0.intValue ?? 0) >= 2 }, "an integer ≥ 2")
        try check("beta_start", { ($0.doubleValue ?? -1) > 0 }, "a positive number")
        try check("beta_end", { ($0.doubleValue ?? -1) > 0 && ($0.doubleValue ?? 2) < 1 }, "a number in (0, 1)")
        try oneOf("beta_schedule", ["linear", "scaled_linear", "squaredcos_cap_v2"])
        try check("trained_betas", {
            if case .null = $0 { return true }
            return $0.arrayValue?.allSatisfy { ($0.doubleValue ?? -1) > 0 && ($0.doubleValue ?? 2) < 1 } ?? false
        }, "null or a list of betas in (0, 1)")
        if let betas = options["trained_betas"]?.arrayValue, betas.count != numTrainTimesteps {
            throw SamplerError(source: source, scheduler: kind.rawValue, "trained_betas has \(betas.count) values, num_train_timesteps is \(numTrainTimesteps)")
        }
        try oneOf("prediction_type", ["epsilon"])
        try isFalse("thresholding", why: "dynamic thresholding is not implemented")
        for key in ["dynamic_thresholding_ratio", "sample_max_value", "clip_sample_range", "flow_shift", "beta_start", "eta"] {
            try check(key, { $0.doubleValue != nil }, "a number")
        }
        try check("steps_offset", { ($0.intValue ?? -1) >= 0 }, "a non-negative integer")
        try check("eta", { ($0.doubleValue ?? -1) >= 0 }, "a number ≥ 0")
        for key in ["clip_sample", "set_alpha_to_one", "lower_order_final", "euler_at_final", "use_clipped_model_output"] {
            try check(key, { $0.boolValue != nil }, "true or false")
        }
        try isFalse("rescale_betas_zero_snr", why: "it makes ᾱ reach 0, which an epsilon model cannot sample from")
        for key in ["use_exponential_sigmas", "use_beta_sigmas", "use_flow_sigmas", "use_dynamic_shifting", "use_lu_lambdas"] {
            try isFalse(key, why: "not implemented")
        }
        try check("use_karras_sigmas", { $0.boolValue != nil }, "true or false")
        try oneOf("timestep_spacing", ["linspace", "leading", "trailing"])
        // The multistep solvers on DPM-Solver's grid.
        if [.dpmMultistep, .dpmSinglestep, .unipc, .deis].contains(kind) {
            try check("solver_order", { (1...3).contains($0.intValue ?? 0) }, "1, 2 or 3")
            if bool("use_karras_sigmas") && string("beta_schedule") == "squaredcos_cap_v2" {
                throw SamplerError(source: source, scheduler: kind.rawValue, "use_karras_sigmas with the squaredcos_cap_v2 schedule is not supported (diffusers itself fails on it)")
            }
        }
        switch kind {
        case .euler:
            try oneOf("interpolation_type", ["linear"])
            try oneOf("timestep_type", ["discrete", "continuous"])
            try oneOf("final_sigmas_type", ["zero", "sigma_min"])
            for key in ["sigma_min", "sigma_max"] {
                try check(key, { $0 == .null || ($0.doubleValue ?? -1) > 0 }, "null or a positive number")
            }
        case .eulerAncestral, .heun:
            break
        case .deis:
            // diffusers runs dpmsolver(++) as deis and the other solver types as logrho.
            try oneOf("algorithm_type", ["deis", "dpmsolver", "dpmsolver++"])
            try oneOf("solver_type", ["logrho", "midpoint", "heun", "bh1", "bh2"])
            try oneOf("time_shift_type", ["exponential"])
        case .unipc:
            // diffusers runs midpoint, heun and logrho as bh2.
            try oneOf("solver_type", ["bh1", "bh2", "midpoint", "heun", "logrho"])
            try oneOf("final_sigmas_type", ["zero", "sigma_min"])
            try check("predict_x0", { $0.boolValue != nil }, "true or false")
            try check("disable_corrector", { $0.arrayValue?.allSatisfy { ($0.intValue ?? -1) >= 0 } ?? false },
                      "a list of step indices (integers ≥ 0)")
            for key in ["solver_p", "sigma_min", "sigma_max", "shift_terminal"] {
                try check(key, { $0 == .null }, "null (not implemented)")
            }
            try oneOf("time_shift_type", ["exponential"])
            // The last step to σ = 0 has λ = ∞: only bh2 on the data prediction, first order
            // there, stays finite. diffusers returns NaN (or fails to solve) otherwise.
            if string("final_sigmas_type") == "zero" {
                var blocking: [String] = []
                if string("solver_type") == "bh1" { blocking.append("solver_type bh1") }
                if !bool("predict_x0") { blocking.append("predict_x0 false") }
                if !bool("lower_order_final") && int("solver_order") > 1 { blocking.append("lower_order_final false") }
                if !blocking.isEmpty {
                    throw SamplerError(source: source, scheduler: kind.rawValue, "final_sigmas_type 'zero' with \(blocking.joined(separator: ", ")): the last step to σ = 0 has an infinite λ, which this makes NaN (diffusers itself returns NaN or fails); use final_sigmas_type 'sigma_min'")
                }
            }
        case .ddpm:
            try oneOf("variance_type", ["fixed_small", "fixed_small_log", "fixed_large", "learned", "learned_range"])
        case .ddim:
            break
        case .dpmMultistep, .dpmSinglestep:
            try oneOf("algorithm_type", ["dpmsolver", "dpmsolver++", "deis"])
            try oneOf("solver_type", ["midpoint", "heun", "logrho", "bh1", "bh2"])
            try oneOf("final_sigmas_type", ["zero", "sigma_min"])
            try check("lambda_min_clipped", { $0.doubleValue != nil || $0 == .null }, "a number")
            try check("variance_type", { $0 == .null || ["learned", "learned_range"].contains($0.stringValue ?? "") }, "null, learned, learned_range")
            try oneOf("time_shift_type", ["exponential", "linear"])
            // diffusers runs deis as dpmsolver++ but refuses it, like dpmsolver, with a zero final σ.
            if let algorithm = string("algorithm_type"), algorithm != "dpmsolver++", string("final_sigmas_type") == "zero" {
                throw SamplerError(source: source, scheduler: kind.rawValue, "final_sigmas_type 'zero' needs algorithm_type dpmsolver++ (diffusers refuses \(algorithm) with it too); use 'sigma_min'")
            }
        }
    }
}
