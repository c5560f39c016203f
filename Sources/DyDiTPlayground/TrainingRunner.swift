import DyDiTDiffusion
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTTraining
import Foundation

/// What a training run reports while it works.
public struct TrainingEvents {
    public var message: (String) -> Void
    /// After each optimiser step: the record, the run's total steps, and images per second
    /// over the steps of this process.
    public var step: (_ record: StepRecord, _ total: Int, _ imagesPerSecond: Double) -> Void
    /// Polled between steps: true saves a checkpoint and stops (SIGINT, say).
    public var shouldStop: () -> Bool

    public init(message: @escaping (String) -> Void, step: @escaping (StepRecord, Int, Double) -> Void,
                shouldStop: @escaping () -> Bool = { false }) {
        self.message = message
        self.step = step
        self.shouldStop = shouldStop
    }
}

/// Runs a spec's `train` section into its output folder:
///
/// - `checkpoint.safetensors`: the whole training state (atomic; resumed from automatically);
/// - `ema.safetensors`: the EMA weights as a model file for `dydit run` / `sample`;
/// - `train.csv`: one row per `log_every` steps (means over the window);
/// - `snapshots/ema-step-NNNNNNN.safetensors` every `snapshot_every` steps (the EMA weights);
/// - `samples-step-NNNNNNN.png` every `sample_every` steps and `samples.png` at the end:
///   one column per class, from the EMA weights with the spec's sampler and guidance;
/// - `spec.json` (resolved) and `log.txt`.
public final class TrainingRunner {
    public let spec: ExperimentSpec
    public let train: TrainSpec
    public let directory: String
    public private(set) var trainer: Trainer!
    var log: [String] = []

    /// `elapsed_s`: seconds of training up to the row, summed over every resume;
    /// `flops_ratio_decided`: the FLOPs ratio with sampling's router decisions (no Gumbel
    /// noise), what an evaluation of the model will count. A log written with fewer columns
    /// is carried over column by column on resume (`TrainingLog`).
    public static let csvHeader = "step,loss,mse,vb,complete_loss,flops_ratio,flops_ratio_decided,flops_loss,lambda,lr,grad_norm,images_per_s,elapsed_s"

    public init(spec: ExperimentSpec, directory: String? = nil) throws {
        guard let train = spec.train else {
            throw SpecErrors(issues: [SpecIssue(file: spec.name, path: "$.train", position: nil,
                                                message: "is missing: `dydit train` needs a train section (see Experiments/README.md)")])
        }
        self.spec = spec
        self.train = train
        self.directory = directory ?? spec.outputDir
    }

    /// Where `dydit train` trains `run` (under `base`, default its output.dir): the folder itself
    /// for a spec without a sweep, `<run id>/train` inside it for each run of a sweep (beside
    /// the run's evaluation by `dydit run`).
    public static func directory(for run: SpecFile.Run, base: String? = nil) -> String {
        let root = base ?? run.spec.outputDir
        return run.overrides.isEmpty ? root : "\(root)/\(run.id)/train"
    }

    var checkpointPath: String { "\(directory)/checkpoint.safetensors" }
    var csvPath: String { "\(directory)/train.csv" }
    var emaPath: String { "\(directory)/ema.safetensors" }
    var samplesPath: String { "\(directory)/samples.png" }

    /// The training folder's lock file: `dydit train` holds it exclusively while it trains,
    /// `dydit run` shared while it measures the folder's weights.
    public static func lockPath(in directory: String) -> String { "\(directory)/.train.lock" }

    /// The resolved spec as stored in checkpoints. `train.steps` is left out so a finished run
    /// can be extended by raising it, and `train.snapshot_every` since it changes no number.
    var resumeKey: String {
        guard case var .object(root) = spec.resolved, case var .object(t) = root["train"] ?? .null else { return spec.resolved.serialized() }
        t["steps"] = nil
        t["snapshot_every"] = nil
        root["train"] = .object(t)
        root["output"] = nil
        // How `dydit run` times and scores samples changes no training number (and older
        // checkpoints were written before these keys existed).
        if case var .object(eval) = root["eval"] ?? .null {
            for key in ["timing", "reference", "classifier", "seeds"] { eval[key] = nil }
            root["eval"] = .object(eval)
        }
        return JSONValue.object(root).serialized()
    }

