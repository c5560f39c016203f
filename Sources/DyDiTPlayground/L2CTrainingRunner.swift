import DyDiTDiffusion
import DyDiTIO
import DyDiTModels
import DyDiTTraining
import Foundation

/// `dydit train` on a spec with `train.l2c`: Learning-to-Cache's routers for the backbone's
/// checkpoint (frozen) and the spec's sampler, into the training folder:
///
/// - `l2c-routers.safetensors`: the logits (`cache: {"type": "l2c", "routers": …}` reads them),
///   written at every checkpoint and at the end, with the step they come from;
/// - `l2c-checkpoint.safetensors`: the whole state (resumed from automatically);
/// - `train.csv` (step, loss, mse, Σw, share of layers computed at the threshold), `spec.json`.
extension TrainingRunner {
    public static let l2cCSVHeader = "step,loss,mse,l1,computed,images_per_s,elapsed_s"

    var l2cCheckpointPath: String { "\(directory)/l2c-checkpoint.safetensors" }
    public var l2cRoutersPath: String { "\(directory)/l2c-routers.safetensors" }

    func performL2C(_ l2c: TrainSpec.L2C, restart: Bool, events: TrainingEvents, say: (String) -> Void) throws -> StepRecord? {
        let c = spec.backbone.config
        guard let checkpoint = spec.backbone.checkpoint else {
            throw TrainingError.data("train.l2c learns cache routers for a trained model: give backbone.checkpoint")
        }
        let ckpt = try Checkpoint(path: spec.resolvePath(checkpoint))
        let ctx = try spec.computeContext()
        let model = try TrainableDiT(ckpt.parameters, ctx: ctx)
        let sampler = try spec.sampler.make(config: c, source: "sampler")
        let dataset = try Registry.loadDataset(train.dataset, channels: c.inChannels)
        let loader = try BatchLoader(dataset: dataset, batch: train.settings.batch, inputSize: c.inputSize,
                                     channels: c.inChannels, flip: train.settings.flip, seed: spec.seed)
        var settings = L2CTrainer.Settings()
        settings.steps = train.settings.steps
        settings.batch = train.settings.batch
        settings.learningRate = train.settings.adam.learningRate
        settings.l1 = l2c.l1
        settings.threshold = l2c.threshold
        settings.labelDropout = train.settings.labelDropout
        settings.seed = spec.seed
        let trainer = try L2CTrainer(model: model, loader: loader, timesteps: sampler.modelTimesteps, settings: settings)
        say("start: L2C routers for \(checkpoint) (frozen), \(sampler.modelTimesteps.count) steps of \(spec.sampler.name), \(2 * c.depth) layers per step; l1 \(l2c.l1), lr \(settings.learningRate)")
        say("data: \(dataset.name), \(dataset.count) images; batches of \(settings.batch); \(ctx.threadCount) thread(s) on \(ctx.isa)")
        say(Self.machineLine(isa: ctx.isa, threads: ctx.threadCount))

        if restart {
            for path in [l2cCheckpointPath, csvPath, l2cRoutersPath] where FileReader.exists(path) { try FileManager.default.removeItem(atPath: path) }
        } else if FileReader.exists(l2cCheckpointPath) {
            try trainer.restore(from: l2cCheckpointPath) {
                SpecIdentity.same(serialized: $0, resumeKey) ? nil : SpecIdentity.refusal(stored: $0, current: resumeKey)
            }
            say("resumed from \(l2cCheckpointPath) at step \(trainer.step)")
        }
        try AtomicFile.write(spec.resolved.serialized(pretty: true) + "\n", to: "\(directory)/spec.json")
        let csv = try TrainingLog(path: csvPath, header: Self.l2cCSVHeader, keepingStepsUpTo: trainer.step)
        let total = settings.steps
        func save() throws {
            // The routers first, the checkpoint last: a kill in between leaves an older
            // checkpoint, and training from it writes the same routers again.
            try trainer.routers.write(to: l2cRoutersPath, metadata: [
                "step": "\(trainer.step)", "spec": spec.resolved.serialized(), "threshold": "\(l2c.threshold)",
                "weights_sha256": try FileDigest.sha256(spec.resolvePath(checkpoint)).sha256,
            ])
            try trainer.save(to: l2cCheckpointPath, spec: resumeKey,
                             extra: ["machine": MachineRecord.json(isa: ctx.isa, threads: ctx.threadCount).serialized()])
        }
        guard trainer.step < total else {
            if !FileReader.exists(l2cRoutersPath) { try save() }
            say("already at step \(trainer.step) of \(total): nothing to train (raise train.steps to go on)")
            return nil
        }
        let clock = ContinuousClock()
        let start = clock.now, firstStep = trainer.step
        var window: [L2CTrainer.Record] = []
        var windowStart = clock.now
        var last: StepRecord?
        while trainer.step < total {
            let r = try trainer.trainStep()
            window.append(r)
            let elapsed = seconds(clock.now - start)
            let rate = Double((trainer.step - firstStep) * settings.batch) / max(elapsed, 1e-9)
            let record = StepRecord(step: r.step, loss: r.loss, mse: r.mse, vb: 0, completeLoss: nil, flopsRatio: nil, flopsLoss: nil,
                                    lambda: nil, learningRate: settings.learningRate, gradientNorm: 0)
            last = record
            events.step(record, total, rate)
            let done = trainer.step
            if done % train.logEvery == 0 || done == total {
                func mean(_ f: (L2CTrainer.Record) -> Double) -> String {
                    String(format: "%.6g", window.map(f).reduce(0, +) / Double(window.count))
                }
                let windowRate = Double(window.count * settings.batch) / max(seconds(clock.now - windowStart), 1e-9)
                try csv.append([String(done), mean(\.loss), mean(\.mse), mean(\.l1), String(format: "%.4f", r.computed),
                                String(format: "%.2f", windowRate), String(format: "%.1f", csv.elapsedBefore + elapsed)].joined(separator: ","))
                window.removeAll(keepingCapacity: true)
                windowStart = clock.now
            }
            let stopping = events.shouldStop()
            if done % train.checkpointEvery == 0 || done == total || stopping { try save() }
            if stopping && done < total {
                say("stopped at step \(done) of \(total); checkpoint saved: run the same command to resume")
                return last
            }
        }
        say(String(format: "done: step %d, loss %.3g; routed steps compute %.0f%% of their layers at threshold %g; wrote %@", trainer.step,
                   last?.loss ?? .nan, 100 * trainer.computedShare(), l2c.threshold, l2cRoutersPath))
        return last
    }
}
