import ArgumentParser
import DyDiTIO
import DyDiTPlayground
import Foundation

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an experiment spec (every run of its sweep), resuming where it stopped.",
        discussion: """
        Writes one folder per run under the output folder (the spec's output.dir, or --out): spec.json \
        (the resolved spec), metrics.json (written last: a run is complete when it exists), samples \
        (.safetensors, and a .png grid for 1- or 3-channel models), masks.csv (width routers) and \
        log.txt; and across runs summary.csv and summary.md. Complete runs are skipped, so an \
        interrupted experiment resumes where it stopped. A run is complete while the SHA-256 of \
        its spec and of every file it reads (weights, masks, test data) match what its \
        metrics.json recorded; a run whose files changed is refused unless --redo-changed. \
        --shard i/n runs runs i, i+n, i+2n, … (i from 0), for batch schedulers; `dydit summarize \
        DIR` then merges the shards' tables. Each run is locked (flock) while it runs.
        """)

    @Argument(help: "The experiment spec (.json).")
    var spec: String
    @Option(help: "Output folder (default: the spec's output.dir).")
    var out: String?
    @Option(help: "Run only this shard, i/n with 0 ≤ i < n: runs i, i+n, i+2n, …; auto: this Slurm array task's share (any --array; see Experiments/slurm).")
    var shard: String?
    @Flag(help: "Print the expanded runs and their state, run nothing.")
    var dryRun = false
    @Flag(help: "Measure again the complete runs whose input files changed since (their old results are replaced); without it such runs are refused.")
    var redoChanged = false

    func run() throws {
        try reportingErrors {
            let file = try SpecFile.load(spec)
            let runs = try file.expand()
            let part = try parseShard(shard)
            let (index, count) = (part.index, part.count)
            let mine = runs.filter { $0.index % count == index }
            let dirs = Set(runs.map(\.spec.outputDir))
            guard out != nil || dirs.count == 1 else {
                throw ValidationError("the runs of \(spec) write to different output.dir values (\(dirs.sorted().joined(separator: ", "))); sweep something else or pass --out")
            }
            let directory = out ?? runs[0].spec.outputDir
            if dryRun {
                print("\(runs.count) run(s) in \(spec), output \(directory)\(count > 1 ? ", shard \(index)/\(count): \(mine.count) run(s)" : ""):")
                let store = FileReader.isDirectory(directory) ? try RunStore(directory: directory) : nil
                let runner = store.map { ExperimentRunner(store: $0) }
                for r in mine {
                    var state = "pending"
                    if let store, let runner {
                        do { state = describe(store.state(of: r.id, resolved: r.spec.resolved, key: try runner.key(for: r))) } catch {
                            state = "pending; its inputs cannot be read: \(error)"
                        }
                    }
                    let values = r.overrides.map { "\($0.path)=\($0.value.serialized())" }.joined(separator: " ")
                    print("  \(r.id)  [\(state)]  \(values)")
                }
                return
            }
            let store = try RunStore(directory: directory)
            let runner = ExperimentRunner(store: store)
            // Refuse before any work if a folder holds another spec under a run's id, or results
            // of other input files. A run whose inputs cannot be read yet (not trained) fails
            // when its turn comes, after the runs before it.
            for r in mine {
                guard let key = try? runner.key(for: r) else { continue }
                try refuseUnlessRunnable(store.state(of: r.id, resolved: r.spec.resolved, key: key), store.runDirectory(r.id))
            }
            var done = 0, skipped = 0
            for (k, r) in mine.enumerated() {
                let header = "[\(k + 1)/\(mine.count)] \(r.id)"
                try store.lock(r.id)
                defer { store.unlock(r.id) }
                // Again under the lock: another shard may have finished it, or a file changed.
                let state = store.state(of: r.id, resolved: r.spec.resolved, key: try runner.key(for: r))
                if state == .complete {
                    printError("\(header): already complete, skipped")
                    skipped += 1
                    continue
                }
                try refuseUnlessRunnable(state, store.runDirectory(r.id))
                printError(header)
                if case let .changed(why) = state { printError("  measuring again (--redo-changed): it \(why)") }
                var progress: ProgressLine?
                var current = ""
                // The phase (pass, round, seed) under way, when and how far along this process
                // took it up (a resumed seed starts part-way): its own ETA.
                var phaseStart: (name: String, at: ContinuousClock.Instant, done: Double)?
                try runner.execute(r, events: RunEvents(
                    message: { printError("  " + $0) },
                    step: { phase, batch, batches, report in
                        let label = "  \(phase) batch \(batch + 1)/\(batches) step"
                        if label != current {
                            progress = ProgressLine(label: label, total: report.steps)
                            current = label
                        }
                        if phaseStart?.name != phase {
                            phaseStart = (phase, .now, PhaseProgress.fraction(batch: batch, batches: batches, step: report.step - 1, steps: report.steps))
                        }
                        var detail = report.flopsRatio < 1 ? String(format: "FLOPs %.3f", report.flopsRatio) : "t=\(report.timestep)"
                        let f = PhaseProgress.fraction(batch: batch, batches: batches, step: report.step, steps: report.steps)
                        if batches > 1, let left = PhaseProgress.remaining(fraction: f, since: phaseStart!.done,
                                                                           elapsed: seconds(.now - phaseStart!.at)) {
                            detail += " · \(phase) " + String(format: "%.0f%%", 100 * f) + ", ETA " + ProgressLine.duration(left)
                        }
                        progress?.update(report.step + 1, detail: detail)
                    }))
                done += 1
            }
            let total = try Summary.write(store, name: runs[0].spec.name)
            print("\(done) run(s) done, \(skipped) already complete; \(total) complete run(s) in \(directory)/summary.md")
            if let table = try? String(contentsOfFile: "\(directory)/summary.md", encoding: .utf8) { print(table) }
        }
    }

    func describe(_ state: RunStore.State) -> String {
        switch state {
        case .pending: return "pending"
        case .complete: return "complete"
        case let .changed(why): return "CHANGED: it \(why)"
        case let .conflict(why): return "CONFLICT: it \(why)"
        }
    }

    /// A different spec under the run's id is always refused; results of other inputs unless
    /// --redo-changed.
    func refuseUnlessRunnable(_ state: RunStore.State, _ dir: String) throws {
        switch state {
        case let .conflict(why): throw IOError(dir, why)
        case let .changed(why) where !redoChanged:
            throw IOError(dir, "\(why)\n  its metrics describe the old inputs: pass --redo-changed to measure it again (replacing them), or write to another --out")
        default: return
        }
    }

}

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a spec as a run would (every sweep value, option, file) without running it.",
        discussion: """
        With --json, prints one JSON object for all the specs: {"specs": [{"spec", "ok", \
        "runs", "errors", "warnings"}]}, each error and warning {"file", "line", "column", \
        "path", "message", "got", "expected", "suggestion"} (null where unknown), for editors \
        and tools; the exit status is the same.
        """)

    @Argument(help: "Experiment specs (.json).")
    var specs: [String]

    @Flag(help: "Print the result as JSON (problems with their fields) instead of text.")
    var json = false

    func run() throws {
        var failed = 0
        var results: [JSONValue] = []
        for spec in specs {
            var runs: [SpecFile.Run] = []
            var errors: [SpecIssue] = []
            var other: String?
            do {
                runs = try SpecFile.load(spec).expand()
            } catch let e as SpecErrors {
                errors = e.issues
            } catch {
                other = "\(error)"
            }
            let ok = errors.isEmpty && other == nil
            if !ok { failed += 1 }
            if json {
                // A problem that is not about a place in the spec (an unreadable file) is one issue without a path.
                let all = errors + (other.map { [SpecIssue(file: spec, path: "$", position: nil, message: $0)] } ?? [])
                results.append(.object(JSONObject([
                    ("spec", .string(spec)), ("ok", .bool(ok)), ("runs", .array(runs.map { .string($0.id) })),
                    ("errors", .array(all.map(\.json))), ("warnings", .array(uniqueWarnings(runs).map(\.json))),
                ])))
                continue
            }
            if ok {
                printWarnings(runs)
                // A big sweep lists its first and last runs, not thousands of ids.
                let ids = runs.map(\.id)
                let shown = ids.count <= 12 ? ids : Array(ids.prefix(6)) + ["… \(ids.count - 10) more …"] + Array(ids.suffix(4))
                print("\(spec): OK, \(runs.count) run(s): \(shown.joined(separator: ", "))")
            } else {
                printError(other ?? "\(SpecErrors(issues: errors))")
            }
        }
        if json { print(JSONValue.object(JSONObject([("specs", .array(results))])).serialized(pretty: true)) }
        if failed > 0 { throw ExitCode(1) }
    }
}

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Every plug-in a spec can name (backbones, routers, samplers, step caches, precisions, metrics, datasets), with options and defaults.")

    @Flag(help: "Print the list as one JSON object (keys: the kinds; each a list of {name, summary, spec_field, options: [{name, default, help}]}), for notebooks and tools.")
    var json = false

    func run() throws { print(json ? Registry.listingJSON().serialized(pretty: true) : Registry.listing(), terminator: json ? "\n" : "") }
}

struct SummarizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summarize",
        abstract: "Rebuild summary.csv and summary.md of an output folder from its complete runs (e.g. after sharded runs).")

    @Argument(help: "The experiment's output folder.")
    var directory: String

    func run() throws {
        try reportingErrors {
            guard FileReader.isDirectory(directory) else { throw IOError(directory, "is not a folder") }
            let store = try RunStore(directory: directory)
            let count = try Summary.write(store)
            // Every experiment in the folder: shards of one, or several sharing a folder.
            let unfinished = Summary.incomplete(store)
            print("\(count) complete run(s) in \(directory)/summary.md"
                  + (unfinished.isEmpty ? "" : "; \(unfinished.count) without results (listed under the table)"))
            if let table = try? String(contentsOfFile: "\(directory)/summary.md", encoding: .utf8) { print(table) }
        }
    }
}