    /// Trains to `train.steps`, resuming from the folder's checkpoint unless `restart`.
    /// Returns the last step's record (nil if there was nothing left to do).
    @discardableResult
    public func run(restart: Bool = false, events: TrainingEvents) throws -> StepRecord? {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // One process per training folder, for as long as it trains (the kernel lets go of a
        // killed process's lock); a `dydit run` measuring the folder's weights also holds it.
        let lock = try FileLock(path: Self.lockPath(in: directory), what: "the training folder \(directory)",
                                hint: "another `dydit train` is training here, or a `dydit run` is measuring these weights; wait for it to finish, or train into another --out")
        defer { lock.release() }
        func say(_ line: String) {
            log.append(line)
            events.message(line)
        }
        let leftovers = TrainingOutputs.removeLeftovers(in: directory)
        if !leftovers.isEmpty { say("removed \(leftovers.count) temporary file(s) an interrupted run left: \(leftovers.joined(separator: ", "))") }
        defer { try? AtomicFile.write(log.joined(separator: "\n") + "\n", to: "\(directory)/log.txt") }
        do {
            return try perform(restart: restart, events: events, say: say)
        } catch {
            log.append("error: \(error)")
            throw error
        }
    }

    private func perform(restart: Bool, events: TrainingEvents, say: (String) -> Void) throws -> StepRecord? {
        if let l2c = train.l2c { return try performL2C(l2c, restart: restart, events: events, say: say) }
        let c = spec.backbone.config
        let dydit = Registry.backbone(spec.backbone.type)?.routed ?? false
        let ctx = try spec.computeContext()
        let params: DiTParameters, routers: RouterParameters?
        if let path = spec.backbone.checkpoint {
            let ckpt = try Checkpoint(path: spec.resolvePath(path))
            params = ckpt.parameters
            if dydit && ckpt.isDyDiT && train.routerInit != (RouterParameters.officialWidthBias, RouterParameters.officialTokenBias) {
                throw TrainingError.data("train.router_init sets the biases of new routers, but \(path) has trained routers of its own: remove router_init, or start from a plain DiT checkpoint")
            }
            routers = dydit ? (ckpt.routers ?? RouterParameters.initialized(c, seed: spec.seed, widthBias: train.routerInit.widthBias,
                                                                             tokenBias: train.routerInit.tokenBias)) : nil
            say("start: \(path) (\(ckpt.isDyDiT ? "with routers" : dydit ? "routers at their fine-tuning init, biases \(train.routerInit.widthBias) (width) and \(train.routerInit.tokenBias) (token)" : "DiT"))")
        } else {
            params = DiTParameters.initialized(c, seed: spec.seed, spec.backbone.initialization)
            routers = dydit ? RouterParameters.initialized(c, seed: spec.seed, widthBias: train.routerInit.widthBias,
                                                           tokenBias: train.routerInit.tokenBias) : nil
            say("start: a new \(spec.backbone.model ?? "DiT") (\(spec.backbone.initialization.rawValue) init)")
        }
        // A static width: the width routers' weights zero and frozen, each decision its bias.
        let staticWidth = train.settings.dydit?.width == .static
        let model = try TrainableDiT(params, routers: staticWidth ? routers?.withStaticWidth() : routers,
                                     frozen: staticWidth ? RouterParameters.widthRouterWeightNames(c) : [], ctx: ctx)
        let dataset = try Registry.loadDataset(train.dataset, channels: c.inChannels)
        if let top = dataset.labels.max(), top >= c.numClasses {
            throw TrainingError.data("\(dataset.name) has labels up to \(top); the model has num_classes \(c.numClasses)")
        }
        let loader = try BatchLoader(dataset: dataset, batch: train.settings.batch, inputSize: c.inputSize,
                                     channels: c.inChannels, flip: train.settings.flip, seed: spec.seed)
        let trainer = try Trainer(model: model, loader: loader, settings: train.settings)
        self.trainer = trainer
        say("data: \(dataset.name), \(dataset.count) images of \(dataset.width)×\(dataset.height)×\(dataset.channels), \(dataset.classNames.count) classes; \(loader.batchesPerEpoch) batches of \(train.settings.batch) per epoch")
        say("model: \(c), \(model.parameters.entries.filter(\.trainable).reduce(0) { $0 + $1.count }) trainable parameters; \(ctx.threadCount) thread(s) on \(ctx.isa); \(train.settings.products == .bf16 ? "bf16 products (fp32 sums)" : "fp32 products")")
        if train.settings.products == .bf16, let note = BF16Path.fallbackNote(isa: ctx.isa, what: "the linear layers' products") {
            say(note)
        }
        say(Self.machineLine(isa: ctx.isa, threads: ctx.threadCount))

        // Steps since the last log row: saved with checkpoints, so a resumed run logs the same rows.
        var window: [StepRecord] = []
        var stored: [String: String]?
        if restart {
            for path in [checkpointPath, csvPath] where FileReader.exists(path) { try FileManager.default.removeItem(atPath: path) }
            // The old run's exports, so that none is mistaken for the new run's.
            try TrainingOutputs.removeExports(in: directory, after: nil)
        } else if FileReader.exists(checkpointPath) {
            let peeked = try TrainingCheckpoint.peek(checkpointPath)
            stored = peeked.metadata
            guard SpecIdentity.same(serialized: peeked.spec, resumeKey) else {
                throw TrainingError.checkpoint(path: checkpointPath, SpecIdentity.refusal(stored: peeked.spec, current: resumeKey))
            }
            try TrainingCheckpoint.restore(trainer, from: checkpointPath)
            window = try Self.decodeWindow(peeked.metadata["log_window"] ?? "[]", path: checkpointPath)
            say("resumed from \(checkpointPath) at step \(trainer.step) (epoch \(trainer.loader.epoch), batch \(trainer.loader.batchInEpoch))")
            // Grids and snapshots of steps after the checkpoint's were made by a run killed
            // before its next checkpoint: training them again writes them again.
            try TrainingOutputs.removeExports(in: directory, after: trainer.step)
        }
        try AtomicFile.write(spec.resolved.serialized(pretty: true) + "\n", to: "\(directory)/spec.json")
        let csv = try TrainingLog(path: csvPath, header: Self.csvHeader, keepingStepsUpTo: trainer.step)

        let total = train.settings.steps
        if let stored { try repairExports(trainer, stored: stored, window: window, finished: trainer.step >= total, say: say) }
        guard trainer.step < total else {
            say("already at step \(trainer.step) of \(total): nothing to train (raise train.steps to go on)")
            return nil
        }
        let clock = ContinuousClock()
        let start = clock.now
        let firstStep = trainer.step
        var last: StepRecord?
        var windowStart = clock.now
        while trainer.step < total {
            let record = try trainer.trainStep()
            last = record
            window.append(record)
            let elapsed = seconds(clock.now - start)
            let rate = Double((trainer.step - firstStep) * train.settings.batch) / max(elapsed, 1e-9)
            events.step(record, total, rate)
            let done = trainer.step
            if done % train.logEvery == 0 || done == total {
                let windowRate = Double(window.count * train.settings.batch) / max(seconds(clock.now - windowStart), 1e-9)
                // elapsed_s counts every process's training time: FD against hours spans resumes.
                try csv.append(Self.row(window, imagesPerSecond: windowRate, elapsed: csv.elapsedBefore + elapsed))
                window.removeAll(keepingCapacity: true)
                windowStart = clock.now
            }
            // Everything of this step is written before its checkpoint, the file a restart
            // trusts: a kill in between leaves an older checkpoint, and training from it again
            // writes the same files again.
            if train.snapshotEvery > 0 && done % train.snapshotEvery == 0 {
                let path = String(format: "%@/snapshots/ema-step-%07d.safetensors", directory, done)
                try FileManager.default.createDirectory(atPath: "\(directory)/snapshots", withIntermediateDirectories: true)
                try TrainingCheckpoint.exportEMA(trainer, to: path, dtype: train.exportDType,
                                                 metadata: ["spec": spec.resolved.serialized(), "ema_sha256": TrainingCheckpoint.emaDigest(trainer)])
            }
            if train.sampleEvery > 0 && done % train.sampleEvery == 0 && done != total {
                let path = String(format: "%@/samples-step-%07d.png", directory, done)
                try sampleGrid(trainer, to: path)
                say("step \(done): wrote \(path)")
            }
            let samplesDigest = done == total ? try writeFinalSamples(trainer) : nil
            let stopping = events.shouldStop()
            if done % train.checkpointEvery == 0 || done == total || stopping {
                try save(trainer, window: window, samplesDigest: samplesDigest)
            }
            if stopping && done < total {
                say("stopped at step \(done) of \(total); checkpoint saved: run the same command to resume")
                return last
            }
        }
        say(String(format: "done: step %d, loss %.4f; wrote %@/ema.safetensors, samples.png, train.csv", trainer.step, last?.loss ?? .nan, directory))
        return last
    }

