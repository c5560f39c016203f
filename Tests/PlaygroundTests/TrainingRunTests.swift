import DyDiTDiffusion
import DyDiTIO
import DyDiTModels
import DyDiTPlayground
import DyDiTTraining
import Foundation
import XCTest

/// `dydit train`'s runner: a run stopped (gracefully, or killed after its last checkpoint)
/// and resumed ends bit-identical to an uninterrupted one, for DiT training and DyDiT
/// fine-tuning; the log and the output files are there.
final class TrainingRunTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dydit-train-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: "\(dir)/data", withIntermediateDirectories: true)
        // 24 images of 6×6 in 3 classes: a bright bar whose row is the class.
        var pixels: [UInt8] = [], labels: [UInt8] = []
        for i in 0..<24 {
            let label = i % 3
            for r in 0..<6 { for c in 0..<6 { pixels.append(r / 2 == label ? UInt8(200 + i) : UInt8(c * 3)) } }
            labels.append(UInt8(label))
        }
        try IDXFile.write(shape: [24, 6, 6], bytes: pixels, to: "\(dir)/data/train-images-idx3-ubyte.gz")
        try IDXFile.write(shape: [24], bytes: labels, to: "\(dir)/data/train-labels-idx1-ubyte.gz")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func spec(_ backbone: String, out: String, steps: Int = 12, lr: Double = 1e-3, trainExtra: String = "") throws -> ExperimentSpec {
        let dydit = backbone == "dydit"
        let text = """
        {"name": "resume-\(backbone)", "seed": 3,
         "backbone": {"type": "\(backbone)", "config": {"patch_size": 2, "hidden_size": 32, "depth": 2, "num_heads": 2},
                      "input_size": 8, "in_channels": 1, "num_classes": 3, "init": "random"},
         "sampler": {"type": "ddim", "steps": 3}, "eval": {"batch": 3},
         "compute": {"threads": 2}, "output": {"dir": "\(out)"},
         "train": {"dataset": {"type": "fashion-mnist", "path": "\(dir)/data"}, "steps": \(steps), "batch": 4, "lr": \(lr),
                   "flip": true, "grad_clip": 1.0, "warmup_steps": 3, "ema_decay": 0.9,
                   "checkpoint_every": 5, "log_every": 2, "sample_every": 10, "samples_per_class": 1
                   \(dydit ? #", "lambda": 0.6, "lambda_hold_steps": 2, "lambda_ramp_steps": 5, "complete_model_steps": 6"# : "")\(trainExtra)}}
        """
        let runs = try SpecFile(text: text, path: "\(dir)/\(backbone).json").expand()
        return runs[0].spec
    }

    func events(stopAfter: Int? = nil, onStep: ((Int) -> Void)? = nil) -> TrainingEvents {
        var last = 0
        return TrainingEvents(message: { _ in }, step: { record, _, _ in
            last = record.step
            onStep?(record.step)
        }, shouldStop: { stopAfter.map { last >= $0 } ?? false })
    }

    /// Tensors and metadata of a safetensors file, for exact comparison.
    func contents(_ path: String) throws -> [String: [UInt8]] {
        let file = try SafeTensorsFile(path: path)
        var out: [String: [UInt8]] = [:]
        for name in file.names { out[name] = Array(try file.tensor(name).bytes) }
        // The machine record holds the load average: it differs between runs by design.
        for (k, v) in file.metadata where k != "spec" && k != "machine" { out["meta:" + k] = Array(v.utf8) }
        return out
    }

    /// The CSV without its timing columns (images/s, elapsed).
    func rows(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).dropLast(2).joined(separator: ",") }
    }

    /// An early-exit fine-tune's sample grids run the blocks it is trained to run: they had
    /// sampled the whole model at every step (early-exit.json's grids were noise throughout).
    func testEarlyExitGridsSampleWithTheTrainedSchedule() throws {
        let exit = #", "early_exit": {"boundaries": [500], "depths": [2, 1]}"#
        let runner = try TrainingRunner(spec: try spec("dit", out: "\(dir)/exit", steps: 2, trainExtra: exit))
        try runner.run(events: events())
        let policy = try XCTUnwrap(try runner.gridLoop(runner.trainer).caching as? EarlyExitPolicy, "no early-exit schedule")
        XCTAssertEqual(policy.schedule, EarlyExitSchedule(boundaries: [500], depths: [2, 1]))
        let plain = try TrainingRunner(spec: try spec("dit", out: "\(dir)/plain", steps: 2))
        try plain.run(events: events())
        XCTAssertNil(try plain.gridLoop(plain.trainer).caching)
    }

    func testStoppedAndKilledRunsResumeBitIdentically() throws {
        for backbone in ["dit", "dydit"] {
            let whole = "\(dir)/\(backbone)-whole", stopped = "\(dir)/\(backbone)-stopped", killed = "\(dir)/\(backbone)-killed"
            let last = try XCTUnwrap(try TrainingRunner(spec: try spec(backbone, out: whole)).run(events: events()))
            XCTAssertEqual(last.step, 12)
            XCTAssert(last.loss.isFinite)
            if backbone == "dydit" { XCTAssertNotNil(last.flopsRatio) }
            for file in ["checkpoint.safetensors", "ema.safetensors", "train.csv", "samples.png", "samples-step-0000010.png", "spec.json", "log.txt"] {
                XCTAssert(FileReader.exists("\(whole)/\(file)"), "\(backbone): \(file) missing")
            }
            XCTAssertEqual(try rows("\(whole)/train.csv").count, 1 + 6, "a header and a row per 2 steps")
            // The machine and build: in the checkpoint and in the log.
            let machine = try XCTUnwrap(try SafeTensorsFile(path: "\(whole)/checkpoint.safetensors").metadata["machine"])
            XCTAssertTrue(machine.contains("dydit_version") && machine.contains("\"isa\""), machine)
            XCTAssertTrue(try String(contentsOfFile: "\(whole)/log.txt", encoding: .utf8).contains("machine: dydit \(DyDiTVersion.string)"))

            // Stopped after step 7 (between checkpoints), then resumed.
            let first = try TrainingRunner(spec: try spec(backbone, out: stopped)).run(events: events(stopAfter: 7))
            XCTAssertEqual(first?.step, 7)
            XCTAssertEqual(try TrainingCheckpoint.peek("\(stopped)/checkpoint.safetensors").step, 7)
            try TrainingRunner(spec: try spec(backbone, out: stopped)).run(events: events())

            // Killed after step 8: the step-5 checkpoint is all that survives, the log runs ahead.
            var saved: [UInt8] = []
            try TrainingRunner(spec: try spec(backbone, out: killed, steps: 8)).run(events: events(onStep: { step in
                if step == 6 { saved = (try? Array(Data(contentsOf: URL(fileURLWithPath: "\(killed)/checkpoint.safetensors")))) ?? [] }
            }))
            XCTAssertFalse(saved.isEmpty)
            try Data(saved).write(to: URL(fileURLWithPath: "\(killed)/checkpoint.safetensors"))
            XCTAssertEqual(try TrainingCheckpoint.peek("\(killed)/checkpoint.safetensors").step, 5)
            try TrainingRunner(spec: try spec(backbone, out: killed)).run(events: events())

            let reference = try contents("\(whole)/checkpoint.safetensors")
            for other in [stopped, killed] {
                let got = try contents("\(other)/checkpoint.safetensors")
                XCTAssertEqual(got.keys.sorted(), reference.keys.sorted(), "\(backbone) \(other)")
                for (name, bytes) in reference where got[name] != bytes {
                    XCTFail("\(backbone): \(name) differs between the uninterrupted run and \(other)")
                }
                XCTAssertEqual(try contents("\(other)/ema.safetensors"), try contents("\(whole)/ema.safetensors"), "\(backbone) \(other)")
                XCTAssertEqual(try rows("\(other)/train.csv"), try rows("\(whole)/train.csv"), "\(backbone) \(other)")
            }
        }
    }

    /// `train.l2c`: Learning-to-Cache's routers for a frozen model; a run stopped and resumed
    /// ends bit-identical to an uninterrupted one, the routers file fits the sampler, and only
    /// the routed steps' rows (even respaced indices) leave their initial values.
    func testL2CRoutersTrainAndResumeBitIdentically() throws {
        try TrainingRunner(spec: try spec("dit", out: "\(dir)/base", steps: 3)).run(events: events())
        func l2c(_ out: String) throws -> ExperimentSpec {
            let text = """
            {"name": "l2c", "seed": 6, "backbone": {"type": "dit", "checkpoint": "\(dir)/base/ema.safetensors"},
             "sampler": {"type": "ddim", "steps": 4}, "eval": {"batch": 3}, "compute": {"threads": 2}, "output": {"dir": "\(out)"},
             "train": {"dataset": {"type": "fashion-mnist", "path": "\(dir)/data"}, "steps": 6, "batch": 4, "lr": 0.01,
                       "checkpoint_every": 2, "log_every": 2, "l2c": {"l1": 0.001}}}
            """
            return try SpecFile(text: text, path: "\(dir)/l2c.json").expand()[0].spec
        }
        let whole = "\(dir)/l2c-whole", stopped = "\(dir)/l2c-stopped"
        let last = try XCTUnwrap(try TrainingRunner(spec: try l2c(whole)).run(events: events()))
        XCTAssertEqual(last.step, 6)
        XCTAssert(last.loss.isFinite && last.loss > 0)
        XCTAssertEqual(try rows("\(whole)/train.csv").count, 1 + 3)
        XCTAssertEqual(try TrainingRunner(spec: try l2c(stopped)).run(events: events(stopAfter: 3))?.step, 3)
        try TrainingRunner(spec: try l2c(stopped)).run(events: events())
        for file in ["l2c-checkpoint.safetensors", "l2c-routers.safetensors"] {
            XCTAssertEqual(try contents("\(stopped)/\(file)"), try contents("\(whole)/\(file)"), file)
        }
        let routers = try LearningToCacheRouters(path: "\(whole)/l2c-routers.safetensors")
        XCTAssertEqual(routers.steps, 4)
        XCTAssertEqual(routers.layers, 4, "attention and MLP of 2 blocks")
        // The initial logits: the trainer's first draws (RandomGenerator(seed: 6).normals).
        var rng = RandomGenerator(seed: 6)
        let initial = rng.normals(4 * 4)
        for r in 0..<4 {
            let moved = routers.logits[r] != Array(initial[(r * 4)..<((r + 1) * 4)])
            XCTAssertEqual(moved, r % 2 == 0, "row \(r): only routed steps (even r) train")
        }
        XCTAssertNoThrow(try LearningToCachePolicy(routers: routers, threshold: 0.1).session(timesteps: routers.timesteps!, depth: 2))
        // A reworded description resumes too; another learning rate does not.
        let reworded = "\(dir)/l2c-reworded"
        XCTAssertEqual(try TrainingRunner(spec: try l2c(reworded)).run(events: events(stopAfter: 3))?.step, 3)
        func changed(_ key: String, _ value: JSONValue) throws -> ExperimentSpec {
            var s = try l2c(reworded)
            guard case var .object(root) = s.resolved else {
                XCTFail("resolved spec is not an object")
                return s
            }
            if key == "description" { root[key] = value } else if case var .object(train) = root["train"] ?? .null {
                train[key] = value
                root["train"] = .object(train)
            }
            s.resolved = .object(root)
            return s
        }
        XCTAssertThrowsError(try TrainingRunner(spec: try changed("lr", .double(0.02))).run(events: events())) {
            XCTAssert("\($0)".contains("different spec"), "\($0)")
            XCTAssert("\($0)".contains("train.lr: ") && "\($0)".contains("→ 0.02"), "names what changed: \($0)")
        }
        XCTAssertEqual(try TrainingRunner(spec: try changed("description", .string("reworded"))).run(events: events())?.step, 6)
    }

    /// elapsed_s counts training time over every resume: a resumed run's rows continue from
    /// the last kept row (FD against hours spans sessions), never back from 0.
    func testElapsedTimeContinuesAcrossResumes() throws {
        let out = "\(dir)/elapsed"
        try TrainingRunner(spec: try spec("dit", out: out)).run(events: events(stopAfter: 6))
        // Pretend the first part took 1000 s (a fast test's rows all read 0.0).
        let csv = "\(out)/train.csv"
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n").map(String.init)
        let edited = [lines[0]] + lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).dropLast().joined(separator: ",") + ",1000.0" }
        try (edited.joined(separator: "\n") + "\n").write(toFile: csv, atomically: true, encoding: .utf8)
        try TrainingRunner(spec: try spec("dit", out: out)).run(events: events())
        let elapsed = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n").dropFirst()
            .map { Double($0.split(separator: ",", omittingEmptySubsequences: false).last!)! }
        XCTAssertEqual(elapsed.count, 6)
        XCTAssertTrue(elapsed.allSatisfy { $0 >= 1000 }, "\(elapsed)")
        XCTAssertEqual(elapsed, elapsed.sorted(), "elapsed_s never goes back")
    }

    /// A run whose train.csv was written before `flops_ratio_decided` existed resumes with its
    /// rows kept (the new column empty in them), not dropped for the changed header; a log whose
    /// columns do not map is kept beside the new one as train.csv.old.
    func testAnOlderLogKeepsItsRowsOnResume() throws {
        let out = "\(dir)/older-log"
        try TrainingRunner(spec: try spec("dydit", out: out)).run(events: events(stopAfter: 6))
        let csv = "\(out)/train.csv"
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n").map(String.init)
        let columns = lines[0].split(separator: ",").map(String.init)
        let decided = try XCTUnwrap(columns.firstIndex(of: "flops_ratio_decided"))
        func dropping(_ line: String) -> String {
            var fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            fields.remove(at: decided)
            return fields.joined(separator: ",")
        }
        XCTAssertFalse(lines[1].split(separator: ",", omittingEmptySubsequences: false)[decided].isEmpty, "a DyDiT row logs the decided ratio")
        try (lines.map(dropping).joined(separator: "\n") + "\n").write(toFile: csv, atomically: true, encoding: .utf8)
        try TrainingRunner(spec: try spec("dydit", out: out)).run(events: events())
        let resumed = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(resumed.first, lines[0])
        XCTAssertEqual(resumed.count, 1 + 6, "the three old rows kept, three new ones")
        for (old, new) in zip(lines.dropFirst().prefix(3), resumed.dropFirst().prefix(3)) {
            var expected = old.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            expected[decided] = ""
            XCTAssertEqual(new, expected.joined(separator: ","))
        }
        XCTAssertFalse(resumed[4].split(separator: ",", omittingEmptySubsequences: false)[decided].isEmpty)

        // Columns that do not map onto today's header: the old log is kept, not lost.
        let renamed = resumed.enumerated().map { $0.offset == 0 ? $0.element.replacingOccurrences(of: "loss", with: "objective") : $0.element }
        try (renamed.joined(separator: "\n") + "\n").write(toFile: csv, atomically: true, encoding: .utf8)
        try TrainingRunner(spec: try spec("dydit", out: out, steps: 14)).run(events: events())
        XCTAssertEqual(try String(contentsOfFile: csv + ".old", encoding: .utf8), renamed.joined(separator: "\n") + "\n")
    }

    func testAChangedSpecIsRefusedAndRestartStartsOver() throws {
        let out = "\(dir)/changed"
        try TrainingRunner(spec: try spec("dit", out: out, steps: 4)).run(events: events())
        // A different learning rate under the same output folder.
        XCTAssertThrowsError(try TrainingRunner(spec: try spec("dit", out: out, steps: 6, lr: 2e-3)).run(events: events())) {
            let message = "\($0)"
            XCTAssert(message.contains("different spec"), message)
            // What changed, by path — not two whole specs to compare by eye; train.steps may change.
            XCTAssert(message.contains("train.lr: 0.001 → 0.002"), message)
            XCTAssertFalse(message.contains("  train.steps:"), message)
            XCTAssertFalse(message.contains("\"dataset\""), message)
        }
        // Raising train.steps extends the run, and a reworded description is no other spec;
        // --restart begins again from step 0.
        var described = try spec("dit", out: out, steps: 5)
        guard case var .object(root) = described.resolved else { return XCTFail("resolved spec is not an object") }
        root["description"] = .string("reworded")
        described.resolved = .object(root)
        XCTAssertEqual(try TrainingRunner(spec: described).run(events: events())?.step, 5)
        XCTAssertEqual(try TrainingRunner(spec: try spec("dit", out: out, steps: 6)).run(events: events())?.step, 6)
        XCTAssertNil(try TrainingRunner(spec: try spec("dit", out: out, steps: 6)).run(events: events()), "nothing left to do")
        XCTAssertEqual(try TrainingRunner(spec: try spec("dit", out: out, steps: 2)).run(restart: true, events: events())?.step, 2)
    }

    func testASweepTrainsEachRunAndRunEvaluatesItsWeights() throws {
        let out = "\(dir)/sweep"
        let text = """
        {"name": "sweep", "seed": 1,
         "backbone": {"type": "dit", "config": {"patch_size": 2, "hidden_size": 32, "depth": 1, "num_heads": 2},
                      "input_size": 8, "in_channels": 1, "num_classes": 3},
         "sampler": {"type": "ddim", "steps": 2}, "eval": {"samples": 3, "batch": 3}, "compute": {"threads": 1},
         "output": {"dir": "\(out)"},
         "train": {"dataset": {"type": "fashion-mnist", "path": "\(dir)/data"}, "steps": 3, "batch": 4, "samples_per_class": 1},
         "sweep": {"grid": {"train.lr": [0.001, 0.002]}}}
        """
        let runs = try SpecFile(text: text).expand()
        XCTAssertEqual(runs.count, 2)
        let evaluator = ExperimentRunner(store: try RunStore(directory: out))
        var messages: [String] = []
        let collect = RunEvents(message: { messages.append($0) }, step: { _, _, _, _ in })
        XCTAssertThrowsError(try evaluator.execute(runs[0], events: collect)) { XCTAssert("\($0)".contains("train first"), "\($0)") }
        // A training stopped half-way leaves EMA weights of an earlier step: refused, not measured.
        try TrainingRunner(spec: runs[0].spec, directory: TrainingRunner.directory(for: runs[0], base: out)).run(events: events(stopAfter: 2))
        XCTAssertThrowsError(try evaluator.execute(runs[0], events: collect)) {
            XCTAssert("\($0)".contains("step 2 of 3") && "\($0)".contains("resumes it"), "\($0)")
        }
        for run in runs {
            try TrainingRunner(spec: run.spec, directory: TrainingRunner.directory(for: run, base: out)).run(events: events())
            XCTAssert(FileReader.exists("\(out)/\(run.id)/train/ema.safetensors"), run.id)
        }
        for run in runs { try evaluator.execute(run, events: collect) }
        for run in runs {
            XCTAssert(messages.contains { $0.contains("loaded \(out)/\(run.id)/train/ema.safetensors") }, "\(messages)")
            XCTAssert(FileReader.exists("\(out)/\(run.id)/metrics.json"), run.id)
        }
    }
}
