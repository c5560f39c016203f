import Foundation
import DyDiTDiffusion
import DyDiTEvaluation
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTTraining
#if canImport(Glibc)
import Glibc
#endif

/// One experiment, typed and validated, with every default filled in. Built from the JSON of
/// a spec file (after sweep overrides); `resolved` is what each run saves as `spec.json`.
public struct ExperimentSpec {
    public struct Backbone {
        public var type: String
        /// A named config (`DiT-S/2`), or nil when `config` or the checkpoint gives the sizes.
        public var model: String?
        public var config: DiTConfig
        public var checkpoint: String?
        public var initialization: DiTParameters.Initialization
    }

    /// A sampler by registry name, its steps and its diffusers-named options.
    public struct SamplerChoice: Equatable {
        public var name: String
        public var steps: Int
        public var options: JSONObject

        /// The sampler for a model of `config`; `source` names the spec key in errors.
        public func make(config: DiTConfig, source: String) throws -> Sampler {
            try SamplerRegistry.make(name, steps: steps, options: options, config: config, source: source)
        }
    }

    public struct PluginChoice {
        public var type: String
        public var options: PluginOptions
    }

    public struct Eval {
        public var metrics: [String]
        public var samples: Int
        public var classes: [Int]
        public var batch: Int
        public var denseBaseline: Bool
        /// `eval.timing.rounds`: the latency metric times the run's sampling and the dense
        /// baseline in this many alternating rounds and reports medians (`LatencyRounds`).
        public var timingRounds: Int
        /// `eval.timing.images`: the rounds sample only the batches that hold the first this many
        /// images (nil: every image). The quality metrics still use every image, sampled once
        /// more outside the rounds; at thousands of images, timing all of them five times with
        /// the dense baseline beside them costs far more than the medians need.
        public var timingImages: Int?
        /// `eval.dense_checkpoint`: weights of the dense baseline (nil: the run's own weights with
        /// every mask on). A DyDiT fine-tune trains its complete path only for part of the run,
        /// so the same weights dense are not the model it was made from; the base DiT is. The
        /// baseline's time does not depend on its weights, its samples do.
        public var denseCheckpoint: String?
        /// `eval.dense_sampler`: the dense baseline's sampler when it is not the run's (nil: the
        /// run's). A run with fewer steps is compared with the sampler it replaces: its
        /// speed-up and FLOPs per image count the steps it saves.
        public var denseSampler: SamplerChoice?
        /// The held-out data of the `test-loss` metric.
        public var test: TestSet
        /// The classifier metrics' reference images (`ImageSource`) and classifier weights.
        public var reference: String
        public var classifier: String
        /// Sampling seeds for the classifier metrics: each draws `samples` images from its own
        /// noise, and the metrics report their mean and standard deviation over the seeds.
        public var seeds: Int
    }

    /// `eval.test`: images of a dataset split and the timesteps the loss is evaluated at.
    public struct TestSet {
        public var dataset: DatasetChoice
        public var images: Int
        public var timesteps: Int
    }

    public var name: String
    public var seed: UInt64
    public var backbone: Backbone
    public var width: PluginChoice
    public var token: PluginChoice
    public var precision: String
    /// The precision with its per-layer fp32 overrides.
    public var precisionPlan: PrecisionPlan
    public var sampler: SamplerChoice
    public var guidanceScale: Double
    public var guidanceChannels: GuidanceChannels
    /// Model timesteps where guidance applies (`guidance.interval`); nil: every step.
    public var guidanceInterval: ClosedRange<Double>? = nil
    /// The step cache (`cache`: none, fora, delta-dit, teacache, early-exit, l2c).
    public var cache: PluginChoice
    /// Token merging (`merge`: none, tome).
    public var merge: PluginChoice
    public var eval: Eval
    public var threads: Int
    public var isa: String?
    public var outputDir: String
    public var grid: Bool
    /// The grids' upscale factor (`output.grid_scale`).
    public var gridScale: Int
    /// The `train` section, when the spec has one.
    public var train: TrainSpec?
    /// The spec with every default filled in, as each run saves it.
    public var resolved: JSONValue
    /// The spec file's folder: relative paths in the spec are relative to it.
    public var baseDirectory: String