    /// The EMA export first, the checkpoint last; the checkpoint records the EMA's digest and,
    /// at the last step, the final grid's, which `repairExports` checks at the next start.
    func save(_ trainer: Trainer, window: [StepRecord], samplesDigest: String?) throws {
        let digest = TrainingCheckpoint.emaDigest(trainer)
        try TrainingCheckpoint.exportEMA(trainer, to: emaPath, dtype: train.exportDType,
                                         metadata: ["spec": spec.resolved.serialized(), "ema_sha256": digest])
        var extra = ["log_window": Self.encodeWindow(window), "ema_sha256": digest,
                     "machine": MachineRecord.json(isa: trainer.model.ctx.isa, threads: trainer.model.ctx.threadCount).serialized()]
        if let samplesDigest { extra["samples_sha256"] = samplesDigest }
        try TrainingCheckpoint.save(trainer, spec: resumeKey, extra: extra, to: checkpointPath)
    }

    /// The machine and build a training process runs on, for its log (every process of a
    /// resumed run writes one; the checkpoint keeps the last in its metadata, `machine`).
    static func machineLine(isa: ISA, threads: Int) -> String {
        let git = MachineRecord.git
        return "machine: dydit \(DyDiTVersion.string), commit \(git.commit.map { String($0.prefix(12)) } ?? "unknown")\(git.dirty == true ? " (uncommitted changes)" : ""); \(MachineRecord.cpuModel); \(isa), \(threads) thread(s)"
    }

