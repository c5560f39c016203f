import DyDiTDiffusion
import DyDiTEvaluation
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTTraining
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a runner reports while it works.
public struct RunEvents {
    /// A log line (also written to the run's `log.txt`).
    public var message: (String) -> Void
    /// One sampling step: the phase ("sample", "dense"), the batch of the run, and the step.
    public var step: (_ phase: String, _ batch: Int, _ batches: Int, _ report: StepReport) -> Void

    public init(message: @escaping (String) -> Void, step: @escaping (String, Int, Int, StepReport) -> Void) {
        self.message = message
        self.step = step
    }
}

/// Executes runs of an experiment into a `RunStore`: builds the backbone, routers and sampler
/// from the registry, samples `eval.samples` images, measures, and writes the run's files.
/// Models are reused between consecutive runs with the same backbone.
public final class ExperimentRunner {
    public let store: RunStore
    private var cached: (key: String, model: DiT, routers: RouterParameters, randomInit: Bool)?
    /// The dense baseline's own weights (`eval.dense_checkpoint`), reused like the model.
    private var cachedDense: (key: String, model: DiT)?
    private let runQuality = RunQuality()

    public init(store: RunStore) { self.store = store }

    /// Runs one run and returns its metrics (also written to `metrics.json`, last, with the
    /// run's key: the SHA-256 of its spec and of every file it read). Call it with the run's
    /// lock held (`RunStore.lock`).
    @discardableResult
    public func execute(_ run: SpecFile.Run, events: RunEvents) throws -> JSONValue {
        let spec = run.spec
        let dir = store.runDirectory(run.id)
        var log: [String] = []
        func say(_ line: String) {
            log.append(line)
            events.message(line)
        }
        // A trained spec's weights are read under a shared lock of their training folder, so
        // that no `dydit train` rewrites them while they are measured.
        let trainingLock = try lockTraining(for: run)
        defer { trainingLock?.release() }
        let key = try key(for: run)
        try store.begin(run.id, resolved: spec.resolved)
        do {
            var metrics = try perform(run, dir: dir, key: key, say: say, events: events)
            // The key must still hold at the end: the files read are the files hashed.
            let after = try self.key(for: run)
            guard after.matches(key) else {
                throw IOError(dir, "an input changed while the run read it:\n    \(after.changes(since: key).joined(separator: "\n    "))\n  run again once nothing writes these files")
            }
            metrics["run_key"] = key.json
            try AtomicFile.write(log.joined(separator: "\n") + "\n", to: "\(dir)/log.txt")
            try AtomicFile.write(JSONValue.object(metrics).serialized(pretty: true) + "\n", to: "\(dir)/metrics.json")
            SeedSampleStore.clear(runDirectory: dir)
            return .object(metrics)
        } catch {
            log.append("error: \(error)")
            try? AtomicFile.write(log.joined(separator: "\n") + "\n", to: "\(dir)/log.txt")
            throw error
        }
    }

    /// A shared lock on the training folder of a spec with a `train` section (nil otherwise,
    /// or when it was never trained: `weights(for:)` says so).
    func lockTraining(for run: SpecFile.Run) throws -> FileLock? {
        guard run.spec.train != nil else { return nil }
        let folder = TrainingRunner.directory(for: run, base: store.directory)
        guard FileReader.isDirectory(folder) else { return nil }
        return try FileLock(path: TrainingRunner.lockPath(in: folder), mode: .shared, what: "the training folder \(folder)",
                            hint: "`dydit train` is still changing the weights this run measures; run again when it has finished")
    }

    /// The weights a run evaluates: for a spec with a `train` section, what `dydit train`
    /// made of it (its EMA weights); otherwise the backbone's checkpoint (nil: random init).
    func weights(for run: SpecFile.Run) throws -> String? {
        let spec = run.spec
        // L2C trains cache routers, not the model: its runs measure the backbone's weights.
        guard spec.train != nil && spec.train?.l2c == nil else { return spec.backbone.checkpoint.map(spec.resolvePath) }
        let path = TrainingRunner.directory(for: run, base: store.directory) + "/ema.safetensors"
        guard FileReader.exists(path) else {
            throw TrainingError.checkpoint(path: path, "does not exist: this spec has a train section, and its runs evaluate the weights `dydit train` makes; train first (dydit train \(spec.name).json\(store.directory == spec.outputDir ? "" : " --out \(store.directory)"))")
        }
        // Training writes the EMA at every checkpoint: a run stopped half-way (Ctrl-C, a killed
        // session) leaves weights that are not the model the spec describes.
        if let total = spec.train?.settings.steps, let step = try SafeTensorsFile(path: path).metadata["step"].flatMap(Int.init), step < total {
            throw TrainingError.checkpoint(path: path, "holds the weights of step \(step) of \(total): the training stopped before its end; finish it (dydit train \(spec.name).json\(store.directory == spec.outputDir ? "" : " --out \(store.directory)") resumes it) before measuring")
        }
        return path
    }