    /// `$schema` lets an editor find `Experiments/schema/spec.schema.json` (completion, checks);
    /// the decoder accepts it and leaves it out of the resolved spec.
    public static let topLevelKeys = ["$schema", "name", "seed", "backbone", "routers", "precision", "sampler", "guidance", "cache", "merge",
                                      "eval", "compute", "output", "train", "sweep", "description"]

    public func resolvePath(_ path: String) -> String {
        SpecFiles(baseDirectory: baseDirectory, check: false).resolve(path)
    }

    /// What the step cache may read at run time: `weights` (the run's), files relative to the spec.
    public func stepCacheContext(weights: String?) -> StepCacheContext {
        SpecFiles(baseDirectory: baseDirectory, check: true).stepCacheContext(weights: weights)
    }

    /// Decodes `json` (one run: no sweep left in it), recording every problem in `d`.
    /// Returns nil when there were problems.
    public static func decode(_ json: JSONValue, _ d: SpecDecoder, baseDirectory: String,
                              checkFiles: Bool = true) -> ExperimentSpec? {
        let before = d.issues.count
        guard let root = d.object(json, "$", allowed: topLevelKeys) else { return nil }
        var resolved = JSONObject()

        // name, seed; then one decoder per section (SpecSections.swift, SpecEvalSection.swift)
        let name = d.string(root, "name", "$", default: "")
        if name.isEmpty {
            d.error("$.name", "is missing; give the experiment a name (letters, digits, '.', '_', '-')")
        } else if let problem = SpecLimits.nameProblem(name) {
            d.error("$.name", problem)
        }
        let seed = d.int(root, "seed", "$", default: 0, range: 0...Int(Int32.max))
        resolved["name"] = .string(name)
        if let description = root["description"] { resolved["description"] = description }
        resolved["seed"] = .int(Int64(seed))

        let files = SpecFiles(baseDirectory: baseDirectory, check: checkFiles)
        let beforeBackbone = d.issues.count
        let backbone = decodeBackbone(root["backbone"], d, files: files)
        // A backbone that failed to load leaves a stand-in config: checks of the model's shape
        // against it would only add false problems to the real one.
        let modelKnown = d.issues.count == beforeBackbone
        resolved["backbone"] = backbone.json
        let config = backbone.section.config
        let routers = decodeRouters(root["routers"], d, backbone: backbone, files: files)
        // Allowed (routers start at their init), but worth saying in the resolved spec.
        if let note = routers.note { resolved["note"] = note }
        resolved["routers"] = routers.json
        let precision = decodePrecision(root, d, quantization: backbone.quantization, training: root["train"] != nil)
        resolved["precision"] = precision.plan.specJSON
        let sampler = decodeSampler(root["sampler"], d, config: config)
        resolved["sampler"] = sampler.json
        let guidance = decodeGuidance(root["guidance"], d)
        resolved["guidance"] = guidance.json
        if guidance.interval != nil && guidance.scale == 1 {
            d.error("$.guidance.interval", "limits guidance to an interval, but guidance.scale is 1 (no guidance); set a scale other than 1 or drop the interval")
        }
        let routed = routers.width.type != NoWidthRouting.name || routers.token.type != NoTokenRouting.name
        // A spec that trains evaluates the weights it makes: files beside them are read at run time.
        let cache = decodeCache(root["cache"], d, weights: backbone.section.checkpoint.map(files.resolve),
                                files: root["train"] == nil ? files : SpecFiles(baseDirectory: baseDirectory, check: false))
        // Only when given: earlier runs' resolved specs (and so their identity) stay as they were.
        if root["cache"] != nil { resolved["cache"] = cache.json }
        let merge = decodeMerge(root["merge"], d, seed: UInt64(seed), config: modelKnown ? config : nil, routed: routed)
        if root["merge"] != nil { resolved["merge"] = merge.json }
        let accelerated = routed || cache.choice.type != NoStepCache.name || merge.choice.type != NoTokenMerging.name
        let (eval, evalJSON) = Eval.decode(root["eval"], d, config: config, modelKnown: modelKnown, routed: accelerated, files: files,
                                           runSampler: sampler.json)
        resolved["eval"] = evalJSON
        let compute = decodeCompute(root["compute"], d)
        resolved["compute"] = compute.json
        let output = decodeOutput(root["output"], d, name: name)
        resolved["output"] = output.json
        let (train, trainJSON) = decodeTrain(root["train"], d, backbone: backbone.plugin, seed: UInt64(seed),
                                             width: routers.width, token: routers.token)
        if let trainJSON { resolved["train"] = trainJSON }
        if root["sweep"] != nil { d.error("$.sweep", "is expanded before decoding; a single run cannot hold one") }
        if d.issues.count == before {
            SpecLimits.checkMemory(config, eval: eval, guided: guidance.scale != 1, precision: precision.plan.base,
                                   threads: compute.threads, trainBatch: train?.settings.batch,
                                   stepCacheBuffers: StepCacheRegistry.plugin(cache.choice.type)?.buffers(depth: config.depth) ?? 0, d)
        }

        guard d.issues.count == before else { return nil }
        return ExperimentSpec(name: name, seed: UInt64(seed), backbone: backbone.section,
                              width: routers.width, token: routers.token, precision: precision.name, precisionPlan: precision.plan,
                              sampler: sampler.choice,
                              guidanceScale: guidance.scale, guidanceChannels: guidance.channels,
                              guidanceInterval: guidance.interval, cache: cache.choice, merge: merge.choice, eval: eval,
                              threads: compute.threads, isa: compute.isa, outputDir: output.dir, grid: output.grid, gridScale: output.gridScale, train: train,
                              resolved: .object(resolved), baseDirectory: baseDirectory)
    }