    /// Whether the model's samples make a PNG grid (1 or 3 channels; not latents).
    var drawsGrid: Bool { [1, 3].contains(spec.backbone.config.inChannels) }

    /// The final grid (`samples.png`) and its SHA-256 (nil for models without a grid).
    func writeFinalSamples(_ trainer: Trainer) throws -> String? {
        try sampleGrid(trainer, to: samplesPath)
        return FileReader.exists(samplesPath) ? try FileDigest.sha256(samplesPath).sha256 : nil
    }

    /// Makes the exports those of the restored checkpoint: `ema.safetensors` must carry the
    /// checkpoint's EMA digest, and a finished run's `samples.png` the digest the checkpoint
    /// recorded. A run killed between its last checkpoint and these files (or a file replaced
    /// since) used to say "nothing to train" and keep an older EMA for good; now it is
    /// exported again from the checkpoint. A checkpoint written before the digests existed is
    /// saved again with them.
    func repairExports(_ trainer: Trainer, stored: [String: String], window: [StepRecord], finished: Bool,
                       say: (String) -> Void) throws {
        let digest = TrainingCheckpoint.emaDigest(trainer)
        let exported = (try? SafeTensorsFile(path: emaPath))?.metadata["ema_sha256"]
        if exported != digest {
            try TrainingCheckpoint.exportEMA(trainer, to: emaPath, dtype: train.exportDType,
                                             metadata: ["spec": spec.resolved.serialized(), "ema_sha256": digest])
            let why = exported == nil ? (FileReader.exists(emaPath) ? "was not exported by this version or is damaged" : "was missing")
                                      : "held another EMA than the checkpoint's"
            say("\(emaPath) \(why): exported it again from the checkpoint (step \(trainer.step))")
        }
        var resave = stored["ema_sha256"] != digest
        var samplesDigest = stored["samples_sha256"]
        if finished && drawsGrid {
            let current = FileReader.exists(samplesPath) ? try? FileDigest.sha256(samplesPath).sha256 : nil
            if current == nil || current != samplesDigest {
                let fresh = try writeFinalSamples(trainer)
                say("\(samplesPath) \(current == nil ? "was missing" : "was not the checkpoint's final grid"): drew it again from the checkpoint's EMA (step \(trainer.step))")
                if fresh != samplesDigest {
                    samplesDigest = fresh
                    resave = true
                }
            }
        }
        if resave { try save(trainer, window: window, samplesDigest: finished ? samplesDigest : nil) }
    }

    /// Records as JSON arrays of numbers (null for absent values); Doubles round-trip exactly.
    static func encodeWindow(_ window: [StepRecord]) -> String {
        let rows: [JSONValue] = window.map { r in
            let values: [Double?] = [Double(r.step), r.loss, r.mse, r.vb, r.completeLoss, r.flopsRatio, r.flopsLoss, r.lambda,
                                     r.learningRate, r.gradientNorm, r.decidedFlopsRatio]
            return .array(values.map { $0.map { .string(String($0.bitPattern, radix: 16)) } ?? .null })
        }
        return JSONValue.array(rows).serialized()
    }

    static func decodeWindow(_ text: String, path: String) throws -> [StepRecord] {
        guard case let .array(rows) = try JSONParser.parse(text, path: path) else { return [] }
        return try rows.map { row in
            let v: [Double?] = (row.arrayValue ?? []).map { $0.stringValue.flatMap { UInt64($0, radix: 16) }.map(Double.init(bitPattern:)) }
            // 10 values: a checkpoint written before `decidedFlopsRatio` was logged.
            guard v.count == 10 || v.count == 11, let step = v[0], let loss = v[1], let mse = v[2], let vb = v[3], let lr = v[8], let norm = v[9] else {
                throw TrainingError.checkpoint(path: path, "metadata 'log_window' is damaged")
            }
            return StepRecord(step: Int(step), loss: loss, mse: mse, vb: vb, completeLoss: v[4], flopsRatio: v[5], flopsLoss: v[6],
                              lambda: v[7], learningRate: lr, gradientNorm: norm, decidedFlopsRatio: v.count > 10 ? v[10] : nil)
        }
    }

    static func row(_ window: [StepRecord], imagesPerSecond: Double, elapsed: Double) -> String {
        func mean(_ f: (StepRecord) -> Double?) -> String {
            let v = window.compactMap(f)
            return v.isEmpty ? "" : String(format: "%.6g", v.reduce(0, +) / Double(v.count))
        }
        let last = window.last!
        return [String(last.step), mean(\.loss), mean(\.mse), mean(\.vb), mean(\.completeLoss), mean(\.flopsRatio),
                mean(\.decidedFlopsRatio), mean(\.flopsLoss), last.lambda.map { String(format: "%.6g", $0) } ?? "", String(format: "%.6g", last.learningRate),
                mean(\.gradientNorm), String(format: "%.2f", imagesPerSecond), String(format: "%.1f", elapsed)].joined(separator: ",")
    }

    /// The loop the grids sample with: the EMA weights with their routers, the spec's sampler
    /// and guidance, and an early-exit fine-tune's depth schedule — the model is trained to run
    /// only those blocks (all six at every step drew noise-covered grids the whole run).
    public func gridLoop(_ trainer: Trainer) throws -> SamplingLoop {
        let m = trainer.model
        let c = m.config
        let params = TrainableDiT.ditParameters(from: trainer.ema, config: c, hasNullClass: m.hasNullClass)
        let model = DiT(params, ctx: m.ctx)
        var routing = Routing()
        if let routers = TrainableDiT.routerParameters(from: trainer.ema, config: c, format: m.routerFormat) {
            let (width, token) = try spec.makeRouters(config: c, routers: routers, isa: m.ctx.isa)
            routing = Routing(width: width, token: token)
        }
        let sampler = try spec.sampler.make(config: c, source: "sampler")
        let guidance = m.hasNullClass ? spec.guidance : nil
        let caching = train.settings.earlyExit.map { EarlyExitPolicy(schedule: $0) }
        return SamplingLoop(model: model, sampler: sampler, routing: routing, guidance: guidance, caching: caching)
    }

    /// A grid of the EMA model's samples: one column per class, `samples_per_class` rows, the
    /// same starting noise every time so grids from different steps compare.
    public func sampleGrid(_ trainer: Trainer, to path: String) throws {
        let c = trainer.model.config
        guard c.inChannels == 1 || c.inChannels == 3 else { return }
        let loop = try gridLoop(trainer)
        let labels = (0..<train.samplesPerClass).flatMap { _ in 0..<c.numClasses }
        var rng = RandomGenerator(seed: spec.seed)
        let xT = rng.normals(labels.count * c.imageSize)
        let noiseSeed = rng.next()
        var samples: [Float] = []
        for (i, start) in stride(from: 0, to: labels.count, by: spec.eval.batch).enumerated() {
            let range = start..<min(labels.count, start + spec.eval.batch)
            samples += try loop.run(xT: Array(xT[(range.lowerBound * c.imageSize)..<(range.upperBound * c.imageSize)]),
                                    labels: Array(labels[range]), noise: .seeded(noiseSeed &+ UInt64(i)))
        }
        try PNGFile.write(ImageGrid.byClass(samples, labels: labels, channels: c.inChannels, height: c.inputSize, width: c.inputSize,
                                            names: { ImageDataset.gridLabel($0, numClasses: c.numClasses, inChannels: c.inChannels) },
                                            scale: spec.gridScale), to: path)
    }
}