    private func model(for spec: ExperimentSpec, weights: String?, say: (String) -> Void) throws -> (DiT, RouterParameters, Bool) {
        // The weights' contents, not only their path: new bytes under the same name between two
        // runs of one process must be loaded, not served from the cache.
        let contents = try weights.map { try FileDigest.sha256($0).sha256 } ?? ""
        let key = spec.resolved["backbone"]!.serialized() + "|\(weights ?? "")|\(contents)|\(spec.seed)|\(spec.threads)|\(spec.isa ?? "auto")|\(spec.precisionPlan)"
        if let cached, cached.key == key { return (cached.model, cached.routers, cached.randomInit) }
        cached = nil
        let ctx = try spec.computeContext()
        let params: DiTParameters, routers: RouterParameters, randomInit: Bool
        if let checkpoint = weights {
            let ckpt = try Checkpoint(path: checkpoint)
            params = try ckpt.parameters(for: spec.precisionPlan)
            routers = ckpt.routersOrInitialized(seed: spec.seed)
            randomInit = false
            say("loaded \(checkpoint): \(ckpt.config)")
        } else {
            params = DiTParameters.initialized(spec.backbone.config, seed: spec.seed, spec.backbone.initialization)
            routers = RouterParameters.initialized(spec.backbone.config, seed: spec.seed)
            randomInit = true
            say("note: no checkpoint: a randomly initialised \(spec.backbone.model ?? "DiT") (\(spec.backbone.config)); its samples are noise, and this run measures FLOPs, time and memory only")
        }
        let model = DiT(params, ctx: ctx, precision: spec.precisionPlan)
        cached = (key, model, routers, randomInit)
        return (model, routers, randomInit)
    }

