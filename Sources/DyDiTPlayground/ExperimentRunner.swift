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
        say("run \(run.id): \(spec.backbone.type) \(spec.backbone.model ?? ""), routers \(spec.width.type)/\(spec.token.type), \(sampler.name) \(sampler.steps) steps, guidance \(spec.guidanceScale), \(spec.eval.samples) samples, \(model.ctx.threadCount) thread(s) on \(model.ctx.isa)")

        let labels = (0..<spec.eval.samples).map { spec.eval.classes[$0 % spec.eval.classes.count] }
        var rng = RandomGenerator(seed: spec.seed)
        let xT = rng.normals(labels.count * c.imageSize)
        let noiseSeed = rng.next()
        let batches = stride(from: 0, to: labels.count, by: spec.eval.batch).map { $0..<min(labels.count, $0 + spec.eval.batch) }

        // The timing rounds' images: a prefix of the same batches, so they are the same images
        // as the first ones of the full pass (each batch draws from noise seeded by its index).
        let timedBatches = spec.eval.timingImages.map { k in Array(batches.prefix { $0.lowerBound < k }) } ?? batches
        let timedImages = timedBatches.last!.upperBound
        let timesSubset = timedBatches.count < batches.count

        /// One pass over the images of `over` (every batch by default), from the run's noise or
        /// another seed's `start` and `noise`. Its time excludes building the schedule's sliced
        /// weights, a once-per-schedule cost reported on its own (`slice_build_seconds`).
        func sample(_ loop: SamplingLoop, phase: String, start: [Float]? = nil, noise: UInt64? = nil,
                    over: [Range<Int>]? = nil) throws
            -> (samples: [Float], seconds: Double, preparation: Double, reports: [StepReport]) {
            let xT = start ?? xT, noiseSeed = noise ?? noiseSeed
            let batches = over ?? batches
            var out: [Float] = [], reports: [StepReport] = []
            var preparation = 0.0
            let clock = ContinuousClock()
            let elapsed = try clock.measure {
                for (i, range) in batches.enumerated() {
                    let x = Array(xT[(range.lowerBound * c.imageSize)..<(range.upperBound * c.imageSize)])
                    out += try loop.run(xT: x, labels: Array(labels[range]), noise: .seeded(noiseSeed &+ UInt64(i))) { r in
                        reports.append(r)
                        events.step(phase, i, batches.count, r)
                    }
                    preparation += loop.preparationSeconds
                }
            }
            try FiniteCheck.require(out, "run \(run.id): the \(phase == "dense" ? "dense baseline's " : "")samples",
                                    hint: "the weights or the guidance scale make the model diverge; the run is not complete")
            return (out, DyDiTIO.seconds(elapsed) - preparation, preparation, reports)
        }

        // Every round samples the same images from the same noise; the first round's samples
        // and step reports are the run's — unless the rounds time a subset (`eval.timing.images`):
        // then one untimed pass over every image comes first and is the run's.
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
        // Rounds exist for the medians of the latency metric; without it one pass gives every
        // other metric its samples (five would only repeat the same images).
        let rounds = spec.eval.metrics.contains(LatencyMetric.name) ? spec.eval.timingRounds : 1
        func phase(_ name: String, _ r: Int) -> String { rounds == 1 ? name : "\(name) round \(r + 1)/\(rounds)" }
        var samples: [Float] = [], reports: [StepReport] = [], preparation = 0.0
        var denseSamples: [Float]?
        // The quality seeds are saved as they are drawn (`SeedSampleStore`), seed 0 — the run's
        // own pass over every image — too where skipping it on resume changes nothing the run
        // reports: when the rounds time a subset (they run the loop again anyway), or when no
        // metric measures the pass itself (latency, or memory, which reads the loop's state).
        let seeds = SeedSampleStore(runDirectory: dir, key: key, isa: model.ctx.isa, threads: model.ctx.threadCount)
        let qualitySeeds = spec.eval.metrics.contains(where: { FeatureMetrics.named($0) != nil })
        let firstPassKept = qualitySeeds && (timesSubset || !spec.eval.metrics.contains { $0 == LatencyMetric.name || $0 == MemoryMetric.name })
        let shape = [labels.count, c.inChannels, c.inputSize, c.inputSize]
        let restored = firstPassKept ? seeds.loadFirstPass(count: labels.count * c.imageSize) : nil
        if let restored {
            (samples, reports, preparation) = (restored.samples, restored.reports, restored.preparation)
            say("seed 0: \(labels.count) images drawn by an interrupted attempt of this run (same inputs, code and machine), reused")
        }
        func keep(_ pass: (samples: [Float], seconds: Double, preparation: Double, reports: [StepReport])) throws {
            guard firstPassKept else { return }
            try seeds.saveFirstPass(.init(samples: pass.samples, reports: pass.reports, seconds: pass.seconds, preparation: pass.preparation),
                                    shape: shape)
        }
        if timesSubset {
            if restored == nil {
                token?.reset()
                let pass = try sample(loop, phase: "sample")
                (samples, reports, preparation) = (pass.samples, pass.reports, pass.preparation)
                try keep(pass)
            }
            say("timing: the first \(timedImages) of \(labels.count) images (eval.timing.images), \(rounds) round(s)")
        }
        // Each round's seconds per sampling step, summed over its batches: where the speed-up
        // comes from along the schedule (the routers spend differently at each timestep).
        var dynamicSteps: [[Double]] = [], denseSteps: [[Double]] = []
        let timing = try LatencyRounds.measure(rounds: rounds, dynamic: { r in
            // Restored (no metric times this pass): the run's pass is the saved one, with its time.
            if let restored, !timesSubset {
                dynamicSteps.append(StepTimes.perStep(restored.reports, steps: sampler.steps))
                return restored.seconds
            }
            // The random token router draws from one seeded sequence: restarted, every round
            // routes exactly as the first.
            token?.reset()
            let pass = try sample(loop, phase: phase(timesSubset ? "timed" : "sample", r), over: timedBatches)
            if r == 0 && !timesSubset {
                (samples, reports, preparation) = (pass.samples, pass.reports, pass.preparation)
                try keep(pass)
            }
            dynamicSteps.append(StepTimes.perStep(pass.reports, steps: sampler.steps))
            return pass.seconds
        }, dense: denseLoop.map { dense in { r in
            let pass = try sample(dense, phase: phase("dense", r), over: timedBatches)
            if r == 0 { denseSamples = pass.samples }
            denseSteps.append(StepTimes.perStep(pass.reports, steps: denseSampler.steps))
            return pass.seconds
        } })
        let stepTimes = StepTimes(timesteps: sampler.timesteps, denseTimesteps: denseSampler.timesteps,
                                  dynamic: StepTimes.medians(dynamicSteps),
                                  dense: denseSteps.isEmpty ? nil : StepTimes.medians(denseSteps), images: timedImages)
        // What the dense baseline drew: the timed images (all of them without a subset).
        let compared = Array(samples.prefix(timedImages * c.imageSize)), comparedLabels = Array(labels.prefix(timedImages))
        let images = Double(timedImages)
        // 2 per guided step (conditional and unconditional rows), 1 per other step.
        let forwardsPerStep = guidance?.forwards(modelTimesteps: sampler.modelTimesteps) ?? Array(repeating: 1, count: sampler.steps)
        let denseForwards = guidance?.forwards(modelTimesteps: denseSampler.modelTimesteps) ?? Array(repeating: 1, count: denseSampler.steps)
        let mean = { (v: [Double]) in v.reduce(0, +) / Double(max(1, v.count)) }
        let perImage = Statistics.median(timing.dynamic) / images
        var summary = String(format: "%.3f s per image", perImage)
        if !timing.dense.isEmpty {
            let r = timing.speedups
            summary += String(format: ", dense %.3f s per image: speed-up %.2f× (rounds: %.2f–%.2f×)",
                              Statistics.median(timing.dense) / images, Statistics.median(r), r.min()!, r.max()!)
        }
        if rounds > 1 { summary += " (medians of \(rounds) alternating rounds)" }
        if routed { summary += String(format: ", FLOPs ratio %.3f", mean(reports.map(\.flopsRatio))) }
        say(summary)

        // Files: samples, grid, masks over the schedule.
        try SafeTensorsWriter.write([("samples", Tensor(samples, shape: [labels.count, c.inChannels, c.inputSize, c.inputSize])),
                                     ("classes", Tensor(labels.map { Int64($0) }, shape: [labels.count]))],
                                    metadata: ["spec": spec.resolved.serialized(), "run": run.id], to: "\(dir)/samples.safetensors")
        if spec.grid && !(c.inChannels == 1 || c.inChannels == 3) {
            say("no samples.png: the model makes \(c.inChannels)-channel VAE latents, which this project cannot decode to pixels; samples.safetensors holds them (Notebooks/decode-latents.ipynb decodes them with diffusers' VAE)")
        } else if spec.grid {
            // One column per class, named under it.
            let name = { ImageDataset.gridLabel($0, numClasses: c.numClasses, inChannels: c.inChannels) }
            try PNGFile.write(ImageGrid.byClass(samples, labels: labels, channels: c.inChannels, height: c.inputSize,
                                                width: c.inputSize, names: name, scale: spec.gridScale), to: "\(dir)/samples.png")
            // Dense | dynamic from the same noise, one row per class: what the routing changed.
            if let denseSamples {
                try PNGFile.write(ImageGrid.sideBySide(denseSamples, compared, labels: comparedLabels, channels: c.inChannels,
                                                       height: c.inputSize, width: c.inputSize, names: name,
                                                       titles: ("DENSE", "DYNAMIC"), scale: spec.gridScale),
                                  to: "\(dir)/dense-vs-dynamic.png")
            }
        }
        if let width {
            let (attn, mlp) = WidthMaskExport.masks(router: width, model: model, timesteps: sampler.modelTimesteps)
            try AtomicFile.write(WidthMaskExport.csv(timesteps: sampler.modelTimesteps, attn: attn, mlp: mlp, depth: c.depth, heads: c.numHeads),
                                 to: "\(dir)/masks.csv")
        }

        var metrics = JSONObject()
        metrics["run"] = .string(run.id)
        metrics["overrides"] = .object(JSONObject(run.overrides.map { ($0.path, $0.value) }))
        metrics["random_init"] = .bool(randomInit)
        let measured = RunMeasurements(spec: spec, model: model, routing: routing, reports: reports,
                                       forwardsPerStep: forwardsPerStep,
                                       timing: timing, timedImages: timedImages, steps: sampler.steps, preparation: preparation,
                                       preparedSlices: loop.preparedSlices, compared: compared, denseSamples: denseSamples,
                                       stepTimes: stepTimes, cacheBytes: loop.cacheBytes,
                                       denseMACsPerImage: MACs(denseModel.config).total * Double(denseForwards.reduce(0, +)))
        var report = RunReport()
        for metric in Registry.runMetrics where spec.eval.metrics.contains(metric.name) {
            try metric.measure(measured, into: &report, say: say)
        }
        for (key, value) in report.sections.pairs { metrics[key] = value }
        var quality = report.quality
        var notes = report.notes
        if qualitySeeds {
            // Seed 0 is the run's own samples; more seeds sample again from their own noise.
            // Each extra seed is saved once drawn: a run stopped here resumes from the next one.
            var sets = [samples]
            for s in 1..<spec.eval.seeds {
                if let saved = seeds.load(seed: s, count: samples.count) {
                    say("seed \(s): \(labels.count) images drawn by an interrupted attempt of this run (same inputs, code and machine), reused")
                    sets.append(saved)
                    continue
                }
                let n = RunQuality.noise(spec: spec, index: s, values: labels.count * c.imageSize)
                token?.reset()
                sets.append(try sample(loop, phase: "seed \(s)", start: n.xT, noise: n.noiseSeed).samples)
                try seeds.save(seed: s, samples: sets[s], shape: shape)
            }
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
