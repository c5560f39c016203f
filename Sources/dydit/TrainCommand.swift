import ArgumentParser
import DyDiTIO
import DyDiTPlayground
import DyDiTTraining
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGINT / SIGTERM; the training loop checkpoints and stops at the next step.
nonisolated(unsafe) private var stopRequested: sig_atomic_t = 0

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a DiT, or fine-tune a DyDiT under a FLOPs target, from a spec's train section.",
        discussion: """
        Writes to the spec's output.dir (or --out; each run of a sweep in <run id>/train inside \
        it): checkpoint.safetensors (the whole training state, \
        written atomically every train.checkpoint_every steps), ema.safetensors (the EMA weights as a \
        model file for `dydit run` and `dydit sample`), train.csv (loss, FLOPs ratio, learning rate, \
        gradient norm and images/s every train.log_every steps), sample grids of the EMA model (one \
        column per class), spec.json and log.txt. Running the same command again resumes from the \
        checkpoint and continues exactly as an uninterrupted run would (same thread count); Ctrl-C \
        saves a checkpoint before stopping. Raise train.steps to train further. `dydit run` on the \
        same spec then evaluates the trained weights of each run. --shard i/n trains runs i, i+n, \
        i+2n, … of a sweep (i from 0), for batch schedulers or one run of many.
        """)

    @Argument(help: "The experiment spec (.json) with a train section.")
    var spec: String
    @Option(help: "Output folder (default: the spec's output.dir).")
    var out: String?
    @Flag(help: "Start over: delete the folder's checkpoint and log first.")
    var restart = false
    @Option(help: "Train only this shard of a sweep, i/n with 0 ≤ i < n: runs i, i+n, i+2n, …; auto: this Slurm array task's share (any --array; see Experiments/slurm).")
    var shard: String?

    func run() throws {
        try reportingErrors {
            let all = try SpecFile.load(spec).expand()
            let part = try parseShard(shard)
            let (index, count) = (part.index, part.count)
            let runs = all.filter { $0.index % count == index }
            printWarnings(runs)
            signal(SIGINT) { _ in stopRequested = 1 }
            signal(SIGTERM) { _ in stopRequested = 1 }
            if count > 1 { printError("shard \(index)/\(count): \(runs.count) of \(all.count) run(s)") }
            for (k, run) in runs.enumerated() {
                if all.count > 1 { printError("[\(k + 1)/\(runs.count)] \(run.id)") }
                try train(run)
                if stopRequested != 0 { throw ExitCode(130) }
            }
        }
    }

    func train(_ run: SpecFile.Run) throws {
        let runner = try TrainingRunner(spec: run.spec, directory: TrainingRunner.directory(for: run, base: out))
        var progress: ProgressLine?
        var firstStep = 0
        let last = try runner.run(restart: restart, events: TrainingEvents(
            message: { printError($0) },
            step: { record, total, rate in
                if progress == nil {
                    firstStep = record.step - 1
                    progress = ProgressLine(label: "train", total: total - firstStep)
                }
                var detail = String(format: "step %d/%d · loss %.4f · %.1f img/s", record.step, total, record.loss, rate)
                if let ratio = record.flopsRatio, let lambda = record.lambda {
                    detail += String(format: " · FLOPs %.3f (λ %.3f)", ratio, lambda)
                    // What sampling will compute: routers decide without the Gumbel noise.
                    if let decided = record.decidedFlopsRatio { detail += String(format: ", decided %.3f", decided) }
                }
                progress?.update(record.step - firstStep, detail: detail)
            },
            shouldStop: { stopRequested != 0 }))
        // Interrupted before the end: the shell's convention for SIGINT, so scripts can tell.
        if let last, last.step < runner.train.settings.steps { throw ExitCode(130) }
    }
}
