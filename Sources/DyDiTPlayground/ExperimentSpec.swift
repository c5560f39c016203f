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
    public var sampler: String
    public var steps: Int
    public var samplerOptions: JSONObject
    public var guidanceScale: Double
    public var guidanceChannels: GuidanceChannels
    public var eval: Eval
    public var threads: Int
    public var isa: String?
    public var outputDir: String
    public var grid: Bool
    /// The `train` section, when the spec has one.
    public var train: TrainSpec?
    /// The spec with every default filled in, as each run saves it.
    public var resolved: JSONValue
    /// The spec file's folder: relative paths in the spec are relative to it.
    public var baseDirectory: String

    public static let topLevelKeys = ["name", "seed", "backbone", "routers", "precision", "sampler", "guidance", "eval",
                                      "compute", "output", "train", "sweep", "description"]

    public func resolvePath(_ path: String) -> String {
        path.hasPrefix("/") || baseDirectory.isEmpty ? path : "\(baseDirectory)/\(path)"
    }

    /// Decodes `json` (one run: no sweep left in it), recording every problem in `d`.
    /// Returns nil when there were problems.
    public static func decode(_ json: JSONValue, _ d: SpecDecoder, baseDirectory: String,
                              checkFiles: Bool = true) -> ExperimentSpec? {
        let before = d.issues.count
        guard let root = d.object(json, "$", allowed: topLevelKeys) else { return nil }
        var resolved = JSONObject()

        // name, seed
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

        // backbone
        let bPath = "$.backbone"
        let b = d.object(root["backbone"], bPath, allowed: ["type"] + BackboneOptions.all.map(\.name))
        let type = d.string(b, "type", bPath, default: DiTBackbone.name, allowed: Registry.backbones.map { $0.name })
        let backbone: BackbonePlugin.Type = Registry.backbone(type) ?? DiTBackbone.self

        let checkpoint = d.optionalString(b, "checkpoint", bPath)
        let baseDir = baseDirectory
        let resolve = { (p: String) in p.hasPrefix("/") || baseDir.isEmpty ? p : "\(baseDir)/\(p)" }
        var config = DiTConfig(hiddenSize: 384, depth: 12, numHeads: 6)
        var model: String? = nil
        var routersInFile = false
        var quantization: PrecisionPlan?
        if let checkpoint {
            for key in ["model", "config", "input_size", "in_channels", "num_classes", "learn_sigma"] where b?[key] != nil {
                d.error(JSONLocator.child(bPath, key), "cannot be set with a checkpoint: the sizes come from the checkpoint's config")
            }
            let path = resolve(checkpoint)
            if checkFiles {
                do {
                    let file = try SafeTensorsFile(path: path)
                    config = try DiTConfig(file: file)
                    routersInFile = file.names.contains(where: Checkpoint.isRouterTensor)
                    quantization = try QuantizedFormat.plan(of: file)
                } catch {
                    d.error(JSONLocator.child(bPath, "checkpoint"), "\(error)")
                }
            }
        } else {
            let inputSize = d.int(b, "input_size", bPath, default: Int(BackboneOptions.defaultValue("input_size").intValue!), range: 1...4096)
            let inChannels = d.int(b, "in_channels", bPath, default: Int(BackboneOptions.defaultValue("in_channels").intValue!), range: 1...64)
            let numClasses = d.int(b, "num_classes", bPath, default: Int(BackboneOptions.defaultValue("num_classes").intValue!), range: 1...1_000_000)
            let learnSigma = d.bool(b, "learn_sigma", bPath, default: BackboneOptions.defaultValue("learn_sigma").boolValue!)
            if let c = b?["config"], c != .null {
                if b?["model"] != nil { d.error(JSONLocator.child(bPath, "model"), "give either model or config, not both") }
                var sizes = c.objectValue ?? JSONObject()
                for (key, value) in [("input_size", inputSize), ("in_channels", inChannels), ("num_classes", numClasses)] where sizes[key] == nil {
                    sizes[key] = .int(Int64(value))
                }
                if sizes["learn_sigma"] == nil { sizes["learn_sigma"] = .bool(learnSigma) }
                do { config = try DiTConfig(json: .object(sizes), source: d.file) } catch ModelError.badConfig(_, let detail) {
                    d.error(JSONLocator.child(bPath, "config"), detail)
                } catch {
                    d.error(JSONLocator.child(bPath, "config"), "\(error)")
                }
            } else {
                let named = d.string(b, "model", bPath, default: BackboneOptions.defaultValue("model").stringValue!)
                do {
                    config = try DiTConfig.named(named, inputSize: inputSize, inChannels: inChannels, numClasses: numClasses,
                                                 learnSigma: learnSigma)
                    model = named
                    if let problem = config.problems().first { d.error(bPath, problem) }
                } catch {
                    d.error(JSONLocator.child(bPath, "model"), "\(error)")
                }
            }
        }
        let initName = d.string(b, "init", bPath, default: BackboneOptions.defaultValue("init").stringValue!, allowed: ["random", "dit"])
        if checkpoint != nil && b?["init"] != nil { d.error(JSONLocator.child(bPath, "init"), "applies only without a checkpoint") }
        var backboneJSON = JSONObject([("type", .string(type))])
        if let checkpoint {
            backboneJSON["checkpoint"] = .string(checkpoint)
        } else {
            if let model { backboneJSON["model"] = .string(model) }
            backboneJSON["config"] = config.json
            backboneJSON["init"] = .string(initName)
        }
        resolved["backbone"] = .object(backboneJSON)

        // routers
        let rPath = "$.routers"
        let r = d.object(root["routers"], rPath, allowed: ["width", "token"])
        let width = plugin(r?["width"], JSONLocator.child(rPath, "width"), d,
                           default: backbone.defaultWidthRouter,
                           names: Registry.widthRouterNames, options: Registry.widthRouterOptions)
        let token = plugin(r?["token"], JSONLocator.child(rPath, "token"), d,
                           default: backbone.defaultTokenRouter,
                           names: Registry.tokenRouterNames, options: Registry.tokenRouterOptions)
        if !backbone.routed && (width.type != "none" || token.type != "none") {
            let routed = Registry.backbones.filter { $0.routed }.map { "'\($0.name)'" }.joined(separator: " or ")
            d.error(rPath, "routers need backbone.type \(routed) (a \(type) backbone runs dense)")
        }
        let readsRouters = (Registry.widthRouter(width.type)?.readsCheckpointRouters ?? false)
            || (Registry.tokenRouter(token.type)?.readsCheckpointRouters ?? false)
        if backbone.routed && checkpoint != nil && checkFiles && !routersInFile && readsRouters {
            // Allowed (routers start at their init), but worth saying in the resolved spec.
            resolved["note"] = .string("the checkpoint has no DyDiT routers: learned routers start at their fine-tuning init (everything on)")
        }
        resolved["routers"] = .object(JSONObject([("width", .object(JSONObject([("type", .string(width.type))] + width.options.values.pairs.map { ($0.key, $0.value) }))),
                                                  ("token", .object(JSONObject([("type", .string(token.type))] + token.options.values.pairs.map { ($0.key, $0.value) })))]))
        if checkFiles {
            for (choice, path) in [(width, "width"), (token, "token")] {
                if let file = choice.options.string("file"), !FileReader.exists(resolve(file)) {
                    d.error("\(rPath).\(path).file", "'\(file)' does not exist (paths are relative to the spec's folder)")
                }
            }
        }

        // precision: "fp16", or {"type": "fp16", "fp32_layers": ["adaLN_modulation", "final_layer"]}.
        let precisionNames = Registry.precisions.map { $0.name }
        var precision = FP32Precision.name
        var precisionGiven = JSONObject()
        var precisionKnown = true
        if let value = root["precision"], let o = value.objectValue {
            _ = d.object(value, "$.precision", allowed: ["type"] + Self.allPrecisionOptions.map(\.name))
            precision = d.string(o, "type", "$.precision", default: FP32Precision.name, allowed: precisionNames)
            precisionGiven = o
            precisionGiven["type"] = nil
            precisionKnown = Registry.precision(o["type"]?.stringValue ?? precision) != nil
        } else {
            precision = d.string(root, "precision", "$", default: FP32Precision.name, allowed: precisionNames)
        }
        // An unknown type's options are still checked (against every precision's), so one pass finds both problems.
        let precisionPlugin: PrecisionPlugin.Type = Registry.precision(precision) ?? FP32Precision.self
        let precisionOptions = Self.options(precisionGiven, "$.precision", d, type: precision,
                                            known: precisionKnown ? precisionPlugin.options : Self.allPrecisionOptions)
        let precisionPlan = precisionPlugin.plan(precisionOptions)
        resolved["precision"] = precisionPlan.specJSON
        if let quantization, !quantization.sameLayers(as: precisionPlan) {
            d.error("$.precision", "is \(precisionPlan.specJSON.serialized()), but the checkpoint was quantized by `dydit quantize` to \(quantization.specJSON.serialized()) and runs only in that precision")
        }
        if let quantization, root["train"] != nil {
            d.error(JSONLocator.child(bPath, "checkpoint"), "is quantized (\(quantization)): training needs the float weights it was made from")
        }

        // sampler
        let sPath = "$.sampler"
        var s = d.object(root["sampler"], sPath, allowed: ["type", "steps"] + allSamplerOptionNames()) ?? JSONObject()
        let samplerName = d.string(s, "type", sPath, default: "dpm-solver++", allowed: SamplerRegistry.names)
        // The upper bound is the sampler's: its training timesteps (num_train_timesteps in diffusers' convention).
        let steps = d.int(s, "steps", sPath, default: 20, range: 1...Int.max)
        s["type"] = nil
        s["steps"] = nil
        do {
            _ = try SamplerRegistry.make(samplerName, steps: steps, options: s, config: config, source: "sampler")
        } catch let error as SamplerError {
            d.error(sPath, error.detailWithScheduler)
        } catch {
            d.error(sPath, "\(error)")
        }
        resolved["sampler"] = .object(JSONObject([("type", .string(samplerName)), ("steps", .int(Int64(steps)))] + s.pairs.map { ($0.key, $0.value) }))

        // guidance
        let gPath = "$.guidance"
        let g = d.object(root["guidance"], gPath, allowed: ["scale", "channels"])
        let scale = d.double(g, "scale", gPath, default: 1.5, check: ({ $0 >= 0 }, "a number ≥ 0 (1 = no guidance)"))
        let channels = d.string(g, "channels", gPath, default: "dit", allowed: GuidanceChannels.allCases.map(\.rawValue))
        resolved["guidance"] = .object(JSONObject([("scale", .double(scale)), ("channels", .string(channels))]))

        // eval
        let ePath = "$.eval"
        let e = d.object(root["eval"], ePath, allowed: ["metrics", "samples", "classes", "batch", "dense_baseline", "dense_checkpoint", "timing",
                                                        "test", "reference", "classifier", "seeds"])
        let metrics = d.stringArray(e, "metrics", ePath, default: Registry.defaultMetrics, allowed: Registry.metrics.map { $0.name })
        let samples = d.int(e, "samples", ePath, default: 8, range: 1...100_000)
        let maxLabel = config.numClasses - 1
        var classes = d.intArray(e, "classes", ePath, default: nil) ?? Array(0..<min(samples, config.numClasses))
        if classes.isEmpty { d.error(JSONLocator.child(ePath, "classes"), "is empty; give at least one class"); classes = [0] }
        for (i, label) in classes.enumerated() where label < 0 || label > maxLabel {
            d.error(JSONLocator.element(JSONLocator.child(ePath, "classes"), i), "class \(label) is outside 0…\(maxLabel)")
        }
        let batch = d.int(e, "batch", ePath, default: min(samples, 8), range: 1...4096)
        let dense = d.bool(e, "dense_baseline", ePath, default: width.type != "none" || token.type != "none")
        let denseCheckpoint = d.optionalString(e, "dense_checkpoint", ePath)
        if let denseCheckpoint {
            if !dense {
                d.error(JSONLocator.child(ePath, "dense_checkpoint"), "needs a dense baseline: routers and eval.dense_baseline true")
            } else if checkFiles && !FileReader.exists(resolve(denseCheckpoint)) {
                d.error(JSONLocator.child(ePath, "dense_checkpoint"), "\(resolve(denseCheckpoint)) does not exist: give the dense base model's weights (.safetensors), or leave it out to run the run's own weights dense")
            }
        }
        let timingPath = JSONLocator.child(ePath, "timing")
        let timingObject = d.object(e?["timing"], timingPath, allowed: ["rounds", "images"])
        let timingRounds = d.int(timingObject, "rounds", timingPath, default: 5, range: 1...1000)
        let timingImages: Int? = timingObject?["images"].flatMap { $0 == .null ? nil : d.int(timingObject, "images", timingPath, default: samples, range: 1...100_000) }
        let tPath = JSONLocator.child(ePath, "test")
        let tObj = d.object(e?["test"], tPath, allowed: ["dataset", "images", "timesteps"])
        let testData = DatasetChoice.decode(tObj?["dataset"], JSONLocator.child(tPath, "dataset"), d, split: "test",
                                            pathNeeded: metrics.contains("test-loss"))
        let testImages = d.int(tObj, "images", tPath, default: 256, range: 1...1_000_000)
        let testSteps = d.int(tObj, "timesteps", tPath, default: 10, range: 1...999)
        let test = TestSet(dataset: testData, images: testImages, timesteps: testSteps)
        let featureMetrics = metrics.filter { FeatureMetrics.named($0) != nil }
        let reference = d.string(e, "reference", ePath, default: "fashion-mnist:test")
        let classifier = d.optionalString(e, "classifier", ePath) ?? ClassifierLocation.defaultPath(specDirectory: baseDirectory)
        let seeds = d.int(e, "seeds", ePath, default: 1, range: 1...100)
        if !featureMetrics.isEmpty && checkFiles {
            if !FileReader.exists(resolve(classifier)) {
                d.error(JSONLocator.child(ePath, "classifier"), "\(resolve(classifier)) does not exist: \(featureMetrics.joined(separator: ", ")) need the Fashion-MNIST classifier (Experiments/checkpoints/fashion-mnist-classifier.safetensors, or `dydit classifier train`)")
            }
            if !reference.hasPrefix("fashion-mnist:") && !FileReader.exists(resolve(reference)) {
                d.error(JSONLocator.child(ePath, "reference"), "\(resolve(reference)) does not exist; a reference is \(ImageSource.forms)")
            }
            if config.inChannels != 1 || (config.inputSize != 28 && config.inputSize != 32) {
                d.error(JSONLocator.child(ePath, "metrics"), "\(featureMetrics.joined(separator: ", ")) score 28×28 or 32×32 gray images with the Fashion-MNIST classifier; this model draws \(config.inputSize)×\(config.inputSize)×\(config.inChannels)")
            }
        }
        var timingJSON = JSONObject([("rounds", JSONValue.int(Int64(timingRounds)))])
        // `images` and `dense_checkpoint` only when given: earlier runs keep their keys.
        if let timingImages { timingJSON["images"] = .int(Int64(timingImages)) }
        var evalJSON = JSONObject([("metrics", .array(metrics.map { .string($0) })), ("samples", .int(Int64(samples))),
                                   ("classes", .array(classes.map { .int(Int64($0)) })), ("batch", .int(Int64(batch))),
                                   ("dense_baseline", .bool(dense))])
        if let denseCheckpoint { evalJSON["dense_checkpoint"] = .string(denseCheckpoint) }
        evalJSON["timing"] = .object(timingJSON)
        evalJSON["test"] = .object(JSONObject([
            ("dataset", testData.resolvedJSON),
            ("images", .int(Int64(testImages))), ("timesteps", .int(Int64(testSteps)))]))
        evalJSON["reference"] = .string(reference)
        evalJSON["classifier"] = .string(classifier)
        evalJSON["seeds"] = .int(Int64(seeds))
        resolved["eval"] = .object(evalJSON)

        // compute
        let cPath = "$.compute"
        let c = d.object(root["compute"], cPath, allowed: ["threads", "isa"])
        let threads = SpecLimits.threads(c, cPath, d)
        let isa = d.optionalString(c, "isa", cPath)
        if let isa, !["portable", "avx2", "avx512"].contains(isa) {
            d.error("\(cPath).isa", "'\(isa)' is not one of portable, avx2, avx512 (or null: the best this CPU runs)")
        }
        resolved["compute"] = .object(JSONObject([("threads", .int(Int64(threads))), ("isa", isa.map { .string($0) } ?? .null)]))

        // output
        let oPath = "$.output"
        let o = d.object(root["output"], oPath, allowed: ["dir", "grid"])
        let dir = d.string(o, "dir", oPath, default: "runs/\(name)")
        let grid = d.bool(o, "grid", oPath, default: true)
        resolved["output"] = .object(JSONObject([("dir", .string(dir)), ("grid", .bool(grid))]))

        // train (only `dydit train` reads it; `dydit run` evaluates the backbone as it is)
        var train: TrainSpec? = nil
        if let t = root["train"], t != .null {
            if let (decoded, json) = TrainSpec.decode(t, d, dydit: backbone.routed, seed: UInt64(seed)) {
                train = decoded
                resolved["train"] = json
                // The routers a fine-tune learns are the ones it will sample with: TDW and/or SDT,
                // or SDT's whole-layer vote (layer-skip) — the paper's ablations.
                if backbone.routed, var f = train?.settings.dydit {
                    if !["tdw", "none"].contains(width.type) || !["sdt", "layer-skip", "none"].contains(token.type)
                        || (width.type == "none" && token.type == "none") {
                        d.error(rPath, "DyDiT fine-tuning learns routers.width 'tdw' (or 'none') and routers.token 'sdt', 'layer-skip' (or 'none'), at least one of them; got \(width.type)/\(token.type)")
                    }
                    if f.width == .static && width.type != "tdw" {
                        d.error(JSONLocator.child("$.train", "static_width"), "learns a static width through the TDW routers: set routers.width to 'tdw'")
                    }
                    if width.type == "none" { f.width = .off }
                    f.tokens = token.type == "sdt" ? .dynamic : token.type == "layer-skip" ? .layer(threshold: token.options.double("threshold")) : .off
                    train!.settings.dydit = f
                }
            }
        }
        if root["sweep"] != nil { d.error("$.sweep", "is expanded before decoding; a single run cannot hold one") }
        let evalSettings = Eval(metrics: metrics, samples: samples, classes: classes, batch: batch, denseBaseline: dense,
                                timingRounds: timingRounds, timingImages: timingImages, denseCheckpoint: denseCheckpoint, test: test, reference: reference, classifier: classifier, seeds: seeds)
        if d.issues.count == before {
            SpecLimits.checkMemory(config, eval: evalSettings, guided: scale != 1, precision: precisionPlan.base, threads: threads,
                                   trainBatch: train?.settings.batch, d)
        }

        guard d.issues.count == before else { return nil }
        return ExperimentSpec(name: name, seed: UInt64(seed),
                              backbone: Backbone(type: type, model: model, config: config, checkpoint: checkpoint,
                                                 initialization: initName == "dit" ? .dit : .random),
                              width: width, token: token, precision: precision, precisionPlan: precisionPlan,
                              sampler: samplerName, steps: steps,
                              samplerOptions: s, guidanceScale: scale, guidanceChannels: GuidanceChannels(rawValue: channels)!,
                              eval: evalSettings,
                              threads: threads, isa: isa, outputDir: dir, grid: grid, train: train,
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
        for o in Registry.precisions.flatMap { $0.options } where seen.insert(o.name).inserted { out.append(o) }
        return out
    }
}
