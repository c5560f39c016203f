import Foundation
import DyDiTDiffusion
import DyDiTIO
import DyDiTModels
import DyDiTTraining

/// The spec's `train` section, typed: the dataset, the optimisation knobs (defaults: DiT's
/// recipe for a `dit` backbone, DyDiT's fine-tuning recipe for a `dydit` one) and the run's
/// bookkeeping (checkpoints, log, sample grids).
public struct TrainSpec {
    public var dataset: DatasetChoice
    public var settings: TrainingSettings
    public var checkpointEvery: Int
    public var logEvery: Int
    /// Steps between sample grids of the EMA weights (0: only at the end).
    public var sampleEvery: Int
    /// Samples per class in each grid.
    public var samplesPerClass: Int
    /// Steps between EMA snapshots kept as `snapshots/ema-step-NNNNNNN.safetensors` (0: none),
    /// so a run's quality can be measured against its steps afterwards (the FD curve).
    public var snapshotEvery: Int
    /// Initial biases of routers that start at their fine-tuning init (a plain DiT checkpoint
    /// or no checkpoint): width routers, and the token router's output layer.
    public var routerInit: (widthBias: Float, tokenBias: Float) = (RouterParameters.officialWidthBias, RouterParameters.officialTokenBias)
    public var exportDType: DType
    /// Learning-to-Cache router training (`l2c`): the model frozen, per-step layer routers
    /// learned for the spec's sampler (nil: the model itself trains).
    public var l2c: L2C?

    public struct L2C: Equatable {
        /// The official `--l1` (weight of Σ w) and the threshold progress counts layers at.
        public var l1: Double
        public var threshold: Double
    }

    public static let keys = ["dataset", "steps", "batch", "lr", "weight_decay", "betas", "eps", "warmup_steps", "lr_scheduler", "min_lr", "grad_clip",
                       "ema_decay", "label_dropout", "timesteps", "flip", "lambda", "lambda_hold_steps", "lambda_ramp_steps",
                       "complete_model_steps", "flops_weight", "temperature", "checkpoint_every", "log_every", "sample_every",
                       "samples_per_class", "snapshot_every", "export_dtype", "router_init", "router_lr_scale",
                       "static_width", "early_exit", "l2c", "products"]

    /// The EMA starts from the initial weights, which still weigh decay^steps in it at the end:
    /// an EMA too slow for the run samples mostly the starting point (the λ sweep's first try,
    /// 1000 steps at 0.999, sampled DyDiT routers that still kept 37% of their all-on init).
    static func warnAboutSlowEMA(_ s: TrainingSettings, _ d: SpecDecoder, _ path: String, given: Bool) {
        let kept = pow(s.emaDecay, Double(s.steps))
        guard kept > 0.05 else { return }
        let suggested = pow(0.01, 1 / Double(s.steps))
        d.warn(JSONLocator.child(path, "ema_decay"),
               String(format: "%@%g with %d steps leaves %.0f%% of the starting weights in the EMA weights that `dydit run` "
                           + "and `dydit sample` use (decay^steps); a decay of %.4g or less (1%%), or more steps, "
                           + "makes them the trained weights", given ? "" : "(default) ", s.emaDecay, s.steps, 100 * kept,
                      (suggested * 1e4).rounded(.down) / 1e4))
    }

    /// A static width learns only its routers' biases (their weights stay zero), and AdamW moves
    /// a parameter by about its rate per step: over the run, `lr × router_lr_scale.width × steps`
    /// at most. Below the initial bias that cannot switch a single head or group off (the
    /// ablation's first static-width run: 0.36 against 15, every head and group kept).
    static func warnAboutStaticWidthReach(_ s: TrainingSettings, _ f: TrainingSettings.FineTuning, widthBias: Double,
                                          _ d: SpecDecoder, _ path: String) {
        let reach = s.adam.learningRate * f.widthRouterLRScale * Double(s.steps)
        guard widthBias > 0, reach < widthBias else { return }
        let needed = (widthBias / (s.adam.learningRate * Double(s.steps)) * 2).rounded(.up)
        d.warn(JSONLocator.child(path, "static_width"),
               String(format: "the static width's routers learn only their biases, which AdamW moves by about lr × "
                           + "router_lr_scale.width per step: %.3g over %d steps, against an initial bias of %g — every head "
                           + "and MLP group would stay on; set router_lr_scale.width to %g or more, or lower router_init.width_bias",
                      reach, s.steps, widthBias, needed))
    }