    /// The dense baseline from its own weights, in the run's precision and on its compute
    /// context: the same inputs and outputs as the run's model (image size, patch, channels,
    /// learned sigma, classes: it samples the same images from the same noise); its depth and
    /// width may differ (a pruned model against the model it was cut from).
    private func denseModel(_ path: String, like model: DiT, spec: ExperimentSpec, say: (String) -> Void) throws -> DiT {
        let key = "\(path)|\(try FileDigest.sha256(path).sha256)|\(spec.precisionPlan)|\(ObjectIdentifier(model.ctx))"
        if let cachedDense, cachedDense.key == key { return cachedDense.model }
        let ckpt = try Checkpoint(path: path)
        let (a, b) = (ckpt.config, model.config)
        guard a.inputSize == b.inputSize, a.patchSize == b.patchSize, a.inChannels == b.inChannels, a.learnSigma == b.learnSigma,
              a.numClasses == b.numClasses else {
            throw ModelError.badConfig(path, "eval.dense_checkpoint is \(a); the run's model is \(b): the dense baseline must take and give the same images (input size, patch, channels, learned sigma, classes)")
        }
        let dense = DiT(try ckpt.parameters(for: spec.precisionPlan), ctx: model.ctx, precision: spec.precisionPlan)
        say("dense baseline: \(path)\(a == b ? "" : " (\(a.depth) blocks of width \(a.hiddenSize); the run's model: \(b.depth) of \(b.hiddenSize))")")
        cachedDense = (key, dense)
        return dense
    }

    private func perform(_ run: SpecFile.Run, dir: String, key: RunKey, say: (String) -> Void, events: RunEvents) throws -> JSONObject {
        let spec = run.spec
        let weightsPath = try weights(for: run)
        let (model, routerParams, randomInit) = try model(for: spec, weights: weightsPath, say: say)
        // Before any sampling: the load the timings were taken under.
        let machine = MachineRecord.json(isa: model.ctx.isa, threads: model.ctx.threadCount)
        let c = model.config
        let (width, token) = try spec.makeRouters(config: c, routers: routerParams, isa: model.ctx.isa)
        let routing = Routing(width: width, token: token)
        let sampler = try spec.sampler.make(config: c, source: "sampler")
        let denseSampler = try spec.eval.denseSampler.map { try $0.make(config: c, source: "eval.dense_sampler") } ?? sampler
        let guidance = spec.guidance
        say("run \(run.id): \(spec.backbone.type)\(spec.backbone.model.map { " \($0)" } ?? ""), routers \(spec.width.type)/\(spec.token.type), \(sampler.name) \(sampler.steps) steps, guidance \(spec.guidanceScale), \(spec.eval.samples) samples, \(model.ctx.threadCount) thread(s) on \(model.ctx.isa)")
        if spec.precisionPlan.base == .bf16, let note = BF16Path.fallbackNote(isa: model.ctx.isa, what: "the model's products") {
            say(note)
        }

        let images = RunImages(spec: spec, config: c, runID: run.id)
        let labels = images.labels

        let caching = try StepCacheRegistry.make(spec.cache.type, options: spec.cache.options.values,
                                                 context: spec.stepCacheContext(weights: weightsPath), source: "cache")
        let merging = try TokenMergingRegistry.make(spec.merge.type, options: spec.merge.options.values, seed: spec.seed, config: c,
                                                    source: "merge")
        // Routers, a step cache, token merging, other dense weights (a pruned model against its
        // source) or another sampler (fewer steps against the sampler they replace): the run is
        // compared with the plain dense model.
        let routed = !routing.isDense || caching != nil || merging != nil || spec.eval.denseCheckpoint != nil
            || spec.eval.denseSampler != nil
        let loop = SamplingLoop(model: model, sampler: sampler, routing: routing, guidance: guidance, caching: caching,
                                merging: merging)
        let denseModel = try spec.eval.denseCheckpoint.map { try self.denseModel(spec.resolvePath($0), like: model, spec: spec, say: say) } ?? model
        let denseLoop = routed && spec.eval.denseBaseline ? SamplingLoop(model: denseModel, sampler: denseSampler, guidance: guidance) : nil
        let sampling = RunSampling(images: images, loop: loop, denseLoop: denseLoop, token: token,
                                   seeds: SeedSampleStore(runDirectory: dir, key: key, isa: model.ctx.isa, threads: model.ctx.threadCount),
                                   events: events)
        // Rounds exist for the medians of the latency metric; without it one pass gives every
        // other metric its samples (five would only repeat the same images).
        let rounds = spec.eval.metrics.contains(LatencyMetric.name) ? spec.eval.timingRounds : 1
        let qualitySeeds = spec.eval.metrics.contains(where: { FeatureMetrics.named($0) != nil })
        let keepFirst = qualitySeeds
            && (images.timesSubset || !spec.eval.metrics.contains { $0 == LatencyMetric.name || $0 == MemoryMetric.name })
        let passes = try sampling.firstPassAndRounds(rounds: rounds, keepFirst: keepFirst, sampler: sampler,
                                                     denseSampler: denseSampler, say: say)
        let (samples, reports, timing) = (passes.first.samples, passes.first.reports, passes.timing)
        let timedImages = images.timedImages
        // What the dense baseline drew: the timed images (all of them without a subset).
        let compared = Array(samples.prefix(timedImages * c.imageSize))
        // 2 per guided step (conditional and unconditional rows), 1 per other step.
        let forwardsPerStep = guidance?.forwards(modelTimesteps: sampler.modelTimesteps) ?? Array(repeating: 1, count: sampler.steps)
        let denseForwards = guidance?.forwards(modelTimesteps: denseSampler.modelTimesteps) ?? Array(repeating: 1, count: denseSampler.steps)
        let mean = { (v: [Double]) in v.reduce(0, +) / Double(max(1, v.count)) }
        let perImage = Statistics.median(timing.dynamic) / Double(timedImages)
        var summary = String(format: "%.3f s per image", perImage)
        if !timing.dense.isEmpty {
            let r = timing.speedups
            summary += String(format: ", dense %.3f s per image: speed-up %.2f× (rounds: %.2f–%.2f×)",
                              Statistics.median(timing.dense) / Double(timedImages), Statistics.median(r), r.min()!, r.max()!)
        }
        if rounds > 1 { summary += " (medians of \(rounds) alternating rounds)" }
        if routed { summary += String(format: ", FLOPs ratio %.3f", mean(reports.map(\.flopsRatio))) }
        say(summary)

        try RunFiles.write(into: dir, run: run, images: images, samples: samples, denseSamples: passes.denseSamples, model: model,
                           width: width, timesteps: sampler.modelTimesteps, say: say)

        var metrics = JSONObject()
        metrics["run"] = .string(run.id)
        metrics["overrides"] = .object(JSONObject(run.overrides.map { ($0.path, $0.value) }))
        metrics["random_init"] = .bool(randomInit)
        let measured = RunMeasurements(spec: spec, model: model, routing: routing, reports: reports,
                                       forwardsPerStep: forwardsPerStep,
                                       timing: timing, timedImages: timedImages, steps: sampler.steps,
                                       preparation: passes.first.preparation, preparedSlices: loop.preparedSlices, compared: compared,
                                       denseSamples: passes.denseSamples, stepTimes: passes.stepTimes, cacheBytes: loop.cacheBytes,
                                       denseMACsPerImage: MACs(denseModel.config).total * Double(denseForwards.reduce(0, +)))
        var report = RunReport()
        for metric in Registry.runMetrics where spec.eval.metrics.contains(metric.name) {
            try metric.measure(measured, into: &report, say: say)
        }
        for (key, value) in report.sections.pairs { metrics[key] = value }
        var quality = report.quality
        var notes = report.notes
        if qualitySeeds {
            let sets = try sampling.qualitySets(first: samples, spec: spec, say: say)
            for (key, value) in try runQuality.evaluate(spec, sets: sets, labels: labels, config: c, ctx: model.ctx, say: say).pairs {
                quality[key] = value
            }
        }
        if randomInit { notes.append("random-init weights: quality numbers describe an untrained model") }
        metrics["quality"] = quality.pairs.isEmpty ? .null : .object(quality)
        if !notes.isEmpty { metrics["quality_note"] = .string(notes.joined(separator: "; ")) }
        metrics["machine"] = machine
        return metrics
    }
}
