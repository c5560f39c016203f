import DyDiTDiffusion
import DyDiTIO
import DyDiTModels
import DyDiTTraining

/// The parts of `$.train`, one decoder each: every problem is reported to the `SpecDecoder`
/// (with its JSON path) and decoding goes on, so a spec's errors are listed together.
extension TrainSpec {
    /// The optimiser, the schedule of the rate and the data side of a step; the names are the
    /// chosen values as the spec spells them (the resolved JSON records them).
    static func decodeOptimisation(_ t: JSONObject, _ d: SpecDecoder, _ path: String, seed: UInt64, dydit: Bool)
        -> (TrainingSettings, names: (decay: String, timesteps: String, products: String)) {
        var s = TrainingSettings()
        s.seed = seed
        s.steps = d.int(t, "steps", path, default: 1000, range: 1...100_000_000)
        s.batch = d.int(t, "batch", path, default: 32, range: 1...65536)
        s.adam.learningRate = d.double(t, "lr", path, default: 1e-4, check: ({ $0 > 0 }, "a number > 0"))
        s.adam.weightDecay = d.double(t, "weight_decay", path, default: 0, check: ({ $0 >= 0 }, "a number ≥ 0"))
        s.adam.epsilon = d.double(t, "eps", path, default: 1e-8, check: ({ $0 > 0 }, "a number > 0"))
        if let betas = t["betas"], betas != .null {
            let values = betas.arrayValue?.compactMap(\.doubleValue) ?? []
            if values.count == 2, values.allSatisfy({ $0 >= 0 && $0 < 1 }) {
                (s.adam.beta1, s.adam.beta2) = (values[0], values[1])
            } else {
                d.error(JSONLocator.child(path, "betas"), "is \(betas.serialized()); expected [beta1, beta2], each in [0, 1)")
            }
        }
        s.warmupSteps = d.int(t, "warmup_steps", path, default: 0, range: 0...100_000_000)
        // diffusers' training scripts call this `lr_scheduler`; the floor is timm's `min_lr`.
        let decay = d.string(t, "lr_scheduler", path, default: "constant", allowed: LearningRateSchedule.Decay.allCases.map(\.rawValue))
        s.lrDecay = LearningRateSchedule.Decay(rawValue: decay) ?? .constant
        s.lrFloor = d.double(t, "min_lr", path, default: 0, check: ({ $0 >= 0 }, "a number ≥ 0"))
        if t["min_lr"] != nil && s.lrDecay == .constant {
            d.error(JSONLocator.child(path, "min_lr"), "applies to a decaying rate only (set lr_scheduler to 'cosine' or 'linear')")
        }
        if s.lrFloor > s.adam.learningRate {
            d.error(JSONLocator.child(path, "min_lr"), "is \(s.lrFloor), above lr \(s.adam.learningRate): the rate decays from lr down to min_lr")
        }
        if let clip = t["grad_clip"], clip != .null {
            s.gradientClip = d.double(t, "grad_clip", path, default: 1, check: ({ $0 > 0 }, "a number > 0, or null for no clipping"))
        }
        s.emaDecay = d.double(t, "ema_decay", path, default: 0.9999, check: ({ $0 >= 0 && $0 < 1 }, "a number in [0, 1)"))
        s.labelDropout = d.double(t, "label_dropout", path, default: 0.1, check: ({ $0 >= 0 && $0 <= 1 }, "a probability in [0, 1]"))
        let sampling = d.string(t, "timesteps", path, default: dydit ? "stratified" : "uniform",
                                allowed: TimestepSampling.allCases.map(\.rawValue))
        s.timesteps = TimestepSampling(rawValue: sampling) ?? .uniform
        s.flip = d.bool(t, "flip", path, default: false)
        let products = d.string(t, "products", path, default: "fp32", allowed: TrainingProducts.allCases.map(\.rawValue))
        s.products = TrainingProducts(rawValue: products) ?? .fp32
        return (s, (decay, sampling, products))
    }