    /// Decodes `$.train`; `dydit` selects the fine-tuning recipe.
    static func decode(_ value: JSONValue, _ d: SpecDecoder, dydit: Bool, seed: UInt64) -> (TrainSpec, JSONValue)? {
        let path = "$.train"
        let before = d.issues.count
        guard let t = d.object(value, path, allowed: keys) else { return nil }
        let dataset = DatasetChoice.decode(t["dataset"], JSONLocator.child(path, "dataset"), d, split: "train")

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

        let dyditKeys = ["lambda", "lambda_hold_steps", "lambda_ramp_steps", "complete_model_steps", "flops_weight", "temperature",
                         "router_init", "router_lr_scale", "static_width"]
        var routerInit = (RouterParameters.officialWidthBias, RouterParameters.officialTokenBias)
        var routerResolved: [(String, JSONValue)] = []
        if dydit {
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
                routerResolved.append(("router_init", .object(JSONObject([("width_bias", .double(w)), ("token_bias", .double(k))]))))
            }
            let scalePath = JSONLocator.child(path, "router_lr_scale")
            if t["router_lr_scale"] != nil, let o = d.object(t["router_lr_scale"], scalePath, allowed: ["width", "token"]) {
                f.widthRouterLRScale = d.double(o, "width", scalePath, default: 1, check: ({ $0 > 0 && $0 <= 1e6 }, "a factor in (0, 1e6]"))
                f.tokenRouterLRScale = d.double(o, "token", scalePath, default: 1, check: ({ $0 > 0 && $0 <= 1e6 }, "a factor in (0, 1e6]"))
                routerResolved.append(("router_lr_scale", .object(JSONObject([("width", .double(f.widthRouterLRScale)),
                                                                              ("token", .double(f.tokenRouterLRScale))]))))
            }
            if d.bool(t, "static_width", path, default: false) {
                f.width = .static
                routerResolved.append(("static_width", .bool(true)))
                warnAboutStaticWidthReach(s, f, widthBias: Double(routerInit.0), d, path)
            }
            s.dydit = f
        } else {
            for key in dyditKeys where t[key] != nil {
                d.error(JSONLocator.child(path, key), "applies to DyDiT fine-tuning only (backbone.type 'dydit')")
            }
        }
        var exitResolved: JSONValue?
        if let exit = t["early_exit"], exit != .null {
            let exitPath = JSONLocator.child(path, "early_exit")
            if dydit {
                d.error(exitPath, "trains a dense DiT (backbone.type 'dit'); with DyDiT fine-tuning it is not implemented")
            } else if let o = d.object(exit, exitPath, allowed: ["boundaries", "depths"]) {
                do {
                    let schedule = try EarlyExitPlugin.schedule(o)
                    s.earlyExit = schedule
                    exitResolved = .object(JSONObject([("boundaries", .array(schedule.boundaries.map { .int(Int64($0)) })),
                                                       ("depths", .array(schedule.depths.map { .int(Int64($0)) }))]))
                } catch let error as SamplerError {
                    d.error(exitPath, error.detail)
                } catch {
                    d.error(exitPath, "\(error)")
                }
            }
        }
        var l2c: L2C?
        if let section = t["l2c"], section != .null {
            let l2cPath = JSONLocator.child(path, "l2c")
            if dydit || s.earlyExit != nil {
                d.error(l2cPath, "trains cache routers for a frozen dense DiT (backbone.type 'dit', no early_exit)")
            } else if let o = d.object(section, l2cPath, allowed: ["l1", "threshold"]) {
                l2c = L2C(l1: d.double(o, "l1", l2cPath, default: 5e-6, check: ({ $0 >= 0 }, "a number ≥ 0")),
                          threshold: d.double(o, "threshold", l2cPath, default: 0.1, check: ({ $0 >= 0 && $0 <= 1 }, "a number in [0, 1]")))
            }
        }
        // L2C has no EMA: the decay changes nothing there.
        if l2c == nil { warnAboutSlowEMA(s, d, path, given: t["ema_decay"] != nil) }
        let checkpointEvery = d.int(t, "checkpoint_every", path, default: 500, range: 1...100_000_000)
        let logEvery = d.int(t, "log_every", path, default: 10, range: 1...100_000_000)
        let sampleEvery = d.int(t, "sample_every", path, default: 0, range: 0...100_000_000)
        let perClass = d.int(t, "samples_per_class", path, default: 4, range: 1...64)
        let snapshotEvery = d.int(t, "snapshot_every", path, default: 0, range: 0...100_000_000)
        let export = d.string(t, "export_dtype", path, default: "f32", allowed: ["f32", "f16"])
        guard d.issues.count == before else { return nil }