    /// Every option name any sampler accepts (the sampler itself checks which apply).
    static func allSamplerOptionNames() -> [String] {
        Array(Set(Registry.samplers.flatMap { $0.options.map(\.name) })).sorted()
    }

    /// A `{"type": name, …options}` object for a plug-in, validated against its options.
    static func plugin(_ value: JSONValue?, _ path: String, _ d: SpecDecoder, default name: String, names: [String],
                       options: (String) -> [PluginOption]) -> PluginChoice {
        guard let value, value != .null else { return PluginChoice(type: name, options: PluginOptions(values: JSONObject(options(name).map { ($0.name, $0.defaultValue) }))) }
        let type: String
        var given = JSONObject()
        if let s = value.stringValue {
            type = s
        } else if let o = value.objectValue {
            type = o["type"]?.stringValue ?? name
            given = o
            given["type"] = nil
        } else {
            d.error(path, "is \(value.typeName) \(value.serialized()), expected {\"type\": …} or a name")
            return PluginChoice(type: name, options: PluginOptions(values: JSONObject()))
        }
        guard names.contains(type) else {
            let suggestion = closest(to: type, in: names)
            let hint = suggestion.map { " (did you mean '\($0)'?)" } ?? ""
            d.error(JSONLocator.child(path, "type"), "unknown type '\(type)'\(hint); valid: \(names.joined(separator: ", "))",
                    got: JSONValue.string(type).serialized(), expected: "one of \(names.joined(separator: ", "))", suggestion: suggestion)
            return PluginChoice(type: name, options: PluginOptions(values: JSONObject()))
        }
        return PluginChoice(type: type, options: Self.options(given, path, d, type: type, known: options(type)))
    }

    /// `given` checked against a plug-in's declared options (`known`), defaults filled in; each
    /// unknown key or refused value is an issue at its own path.
    static func options(_ given: JSONObject, _ path: String, _ d: SpecDecoder, type: String, known: [PluginOption]) -> PluginOptions {
        var values = JSONObject(known.map { ($0.name, $0.defaultValue) })
        for (key, v) in given {
            guard let option = known.first(where: { $0.name == key }) else {
                let suggestion = closest(to: key, in: known.map(\.name))
                let hint = suggestion.map { " (did you mean '\($0)'?)" } ?? ""
                let list = known.isEmpty ? "none" : known.map(\.name).joined(separator: ", ")
                d.error(JSONLocator.child(path, key), "unknown option '\(key)' for \(type)\(hint); options: \(list)",
                        got: JSONValue.string(key).serialized(), expected: "an option of \(type): \(list)", suggestion: suggestion)
                continue
            }
            if let problem = option.problem(with: v) {
                d.error(JSONLocator.child(path, key), problem, got: v.serialized(), expected: option.help)
                continue
            }
            values[key] = v
        }
        return PluginOptions(values: values)
    }

    /// Every precision's options, each name once.
    static var allPrecisionOptions: [PluginOption] {
        var seen = Set<String>(), out: [PluginOption] = []
        for o in Registry.precisions.flatMap({ $0.options }) where seen.insert(o.name).inserted { out.append(o) }
        return out
    }
}