    /// DyDiT's fine-tuning recipe (λ schedule, FLOPs loss, routers' init and rates); for a
    /// dense DiT its keys are errors. `resolved` holds the router keys only when given.
    static func decodeFineTuning(_ t: JSONObject, _ d: SpecDecoder, _ path: String, settings s: TrainingSettings, dydit: Bool)
        -> (fineTuning: TrainingSettings.FineTuning?, initBiases: (widthBias: Float, tokenBias: Float), resolved: [(String, JSONValue)]) {
        let dyditKeys = ["lambda", "lambda_hold_steps", "lambda_ramp_steps", "complete_model_steps", "flops_weight", "temperature",
                         "router_init", "router_lr_scale", "static_width"]
        var routerInit = (widthBias: RouterParameters.officialWidthBias, tokenBias: RouterParameters.officialTokenBias)
        guard dydit else {
            for key in dyditKeys where t[key] != nil {
                d.error(JSONLocator.child(path, key), "applies to DyDiT fine-tuning only (backbone.type 'dydit')")
            }
            return (nil, routerInit, [])
        }
        var resolved: [(String, JSONValue)] = []
        let target = d.double(t, "lambda", path, default: 0.5, check: ({ $0 > 0 && $0 <= 1 }, "a FLOPs target in (0, 1]"))
        let hold = d.int(t, "lambda_hold_steps", path, default: 100, range: 0...100_000_000)
        let ramp = d.int(t, "lambda_ramp_steps", path, default: max(1, s.steps / 5), range: 0...100_000_000)
        let complete = d.int(t, "complete_model_steps", path, default: s.steps / 2, range: 0...100_000_000)
        var f = TrainingSettings.FineTuning(lambda: LambdaSchedule(target: target, holdSteps: hold, rampSteps: ramp),
                                            completeModelSteps: complete)
        f.flopsWeight = d.double(t, "flops_weight", path, default: 2, check: ({ $0 >= 0 }, "a number ≥ 0"))
        f.temperature = d.double(t, "temperature", path, default: 5, check: ({ $0 > 0 }, "a number > 0"))
        // Spatial routing's knobs (the official recipe leaves the token router at bias 35 and
        // the optimiser's rate, under which a short fine-tune never skips a token).
        let initPath = JSONLocator.child(path, "router_init")
        if t["router_init"] != nil, let o = d.object(t["router_init"], initPath, allowed: ["width_bias", "token_bias"]) {
            let w = d.double(o, "width_bias", initPath, default: Double(RouterParameters.officialWidthBias),
                             check: ({ abs($0) <= 1000 }, "a bias in [-1000, 1000]"))
            let k = d.double(o, "token_bias", initPath, default: Double(RouterParameters.officialTokenBias),
                             check: ({ abs($0) <= 1000 }, "a bias in [-1000, 1000]"))
            routerInit = (Float(w), Float(k))
            resolved.append(("router_init", .object(JSONObject([("width_bias", .double(w)), ("token_bias", .double(k))]))))
        }
        let scalePath = JSONLocator.child(path, "router_lr_scale")
        if t["router_lr_scale"] != nil, let o = d.object(t["router_lr_scale"], scalePath, allowed: ["width", "token"]) {
            f.widthRouterLRScale = d.double(o, "width", scalePath, default: 1, check: ({ $0 > 0 && $0 <= 1e6 }, "a factor in (0, 1e6]"))
            f.tokenRouterLRScale = d.double(o, "token", scalePath, default: 1, check: ({ $0 > 0 && $0 <= 1e6 }, "a factor in (0, 1e6]"))
            resolved.append(("router_lr_scale", .object(JSONObject([("width", .double(f.widthRouterLRScale)),
                                                                    ("token", .double(f.tokenRouterLRScale))]))))
        }
        if d.bool(t, "static_width", path, default: false) {
            f.width = .static
            resolved.append(("static_width", .bool(true)))
            warnAboutStaticWidthReach(s, f, widthBias: Double(routerInit.widthBias), d, path)
        }
        return (f, routerInit, resolved)
    }

    /// `early_exit`: the blocks each timestep interval runs, for a dense DiT's fine-tune.
    static func decodeEarlyExit(_ t: JSONObject, _ d: SpecDecoder, _ path: String, dydit: Bool)
        -> (schedule: EarlyExitSchedule?, resolved: JSONValue?) {
        guard let exit = t["early_exit"], exit != .null else { return (nil, nil) }
        let exitPath = JSONLocator.child(path, "early_exit")
        if dydit {
            d.error(exitPath, "trains a dense DiT (backbone.type 'dit'); with DyDiT fine-tuning it is not implemented")
            return (nil, nil)
        }
        guard let o = d.object(exit, exitPath, allowed: ["boundaries", "depths"]) else { return (nil, nil) }
        do {
            let schedule = try EarlyExitPlugin.schedule(o)
            return (schedule, .object(JSONObject([("boundaries", .array(schedule.boundaries.map { .int(Int64($0)) })),
                                                  ("depths", .array(schedule.depths.map { .int(Int64($0)) }))])))
        } catch let error as SamplerError {
            d.error(exitPath, error.detail)
        } catch {
            d.error(exitPath, "\(error)")
        }
        return (nil, nil)
    }

    /// `l2c`: Learning-to-Cache router training for a frozen dense DiT.
    static func decodeL2C(_ t: JSONObject, _ d: SpecDecoder, _ path: String, dydit: Bool, earlyExit: Bool) -> L2C? {
        guard let section = t["l2c"], section != .null else { return nil }
        let l2cPath = JSONLocator.child(path, "l2c")
        if dydit || earlyExit {
            d.error(l2cPath, "trains cache routers for a frozen dense DiT (backbone.type 'dit', no early_exit)")
            return nil
        }
        guard let o = d.object(section, l2cPath, allowed: ["l1", "threshold"]) else { return nil }
        return L2C(l1: d.double(o, "l1", l2cPath, default: 5e-6, check: ({ $0 >= 0 }, "a number ≥ 0")),
                   threshold: d.double(o, "threshold", l2cPath, default: 0.1, check: ({ $0 >= 0 && $0 <= 1 }, "a number in [0, 1]")))
    }

    /// The run's bookkeeping: checkpoints, log lines, sample grids, snapshots, export type.
    static func decodeBookkeeping(_ t: JSONObject, _ d: SpecDecoder, _ path: String)
        -> (checkpointEvery: Int, logEvery: Int, sampleEvery: Int, perClass: Int, snapshotEvery: Int, export: String) {
        (d.int(t, "checkpoint_every", path, default: 500, range: 1...100_000_000),
         d.int(t, "log_every", path, default: 10, range: 1...100_000_000),
         d.int(t, "sample_every", path, default: 0, range: 0...100_000_000),
         d.int(t, "samples_per_class", path, default: 4, range: 1...64),
         d.int(t, "snapshot_every", path, default: 0, range: 0...100_000_000),
         d.string(t, "export_dtype", path, default: "f32", allowed: ["f32", "f16"]))
    }
}
