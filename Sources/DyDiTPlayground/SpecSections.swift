import DyDiTDiffusion
import DyDiTIO
import DyDiTModels

/// Where a spec's relative paths are read from, and whether its files are checked (a spec
/// being written may name files that do not exist yet).
struct SpecFiles {
    let baseDirectory: String
    let check: Bool

    func resolve(_ p: String) -> String { p.hasPrefix("/") || baseDirectory.isEmpty ? p : "\(baseDirectory)/\(p)" }

    /// What a step cache's options may read: the weights, files relative to the spec.
    func stepCacheContext(weights: String?) -> StepCacheContext {
        let base = baseDirectory
        return StepCacheContext(weights: weights, readsFiles: check) { SpecFiles(baseDirectory: base, check: false).resolve($0) }
    }
}

/// The spec's sections, one decoder each: the typed value and its resolved JSON (defaults
/// filled in, written once here), every problem recorded in the decoder with its path.
/// `decode` puts them together and checks what spans sections.
extension ExperimentSpec {
    /// The `backbone` section, with what later sections need to know of its file.
    struct DecodedBackbone {
        let section: Backbone
        let plugin: BackbonePlugin.Type
        /// Whether the checkpoint holds DyDiT routers.
        let routersInFile: Bool
        /// The precision a `dydit quantize` checkpoint was made in.
        let quantization: PrecisionPlan?
        let json: JSONValue
    }

