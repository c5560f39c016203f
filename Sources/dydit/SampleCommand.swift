import ArgumentParser
import DyDiTDiffusion
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTPlayground
import DyDiTTraining
import Foundation

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Sample images (or latents) from a DiT/DyDiT with any sampler, optionally with routers.",
        discussion: """
        Writes the raw samples as safetensors (`samples` [N, C, H, W], `classes` [N]) beside --out, and \
        for 1- or 3-channel models a PNG grid at --out (values mapped from [-1, 1]); with --out \
        X.safetensors, the samples file alone (what `dydit metrics` scores). 4-channel models \
        sample VAE latents: only the safetensors file is written (decoding needs a VAE).

        Samplers: \(SamplerRegistry.names.joined(separator: ", ")). Options by diffusers' names with \
        --option key=value (repeatable), or a whole diffusers scheduler_config.json with --scheduler-config.
        """)

    @Option(name: [.long, .customLong("model"), .customShort("m")],
            help: "Weights (.safetensors with the config in its metadata); -m/--model as in stable-diffusion.cpp.")
    var weights: String
    @Option(name: [.long, .customLong("sampling-method")],
            help: "Sampler: \(SamplerRegistry.names.joined(separator: ", ")) (default: \(Self.defaultSampler)); --sampling-method as in stable-diffusion.cpp, whose euler_a and dpm++2m are taken too.")
    var sampler: String?
    @Option(name: [.customLong("steps"), .customLong("num-inference-steps")], help: "Sampling steps (--num-inference-steps: diffusers' name).")
    var steps: Int = 20
    @Option(name: .customLong("option"), help: "A sampler option, key=value (JSON value; repeatable), e.g. solver_order=3.")
    var options: [String] = []
    @Option(help: "A diffusers scheduler_config.json; its _class_name picks the scheduler.")
    var schedulerConfig: String?
    @Option(name: [.long, .customLong("cfg-scale")], help: "Classifier-free guidance scale (1 = no guidance); --cfg-scale as in stable-diffusion.cpp.")
    var cfg: Float = 1.5
    @Option(help: "Guided channels: dit (first 3, the official quirk) or eps (all in_channels).")
    var guidance: GuidanceChannels = .dit
    @Option(help: "Guide only at model timesteps LOW…HIGH (both included, 0 = clean), e.g. 100,700; elsewhere the conditional prediction alone, without the unconditional forward (Kynkäänniemi et al. 2024). Default: every step.")
    var guidanceInterval: String?
    @Option(help: "Class labels, comma-separated: numbers, or for a 10-class model Fashion-MNIST's names (trouser,bag,ankle-boot; case and punctuation ignored). Default: the first min(8, classes).")
    var classes: String?
    @Option(name: [.long, .customShort("s")], parsing: .unconditional,
            help: "Seed of the documented generator (xT and every noise draw); -1 draws a random seed, printed and recorded in the samples file.")
    var seed: Int64 = 0
    @Option(name: [.long, .customShort("o")], help: "Output PNG grid (the safetensors samples go beside it).")
    var out: String = "samples.png"
    @Option(help: "Grid columns, filled in order without labels (default: one column per class, named under it).")
    var columns: Int?
    @Option(help: "Upscale the grid by this factor, 1–16 (nearest neighbour; e.g. 4 to see a 28-pixel garment).")
    var scale: Int = 1
    @Option(help: "DyDiT routers, comma-separated, any registered in `dydit list`: none; tdw (learned width); sdt (learned tokens); layer-skip (whole MLP layers, from the SDT router); random (width and tokens at --width-keep/--token-keep); static (masks from --static-masks). width:NAME or token:NAME picks one kind.")
    var routers: String = "none"
    @Option(help: "A router option, width.KEY=VALUE or token.KEY=VALUE (repeatable), e.g. token.threshold=0.4; the options are in `dydit list`.")
    var routerOption: [String] = []
    @Option(help: "Static masks (.safetensors: attn_masks_all_t and mlp_masks_all_t [T, depth, NH], optionally token_masks [depth, N]), for --routers static.")
    var staticMasks: String?
    @Option(help: "Keep ratio of random width routers.")
    var widthKeep: Double = 0.5
    @Option(help: "Keep ratio of random token routers.")
    var tokenKeep: Double = 0.6
    @Flag(inversion: .prefixedNo, help: "With routers, also sample with the dense model to compare time per image.")
    var denseBaseline = true
    @Option(help: "Weight precision of the linear layers: fp32, fp16, int8 or bf16 (default: the file's own, fp32 or what `dydit quantize` stored).")
    var precision: WeightPrecision?
    @Option(help: "Memory for the fast path's sliced weights, in MB (default: as much as the blocks' weights).")
    var sliceBudgetMb: Int?
    @Option(help: "Step cache, any in `dydit list`: none; fora (reuse every block's attention and MLP outputs between full steps); delta-dit (reuse a range of blocks' residual); teacache (skip the whole model while its input changes little; needs --fit-teacache first); l2c (learned per-layer reuse every other step; routers=PATH from dydit train with train.l2c). With --routers they stack on DyDiT.")
    var cache: String = "none"
    @Option(help: "A step-cache option, key=value (repeatable), e.g. interval=3.")
    var cacheOption: [String] = []
    @Option(help: "Token merging, any in `dydit list`: none, or tome (merge similar tokens before attention, copy back after; the dense model only).")
    var merge: String = "none"
    @Option(help: "A token-merging option, key=value (repeatable), e.g. ratio=0.5.")
    var mergeOption: [String] = []
    @Flag(help: "Sample without a cache and fit TeaCache's rescaling polynomial to these trajectories; writes X.teacache.json beside the weights X.safetensors (what --cache teacache reads). Without --classes: 10 images per class.")
    var fitTeacache = false
    @Flag(help: "Print the time of each operation kind over the whole sampling run, the routed model beside the dense one (where a dynamic model's time goes).")
    var profile = false
    @OptionGroup var compute: ComputeOptions

    static let defaultSampler = "dpm-solver++"

    /// `LOW,HIGH` with 0 ≤ LOW ≤ HIGH.
    static func parseInterval(_ text: String) throws -> ClosedRange<Double> {
        let expected = "expected LOW,HIGH, two model timesteps with 0 ≤ LOW ≤ HIGH (e.g. 100,700)"
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let low = parts[0], let high = parts[1] else {
            throw ValidationError("--guidance-interval \(text): \(expected)")
        }
        if let problem = Guidance.intervalProblem(low: low, high: high) {
            throw ValidationError("--guidance-interval \(text): \(problem); \(expected)")
        }
        return low...high
    }

    func run() throws {
        try reportingErrors {
            try requireFinite([("--cfg", Double(cfg)), ("--width-keep", widthKeep), ("--token-keep", tokenKeep)])
            guard (1...16).contains(scale) else { throw ValidationError("--scale \(scale): an upscale factor is 1 to 16") }
            if let columns, columns < 1 { throw ValidationError("--columns \(columns): a grid has at least 1 column") }
            guard seed >= -1 else { throw ValidationError("--seed \(seed): a seed is ≥ 0, or -1 for a random one") }
            let seed = seed == -1 ? UInt64.random(in: 0...UInt64(Int64.max)) : UInt64(seed)
            if self.seed == -1 { printError("seed: \(seed) (random; --seed \(seed) draws these samples again)") }
            let channels = guidance
            let ckpt = try Checkpoint(path: weights)
            let c = ckpt.config
            let labels = fitTeacache && classes == nil ? TeaCacheFitting.defaultLabels(c) : try parseClasses(c)
            let images = labels.count
            let sampler = try makeSampler(c)
            let ctx = try compute.context()
            if let mb = sliceBudgetMb, mb < 0 { throw ValidationError("--slice-budget-mb must be ≥ 0") }
            let plan = ckpt.plan(asking: precision)
            if plan.base == .bf16, let note = BF16Path.fallbackNote(isa: ctx.isa, what: "the model's products") { printError(note) }
            let model = DiT(try ckpt.parameters(for: plan), ctx: ctx, sliceBudgetBytes: sliceBudgetMb.map { $0 << 20 },
                            precision: plan)
            let routing = try makeRouting(ckpt, isa: ctx.isa, seed: seed)
            let interval = try guidanceInterval.map(Self.parseInterval)
            if interval != nil && cfg == 1 { throw ValidationError("--guidance-interval limits guidance, but --cfg is 1 (no guidance): set --cfg to a scale other than 1 or drop the interval") }
            let guide = cfg == 1 ? nil : Guidance(scale: cfg, channels: channels, interval: interval)
            if fitTeacache && cache != NoStepCache.name { throw ValidationError("--fit-teacache samples without a cache; leave out --cache \(cache)") }
            let recorder = fitTeacache ? TeaCacheRecorder() : nil
            let caching = try recorder.map { TeaCacheCalibration(recorder: $0) } ?? makeCaching()
            let merging = try TokenMergingRegistry.make(merge, options: Self.keyValues(mergeOption, flag: "--merge-option"), seed: seed,
                                                        config: c, source: "--merge \(merge)")
            let loop = SamplingLoop(model: model, sampler: sampler, routing: routing, guidance: guide, caching: caching, merging: merging)
            if let recorder { loop.onModelOutput = { _, out, rows in recorder.recordOutput(out, samples: rows) } }
            try loop.validate(images: images, labels: labels, noise: .seeded(seed))
            // `--out X.safetensors` writes the samples file alone; otherwise a PNG grid at --out
            // and the samples beside it.
            let samplesOnly = out.hasSuffix(".safetensors")
            let stem = samplesOnly ? String(out.dropLast(".safetensors".count)) : out.hasSuffix(".png") ? String(out.dropLast(4)) : out
            if c.inChannels != 1 && c.inChannels != 3 {
                printError("note: the model has \(c.inChannels) channels (VAE latents): writing \(stem).safetensors only; decoding to pixels needs a VAE, which this project does not have (Notebooks/decode-latents.ipynb decodes them with diffusers' VAE)")
            }
            printError("sampling \(images) image(s) of \(c.inputSize)×\(c.inputSize)×\(c.inChannels) with \(sampler.name), \(sampler.steps) steps, cfg \(cfg), seed \(seed), routers \(routers), \(ctx.threadCount) thread(s) on \(ctx.isa)")

            var rng = RandomGenerator(seed: seed)
            let xT = rng.normals(images * c.imageSize)
            // The loop draws its noise from the seed after xT: one generator for the whole run.
            let noiseSeed = rng.next()
            let routedProfile = profile ? OpProfiler() : nil
            model.profiler = routedProfile
            let (samples, routedSeconds, meanRatio) = try timedRun(loop, xT: xT, labels: labels, noiseSeed: noiseSeed, label: "step")
            model.profiler = nil
            try FiniteCheck.require(samples, "the samples",
                                    hint: "the weights (dydit inspect \(weights)) or the options (--cfg, sampler options) make the model diverge; nothing was written")
            var summary = String(format: "%.2f s per image", routedSeconds / Double(images))
            if let recorder {
                try TeaCacheFitting(weights: weights, recorder: recorder, settings: [
                    ("sampler", .string(sampler.name)), ("steps", .int(Int64(sampler.steps))), ("cfg", .double(Double(cfg))),
                    ("guidance", .string(guidance.rawValue)), ("routers", .string(routers)), ("images", .int(Int64(images))),
                    ("seed", .int(Int64(seed))),
                ]).run()
            }
            // A calibration run computes every step: nothing to compare with the dense model.
            let accelerated = !routing.isDense || (caching != nil && recorder == nil) || merging != nil
            if let routedProfile, !accelerated || !denseBaseline { printError(ProfileTable.single(routedProfile)) }
            if accelerated {
                summary += String(format: ", mean FLOPs ratio %.3f", meanRatio)
                if let prepared = loop.preparedSlices {
                    printError(String(format: "fast path: %d width patterns (blocks × attention/MLP) over the schedule; %.1f MB of sliced weights cached (budget %.1f MB); %d slices built on use for lack of budget",
                                      prepared.patterns, Double(prepared.cachedBytes) / 1e6, Double(model.slices.budgetBytes) / 1e6,
                                      model.slices.uncached))
                }
                if denseBaseline {
                    let dense = SamplingLoop(model: model, sampler: sampler, routing: Routing(), guidance: guide)
                    let denseProfile = profile ? OpProfiler() : nil
                    model.profiler = denseProfile
                    let (_, denseSeconds, _) = try timedRun(dense, xT: xT, labels: labels, noiseSeed: noiseSeed, label: "dense step")
                    model.profiler = nil
                    if let routedProfile, let denseProfile {
                        printError(ProfileTable.compare(routedProfile, dense: denseProfile, routedWall: routedSeconds * 1e3,
                                                        denseWall: denseSeconds * 1e3, preparation: loop.preparationSeconds * 1e3))
                    }
                    summary += String(format: "; dense model %.2f s per image: speed-up %.2f×", denseSeconds / Double(images), denseSeconds / routedSeconds)
                }
            }
            try SafeTensorsWriter.write([("samples", Tensor(samples, shape: [images, c.inChannels, c.inputSize, c.inputSize])),
                                         ("classes", Tensor(labels.map { Int64($0) }, shape: [images]))],
                                        metadata: ["config": c.json.serialized(), "weights": weights, "sampler": sampler.name,
                                                   "steps": "\(sampler.steps)", "cfg": "\(cfg)", "seed": "\(seed)", "routers": routers,
                                                   "cache": caching?.name ?? "none", "merge": merge],
                                        to: "\(stem).safetensors")
            var written = ["\(stem).safetensors"]
            if !samplesOnly && (c.inChannels == 1 || c.inChannels == 3) {
                let grid = columns.map { cols in
                    ImageGrid.compose(samples, count: images, channels: c.inChannels, height: c.inputSize, width: c.inputSize,
                                      columns: cols).upscaled(by: scale)
                } ?? ImageGrid.byClass(samples, labels: labels, channels: c.inChannels, height: c.inputSize, width: c.inputSize,
                                       names: { ImageDataset.gridLabel($0, numClasses: c.numClasses, inChannels: c.inChannels) },
                                       scale: scale)
                try PNGFile.write(grid, to: out)
                written.insert(out, at: 0)
            }
            print("\(summary); wrote \(written.joined(separator: ", "))")
        }
    }

    func timedRun(_ loop: SamplingLoop, xT: [Float], labels: [Int], noiseSeed: UInt64, label: String) throws
        -> (samples: [Float], seconds: Double, meanRatio: Double) {
        let progress = ProgressLine(label: label, total: loop.sampler.steps)
        var ratios: [Double] = []
        let clock = ContinuousClock()
        var samples: [Float] = []
        let elapsed = try clock.measure {
            samples = try loop.run(xT: xT, labels: labels, noise: .seeded(noiseSeed)) { r in
                ratios.append(r.flopsRatio)
                let detail = loop.routing.isDense ? "t=\(r.timestep)"
                    : String(format: "t=%d heads %.2f groups %.2f tokens %.2f FLOPs %.3f", r.timestep, r.heads, r.groups, r.tokens, r.flopsRatio)
                progress.update(r.step + 1, detail: detail)
            }
        }
        return (samples, seconds(elapsed), ratios.reduce(0, +) / Double(max(1, ratios.count)))
    }

    func parseClasses(_ c: DiTConfig) throws -> [Int] {
        guard let classes else { return Array(0..<min(8, c.numClasses)) }
        return try classes.split(separator: ",").map { part in
            let text = part.trimmingCharacters(in: .whitespaces)
            if let v = Int(text) { return v }
            guard c.numClasses == ImageDataset.fashionMNISTClasses.count else {
                throw ValidationError("--classes: '\(text)' is not an integer (names are Fashion-MNIST's, for 10-class models; this one has \(c.numClasses) classes)")
            }
            guard let v = Self.fashionMNISTClass(named: text) else {
                let names = ImageDataset.fashionMNISTClasses.map(Self.normalized).joined(separator: ", ")
                throw ValidationError("--classes: '\(text)' is neither an integer nor a Fashion-MNIST class (\(names))")
            }
            return v
        }
    }

    /// A Fashion-MNIST class by name: "trouser", "Ankle boot", "ankle-boot", "t-shirt" and
    /// "T-shirt/top" all match (case, spaces and punctuation ignored; a name's part before "/"
    /// is enough).
    static func fashionMNISTClass(named text: String) -> Int? {
        let key = normalized(text)
        return ImageDataset.fashionMNISTClasses.firstIndex { name in
            normalized(name) == key || normalized(String(name.split(separator: "/").first ?? "")) == key
        }
    }

    static func normalized(_ s: String) -> String { String(s.lowercased().filter { $0.isLetter || $0.isNumber }) }

    func makeSampler(_ c: DiTConfig) throws -> Sampler {
        if let schedulerConfig {
            // The file is the whole scheduler: it wins over --sampler and --option, and says so.
            let ignored = (sampler.map { ["--sampler \($0)"] } ?? []) + options.map { "--option \($0)" }
            if !ignored.isEmpty {
                printError("note: --scheduler-config \(schedulerConfig) sets the scheduler and its options; ignoring \(ignored.joined(separator: ", "))")
            }
            let bytes = try FileReader.read(schedulerConfig)
            let json = try bytes.withUnsafeBytes { try JSONParser.parse($0, path: schedulerConfig) }
            let config = try DiffusersConfig(json: json, source: schedulerConfig, ignoringUnknown: true)
            if !config.ignoredKeys.isEmpty {
                printError("note: \(config.kind.rawValue) does not take \(config.ignoredKeys.joined(separator: ", ")) (in \(schedulerConfig)); ignored, as diffusers ignores them")
            }
            return try config.makeSampler(steps: steps)
        }
        let object = try Self.keyValues(options, flag: "--option")
        let given = sampler ?? Self.defaultSampler
        let name = Self.stableDiffusionCppNames[given] ?? given
        if name != given { printError("note: --sampler \(given) is stable-diffusion.cpp's name for \(name)") }
        return try SamplerRegistry.make(name, steps: steps, options: object, config: c, source: "--sampler \(given)")
    }

    func makeCaching() throws -> StepCachePolicy? {
        try StepCacheRegistry.make(cache, options: Self.keyValues(cacheOption, flag: "--cache-option"),
                                   context: StepCacheContext(weights: weights), source: "--cache \(cache)")
    }

    /// Repeated `flag key=value` options as a JSON object (values as `scalar` reads them;
    /// a non-finite number is refused).
    static func keyValues(_ options: [String], flag: String) throws -> JSONObject {
        var object = JSONObject()
        for option in options {
            guard let eq = option.firstIndex(of: "=") else { throw ValidationError("\(flag) '\(option)': expected key=value") }
            let key = String(option[..<eq]), text = String(option[option.index(after: eq)...])
            if Int64(text) == nil, let number = Double(text), !number.isFinite {
                throw ValidationError("\(flag) \(option): \(text) is not a finite number")
            }
            object[key] = scalar(text)
        }
        return object
    }

    /// stable-diffusion.cpp's `--sampling-method` names of the samplers this project has.
    static let stableDiffusionCppNames = ["euler_a": "euler-ancestral", "dpm++2m": "dpm-solver++"]

    /// A command-line value as JSON: numbers, true/false, null, JSON arrays/objects, else a string.
    static func scalar(_ text: String) -> JSONValue {
        if let i = Int64(text) { return .int(i) }
        if let d = Double(text) { return .double(d) }
        switch text {
        case "true": return .bool(true)
        case "false": return .bool(false)
        case "null": return .null
        default: break
        }
        if text.hasPrefix("[") || text.hasPrefix("{"), let v = try? JSONParser.parse(text) { return v }
        return .string(text)
    }

    func makeRouting(_ ckpt: Checkpoint, isa: ISA, seed: UInt64) throws -> Routing {
        var list = routers
        // A masks file without token masks sets the width only (a bare `static` would ask both).
        if let staticMasks, list.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == "static" }),
           !(try SafeTensorsFile(path: staticMasks)).contains("token_masks") {
            list = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) == "static" ? "width:static" : String($0) }
                .joined(separator: ",")
        }
        let file: [(String, JSONValue)] = staticMasks.map { [("file", .string($0))] } ?? []
        var explicit = (width: JSONObject(), token: JSONObject())
        for option in routerOption {
            guard let eq = option.firstIndex(of: "="), let dot = option[..<eq].firstIndex(of: "."),
                  ["width", "token"].contains(String(option[..<dot])) else {
                throw ValidationError("--router-option '\(option)': expected width.KEY=VALUE or token.KEY=VALUE (options: dydit list)")
            }
            let key = String(option[option.index(after: dot)..<eq]), text = String(option[option.index(after: eq)...])
            // A number, a boolean or null as JSON would read it; anything else is a string.
            let value: JSONValue = Int64(text).map { .int($0) } ?? Double(text).map { .double($0) }
                ?? ["true": JSONValue.bool(true), "false": .bool(false), "null": .null][text] ?? .string(text)
            if option.hasPrefix("width.") { explicit.width[key] = value } else { explicit.token[key] = value }
        }
        let selection = try RouterSelection(list, shortcuts: (JSONObject([("keep", .double(widthKeep))] + file),
                                                              JSONObject([("keep", .double(tokenKeep))] + file)),
                                            explicit: explicit)
        if ckpt.routers == nil && selection.usesLearnedRouters {
            printError("note: \(weights) has no DyDiT routers; using them at their fine-tuning initialisation (everything on)")
        }
        return try selection.make(PluginContext(config: ckpt.config, routers: ckpt.routersOrInitialized(), isa: isa, seed: seed,
                                                resolvePath: { $0 }))
    }
}
