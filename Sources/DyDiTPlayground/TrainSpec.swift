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

    /// Decodes `$.train`; `dydit` selects the fine-tuning recipe. Each part's decoder is in
    /// TrainSpecDecoding.swift; the resolved JSON (hashed into every run's fingerprint) keeps
    /// its keys in one fixed order, so a spec resolves as it did before.
    static func decode(_ value: JSONValue, _ d: SpecDecoder, dydit: Bool, seed: UInt64) -> (TrainSpec, JSONValue)? {
        let path = "$.train"
        let before = d.issues.count
        guard let t = d.object(value, path, allowed: keys) else { return nil }
        let dataset = DatasetChoice.decode(t["dataset"], JSONLocator.child(path, "dataset"), d, split: "train")
        let (optimisation, names) = decodeOptimisation(t, d, path, seed: seed, dydit: dydit)
        var s = optimisation
        let routers = decodeFineTuning(t, d, path, settings: s, dydit: dydit)
        s.dydit = routers.fineTuning
        let exit = decodeEarlyExit(t, d, path, dydit: dydit)
        s.earlyExit = exit.schedule
        let l2c = decodeL2C(t, d, path, dydit: dydit, earlyExit: s.earlyExit != nil)
        // L2C has no EMA: the decay changes nothing there.
        if l2c == nil { warnAboutSlowEMA(s, d, path, given: t["ema_decay"] != nil) }
        let book = decodeBookkeeping(t, d, path)
        guard d.issues.count == before else { return nil }

        var resolved = JSONObject([
            ("dataset", dataset.resolvedJSON),
            ("steps", .int(Int64(s.steps))), ("batch", .int(Int64(s.batch))), ("lr", .double(s.adam.learningRate)),
            ("weight_decay", .double(s.adam.weightDecay)), ("betas", .array([.double(s.adam.beta1), .double(s.adam.beta2)])),
            ("eps", .double(s.adam.epsilon)), ("warmup_steps", .int(Int64(s.warmupSteps))),
            ("grad_clip", s.gradientClip.map { .double($0) } ?? .null), ("ema_decay", .double(s.emaDecay)),
            ("label_dropout", .double(s.labelDropout)), ("timesteps", .string(names.timesteps)), ("flip", .bool(s.flip)),
        ])
        // Only when given, so specs (and checkpoints) from before these keys resolve as they did.
        if t["lr_scheduler"] != nil || t["min_lr"] != nil {
            resolved["lr_scheduler"] = .string(names.decay)
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
        resolved["checkpoint_every"] = .int(Int64(book.checkpointEvery))
        resolved["log_every"] = .int(Int64(book.logEvery))
        resolved["sample_every"] = .int(Int64(book.sampleEvery))
        resolved["samples_per_class"] = .int(Int64(book.perClass))
        if book.snapshotEvery > 0 { resolved["snapshot_every"] = .int(Int64(book.snapshotEvery)) }
        // Only when given, so specs (and checkpoints) from before these keys resolve as they did.
        for (key, value) in routers.resolved { resolved[key] = value }
        if let exitResolved = exit.resolved { resolved["early_exit"] = exitResolved }
        if t["products"] != nil { resolved["products"] = .string(names.products) }
        if let l2c { resolved["l2c"] = .object(JSONObject([("l1", .double(l2c.l1)), ("threshold", .double(l2c.threshold))])) }
        resolved["export_dtype"] = .string(book.export)
        var spec = TrainSpec(dataset: dataset, settings: s,
                             checkpointEvery: book.checkpointEvery, logEvery: book.logEvery, sampleEvery: book.sampleEvery,
                             samplesPerClass: book.perClass, snapshotEvery: book.snapshotEvery, routerInit: routers.initBiases,
                             exportDType: book.export == "f16" ? .f16 : .f32)
        spec.l2c = l2c
        return (spec, .object(resolved))
    }
}