    /// `backbone`: the type, and the sizes from a checkpoint's metadata, a named model or an
    /// explicit config.
    static func decodeBackbone(_ value: JSONValue?, _ d: SpecDecoder, files: SpecFiles) -> DecodedBackbone {
        let bPath = "$.backbone"
        let b = d.object(value, bPath, allowed: ["type"] + BackboneOptions.all.map(\.name))
        let type = d.string(b, "type", bPath, default: DiTBackbone.name, allowed: Registry.backbones.map { $0.name })
        let backbone: BackbonePlugin.Type = Registry.backbone(type) ?? DiTBackbone.self

        let checkpoint = d.optionalString(b, "checkpoint", bPath)
        var config = DiTConfig(hiddenSize: 384, depth: 12, numHeads: 6)
        var model: String? = nil
        var routersInFile = false
        var quantization: PrecisionPlan?
        if let checkpoint {
            for key in ["model", "config", "input_size", "in_channels", "num_classes", "learn_sigma"] where b?[key] != nil {
                d.error(JSONLocator.child(bPath, key), "cannot be set with a checkpoint: the sizes come from the checkpoint's config")
            }
            let path = files.resolve(checkpoint)
            if files.check {
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
        return DecodedBackbone(section: Backbone(type: type, model: model, config: config, checkpoint: checkpoint,
                                                 initialization: initName == "dit" ? .dit : .random),
                               plugin: backbone, routersInFile: routersInFile, quantization: quantization,
                               json: .object(backboneJSON))
    }

    /// `routers`: the width and token routers with their options (defaults: the backbone's), and
    /// a note for the resolved spec when learned routers start at their init.
    static func decodeRouters(_ value: JSONValue?, _ d: SpecDecoder, backbone: DecodedBackbone, files: SpecFiles)
        -> (width: PluginChoice, token: PluginChoice, note: JSONValue?, json: JSONValue) {
        let rPath = "$.routers"
        let r = d.object(value, rPath, allowed: ["width", "token"])
        let width = plugin(r?["width"], JSONLocator.child(rPath, "width"), d,
                           default: backbone.plugin.defaultWidthRouter,
                           names: Registry.widthRouterNames, options: Registry.widthRouterOptions)
        let token = plugin(r?["token"], JSONLocator.child(rPath, "token"), d,
                           default: backbone.plugin.defaultTokenRouter,
                           names: Registry.tokenRouterNames, options: Registry.tokenRouterOptions)
        if !backbone.plugin.routed && (width.type != "none" || token.type != "none") {
            let routed = Registry.backbones.filter { $0.routed }.map { "'\($0.name)'" }.joined(separator: " or ")
            d.error(rPath, "routers need backbone.type \(routed) (a \(backbone.section.type) backbone runs dense)")
        }
        let readsRouters = (Registry.widthRouter(width.type)?.readsCheckpointRouters ?? false)
            || (Registry.tokenRouter(token.type)?.readsCheckpointRouters ?? false)
        var note: JSONValue?
        if backbone.plugin.routed && backbone.section.checkpoint != nil && files.check && !backbone.routersInFile && readsRouters {
            // Allowed (routers start at their init), but worth saying in the resolved spec.
            note = .string("the checkpoint has no DyDiT routers: learned routers start at their fine-tuning init (everything on)")
        }
        let json = JSONValue.object(JSONObject([("width", .object(JSONObject([("type", .string(width.type))] + width.options.values.pairs.map { ($0.key, $0.value) }))),
                                                  ("token", .object(JSONObject([("type", .string(token.type))] + token.options.values.pairs.map { ($0.key, $0.value) })))]))
        if files.check {
            for (choice, path) in [(width, "width"), (token, "token")] {
                if let file = choice.options.string("file"), !FileReader.exists(files.resolve(file)) {
                    d.error("\(rPath).\(path).file", "'\(file)' does not exist (paths are relative to the spec's folder)")
                }
            }
        }
        return (width, token, note, json)
    }

    /// `precision`: `"fp16"`, or `{"type": "fp16", "fp32_layers": ["adaLN_modulation", "final_layer"]}`;
    /// a quantized checkpoint runs only in its own precision, and cannot be trained.
    static func decodePrecision(_ root: JSONObject, _ d: SpecDecoder, quantization: PrecisionPlan?, training: Bool)
        -> (name: String, plan: PrecisionPlan) {
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
        if let quantization, !quantization.sameLayers(as: precisionPlan) {
            d.error("$.precision", "is \(precisionPlan.specJSON.serialized()), but the checkpoint was quantized by `dydit quantize` to \(quantization.specJSON.serialized()) and runs only in that precision")
        }
        if let quantization, training {
            d.error("$.backbone.checkpoint", "is quantized (\(quantization)): training needs the float weights it was made from")
        }
        return (precision, precisionPlan)
    }

    /// `sampler` (or another object of its form at `sPath`, e.g. `eval.dense_sampler`): a
    /// registered sampler, its steps and diffusers-named options, checked by building it for
    /// the model's config.
    static func decodeSampler(_ value: JSONValue?, _ d: SpecDecoder, config: DiTConfig, path sPath: String = "$.sampler")
        -> (choice: SamplerChoice, json: JSONValue) {
        var s = d.object(value, sPath, allowed: ["type", "steps", "num_inference_steps"] + allSamplerOptionNames()) ?? JSONObject()
        let samplerName = d.string(s, "type", sPath, default: "dpm-solver++", allowed: SamplerRegistry.names)
        // The upper bound is the sampler's: its training timesteps (num_train_timesteps in diffusers' convention).
        // `num_inference_steps` is diffusers' name for it; the resolved spec says `steps` either way.
        let stepsKey = s["num_inference_steps"] != nil ? "num_inference_steps" : "steps"
        if s["num_inference_steps"] != nil && s["steps"] != nil {
            d.error(JSONLocator.child(sPath, "num_inference_steps"), "is diffusers' name for steps: give one of them")
        }
        let steps = d.int(s, stepsKey, sPath, default: 20, range: 1...Int.max)
        s["type"] = nil
        s["steps"] = nil
        s["num_inference_steps"] = nil
        let choice = SamplerChoice(name: samplerName, steps: steps, options: s)
        do {
            _ = try choice.make(config: config, source: String(sPath.dropFirst(2)))
        } catch let error as SamplerError {
            d.error(sPath, error.detailWithScheduler)
        } catch {
            d.error(sPath, "\(error)")
        }
        let json = JSONValue.object(JSONObject([("type", .string(samplerName)), ("steps", .int(Int64(steps)))] + s.pairs.map { ($0.key, $0.value) }))
        return (choice, json)
    }

    /// `merge`: token merging by name (`"tome"` or `{"type": "tome", "ratio": 0.5}`), on the
    /// dense model (with routers it is refused).
    static func decodeMerge(_ value: JSONValue?, _ d: SpecDecoder, seed: UInt64, config: DiTConfig?, routed: Bool)
        -> (choice: PluginChoice, json: JSONValue) {
        pluginSection(value, "$.merge", d, none: NoTokenMerging.name, plugins: TokenMergingRegistry.plugins) { choice in
            if routed { throw SamplerError("token merging runs on the dense model; with routers it is not implemented (leave out the routers or the merge)") }
            _ = try TokenMergingRegistry.make(choice.type, options: choice.options.values, seed: seed, config: config, source: "merge")
        }
    }

    /// A section naming one plug-in of `plugins` with its options: decoded, its options
    /// checked against the declaration, then `build` (the plug-in's own checks) unless it is
    /// `none`; a `SamplerError`'s detail is reported at `path`.
    static func pluginSection(_ value: JSONValue?, _ path: String, _ d: SpecDecoder, none: String, plugins: [NamedPlugin.Type],
                              build: (PluginChoice) throws -> Void) -> (choice: PluginChoice, json: JSONValue) {
        let choice = plugin(value, path, d, default: none, names: plugins.map { $0.name }) { name in
            plugins.first { $0.name == name }?.options ?? []
        }
        if choice.type != none {
            do {
                try build(choice)
            } catch let error as SamplerError {
                d.error(path, error.detail)
            } catch {
                d.error(path, "\(error)")
            }
        }
        let json = JSONValue.object(JSONObject([("type", .string(choice.type))] + choice.options.values.pairs.map { ($0.key, $0.value) }))
        return (choice, json)
    }

    /// `cache`: a step cache by name (`"fora"` or `{"type": "fora", "interval": 3}`), on the
    /// dense model or stacked on DyDiT's routers (their fast path). `weights`: the backbone's
    /// checkpoint (TeaCache's coefficients are found beside it).
    static func decodeCache(_ value: JSONValue?, _ d: SpecDecoder, weights: String?, files: SpecFiles) -> (choice: PluginChoice, json: JSONValue) {
        pluginSection(value, "$.cache", d, none: NoStepCache.name, plugins: StepCacheRegistry.plugins) { choice in
            _ = try StepCacheRegistry.make(choice.type, options: choice.options.values,
                                           context: files.stepCacheContext(weights: weights), source: "cache")
        }
    }

    /// `guidance`: classifier-free guidance's scale, channels and (optionally) the interval of
    /// model timesteps where it applies (`"interval": [low, high]`, both included; in the
    /// resolved spec only when given, so earlier runs keep their identity).
    static func decodeGuidance(_ value: JSONValue?, _ d: SpecDecoder)
        -> (scale: Double, channels: GuidanceChannels, interval: ClosedRange<Double>?, json: JSONValue) {
        let gPath = "$.guidance"
        let g = d.object(value, gPath, allowed: ["scale", "channels", "interval"])
        let scale = d.double(g, "scale", gPath, default: 1.5, check: ({ $0 >= 0 }, "a number ≥ 0 (1 = no guidance)"))
        let channels = d.string(g, "channels", gPath, default: "dit", allowed: GuidanceChannels.allCases.map(\.rawValue))
        let interval = decodeGuidanceInterval(g?["interval"], JSONLocator.child(gPath, "interval"), d)
        var json = JSONObject([("scale", .double(scale)), ("channels", .string(channels))])
        if let interval { json["interval"] = .array([.double(interval.lowerBound), .double(interval.upperBound)]) }
        return (scale, GuidanceChannels(rawValue: channels) ?? .dit, interval, .object(json))
    }

    /// `[low, high]`: two finite numbers, 0 ≤ low ≤ high (model timesteps, 0 = clean).
    private static func decodeGuidanceInterval(_ value: JSONValue?, _ path: String, _ d: SpecDecoder) -> ClosedRange<Double>? {
        guard let value, value != .null else { return nil }
        let expected = "[low, high]: two model timesteps with 0 ≤ low ≤ high (e.g. [100, 700]; DiT's 1000-step schedule, 0 = clean)"
        guard let a = value.arrayValue, a.count == 2, let low = a[0].doubleValue, let high = a[1].doubleValue else {
            d.error(path, "\(value.serialized()) is not an interval; expected \(expected)", got: value.serialized(), expected: expected)
            return nil
        }
        if let problem = Guidance.intervalProblem(low: low, high: high) {
            d.error(path, "\(value.serialized()) is not allowed: \(problem); expected \(expected)", got: value.serialized(), expected: expected)
            return nil
        }
        return low...high
    }

    /// `compute`: threads and instruction set.
    static func decodeCompute(_ value: JSONValue?, _ d: SpecDecoder) -> (threads: Int, isa: String?, json: JSONValue) {
        let cPath = "$.compute"
        let c = d.object(value, cPath, allowed: ["threads", "isa"])
        let threads = SpecLimits.threads(c, cPath, d)
        let isa = d.optionalString(c, "isa", cPath)
        if let isa, !["portable", "avx2", "avx512"].contains(isa) {
            d.error("\(cPath).isa", "'\(isa)' is not one of portable, avx2, avx512 (or null: the best this CPU runs)")
        }
        let json = JSONValue.object(JSONObject([("threads", .int(Int64(threads))), ("isa", isa.map { .string($0) } ?? .null)]))
        return (threads, isa, json)
    }

    /// `output`: the folder (default `runs/<name>`), whether to draw grids, and their upscale
    /// factor (`grid_scale`, 1–16; in the resolved spec only when given, so earlier runs keep
    /// their keys).
    static func decodeOutput(_ value: JSONValue?, _ d: SpecDecoder, name: String)
        -> (dir: String, grid: Bool, gridScale: Int, json: JSONValue) {
        let oPath = "$.output"
        let o = d.object(value, oPath, allowed: ["dir", "grid", "grid_scale"])
        let dir = d.string(o, "dir", oPath, default: "runs/\(name)")
        let grid = d.bool(o, "grid", oPath, default: true)
        let gridScale = d.int(o, "grid_scale", oPath, default: 1, range: 1...16)
        var json = JSONObject([("dir", .string(dir)), ("grid", .bool(grid))])
        if o?["grid_scale"] != nil { json["grid_scale"] = .int(Int64(gridScale)) }
        return (dir, grid, gridScale, .object(json))
    }

    /// `train` (only `dydit train` reads it; `dydit run` evaluates the backbone as it is). The
    /// routers a fine-tune learns are the ones it will sample with: TDW and/or SDT, or SDT's
    /// whole-layer vote (layer-skip) — the paper's ablations.
    static func decodeTrain(_ value: JSONValue?, _ d: SpecDecoder, backbone: BackbonePlugin.Type, seed: UInt64,
                            width: PluginChoice, token: PluginChoice) -> (TrainSpec?, JSONValue?) {
        var train: TrainSpec? = nil, resolved: JSONValue? = nil
        if let t = value, t != .null {
            if let (decoded, json) = TrainSpec.decode(t, d, dydit: backbone.routed, seed: seed) {
                train = decoded
                resolved = json
                if backbone.routed, var f = train?.settings.dydit {
                    if !["tdw", "none"].contains(width.type) || !["sdt", "layer-skip", "none"].contains(token.type)
                        || (width.type == "none" && token.type == "none") {
                        d.error("$.routers", "DyDiT fine-tuning learns routers.width 'tdw' (or 'none') and routers.token 'sdt', 'layer-skip' (or 'none'), at least one of them; got \(width.type)/\(token.type)")
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
        return (train, resolved)
    }
}