        var resolved = JSONObject([
            ("dataset", dataset.resolvedJSON),
            ("steps", .int(Int64(s.steps))), ("batch", .int(Int64(s.batch))), ("lr", .double(s.adam.learningRate)),
            ("weight_decay", .double(s.adam.weightDecay)), ("betas", .array([.double(s.adam.beta1), .double(s.adam.beta2)])),
            ("eps", .double(s.adam.epsilon)), ("warmup_steps", .int(Int64(s.warmupSteps))),
            ("grad_clip", s.gradientClip.map { .double($0) } ?? .null), ("ema_decay", .double(s.emaDecay)),
            ("label_dropout", .double(s.labelDropout)), ("timesteps", .string(sampling)), ("flip", .bool(s.flip)),
        ])
        // Only when given, so specs (and checkpoints) from before these keys resolve as they did.
        if t["lr_scheduler"] != nil || t["min_lr"] != nil {
            resolved["lr_scheduler"] = .string(decay)
            resolved["min_lr"] = .double(s.lrFloor)
        }
        if let f = s.dydit {
            resolved["lambda"] = .double(f.lambda.target)
            resolved["lambda_hold_steps"] = .int(Int64(f.lambda.holdSteps))
            resolved["lambda_ramp_steps"] = .int(Int64(f.lambda.rampSteps))
            resolved["complete_model_steps"] = .int(Int64(f.completeModelSteps))
            resolved["flops_weight"] = .double(f.flopsWeight)
            resolved["temperature"] = .double(f.temperature)
        }
        resolved["checkpoint_every"] = .int(Int64(checkpointEvery))
        resolved["log_every"] = .int(Int64(logEvery))
        resolved["sample_every"] = .int(Int64(sampleEvery))
        resolved["samples_per_class"] = .int(Int64(perClass))
        if snapshotEvery > 0 { resolved["snapshot_every"] = .int(Int64(snapshotEvery)) }
        // Only when given, so specs (and checkpoints) from before these keys resolve as they did.
        for (key, value) in routerResolved { resolved[key] = value }
        if let exitResolved { resolved["early_exit"] = exitResolved }
        if t["products"] != nil { resolved["products"] = .string(products) }
        if let l2c { resolved["l2c"] = .object(JSONObject([("l1", .double(l2c.l1)), ("threshold", .double(l2c.threshold))])) }
        resolved["export_dtype"] = .string(export)
        var spec = TrainSpec(dataset: dataset, settings: s,
                             checkpointEvery: checkpointEvery, logEvery: logEvery, sampleEvery: sampleEvery,
                             samplesPerClass: perClass, snapshotEvery: snapshotEvery, routerInit: routerInit, exportDType: export == "f16" ? .f16 : .f32)
        spec.l2c = l2c
        return (spec, .object(resolved))
    }
}
