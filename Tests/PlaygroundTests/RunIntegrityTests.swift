import DyDiTIO
import DyDiTPlayground
import DyDiTTraining
import Foundation
import ReferenceSupport
import XCTest

/// Issue 13 §4, through the runners: a kill at the very end of training leaves no stale EMA or
/// grid, killed runs' temporary and partial files are cleared on the next start, racing
/// lockers admit exactly one, and the latency metric is timed in rounds with the machine
/// recorded. (Only APIs that predate the fixes, so these also ran against the old code.)
final class RunIntegrityTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dydit-integrity-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: "\(dir)/data", withIntermediateDirectories: true)
        // 12 images of 4×4 in 2 classes.
        var pixels: [UInt8] = [], labels: [UInt8] = []
        for i in 0..<12 {
            for p in 0..<16 { pixels.append(UInt8((p * 13 + i * 7 + (i % 2) * 100) % 256)) }
            labels.append(UInt8(i % 2))
        }
        try IDXFile.write(shape: [12, 4, 4], bytes: pixels, to: "\(dir)/data/train-images-idx3-ubyte.gz")
        try IDXFile.write(shape: [12], bytes: labels, to: "\(dir)/data/train-labels-idx1-ubyte.gz")
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func trainSpec(out: String, steps: Int = 6) throws -> ExperimentSpec {
        let text = """
        {"name": "kill", "seed": 2,
         "backbone": {"type": "dit", "config": {"patch_size": 2, "hidden_size": 16, "depth": 1, "num_heads": 2},
                      "input_size": 4, "in_channels": 1, "num_classes": 2},
         "sampler": {"type": "ddim", "steps": 2}, "eval": {"batch": 2}, "compute": {"threads": 1}, "output": {"dir": "\(out)"},
         "train": {"dataset": {"type": "fashion-mnist", "path": "\(dir)/data"}, "steps": \(steps), "batch": 4, "lr": 1e-3,
                   "warmup_steps": 1, "ema_decay": 0.5, "checkpoint_every": 2, "log_every": 2, "sample_every": 0, "samples_per_class": 1}}
        """
        return try SpecFile(text: text, path: "\(dir)/kill.json").expand()[0].spec
    }

    func events(onStep: @escaping (Int) -> Void = { _ in }) -> TrainingEvents {
        TrainingEvents(message: { _ in }, step: { record, _, _ in onStep(record.step) })
    }

    /// Tensors and metadata (all but the spec, which names the folder) of a safetensors file.
    func contents(_ path: String) throws -> [String: [UInt8]] {
        let file = try SafeTensorsFile(path: path)
        var out: [String: [UInt8]] = [:]
        for name in file.names { out[name] = Array(try file.tensor(name).bytes) }
        for (k, v) in file.metadata where k != "spec" { out["meta:" + k] = Array(v.utf8) }
        return out
    }

    func bytes(_ path: String) throws -> [UInt8] { try FileReader.read(path) }

    /// Killed between the final checkpoint and `ema.safetensors` / `samples.png`: the rerun has
    /// nothing to train, and must still leave the checkpoint's EMA and its grid, not an older
    /// EMA forever.
    func testAKillAfterTheFinalCheckpointIsRepairedByTheRerun() throws {
        let out = "\(dir)/train"
        var older: [UInt8] = []
        try TrainingRunner(spec: try trainSpec(out: out)).run(events: events(onStep: { step in
            // After step 3's update, ema.safetensors is still step 2's export.
            if step == 3 { older = (try? self.bytes("\(out)/ema.safetensors")) ?? [] }
        }))
        XCTAssertFalse(older.isEmpty)
        let finalEMA = try contents("\(out)/ema.safetensors"), finalGrid = try bytes("\(out)/samples.png")
        try Data(older).write(to: URL(fileURLWithPath: "\(dir)/older.safetensors"))
        XCTAssertNotEqual(try contents("\(dir)/older.safetensors"), finalEMA, "step 2's EMA is not step 6's")

        // The kill: the step-6 checkpoint is written, the exports are not.
        try Data(older).write(to: URL(fileURLWithPath: "\(out)/ema.safetensors"))
        try FileManager.default.removeItem(atPath: "\(out)/samples.png")
        XCTAssertNil(try TrainingRunner(spec: try trainSpec(out: out)).run(events: events()), "nothing left to train")
        XCTAssertEqual(try contents("\(out)/ema.safetensors"), finalEMA, "ema.safetensors is the final checkpoint's EMA again")
        XCTAssertEqual(try bytes("\(out)/samples.png"), finalGrid, "samples.png is the final grid again")

        // A grid replaced by something else is drawn again too; a correct folder is left alone.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: "\(out)/samples.png"))
        XCTAssertNil(try TrainingRunner(spec: try trainSpec(out: out)).run(events: events()))
        XCTAssertEqual(try bytes("\(out)/samples.png"), finalGrid)
        let checkpoint = try bytes("\(out)/checkpoint.safetensors")
        XCTAssertNil(try TrainingRunner(spec: try trainSpec(out: out)).run(events: events()))
        XCTAssertEqual(try bytes("\(out)/checkpoint.safetensors"), checkpoint, "nothing to repair: nothing rewritten")
    }

    /// The temporary files of a killed training's writes go at the next start; other files of
    /// the folder (a `dydit run` summary's temporary file, say) stay.
    func testTemporaryFilesOfAKilledTrainingAreRemoved() throws {
        let out = "\(dir)/temps"
        try FileManager.default.createDirectory(atPath: "\(out)/snapshots", withIntermediateDirectories: true)
        let mine = [".checkpoint.safetensors.tmp-4242-1", ".ema.safetensors.tmp-4242-2", ".samples-step-0000002.png.tmp-4242-3",
                    "snapshots/.ema-step-0000002.safetensors.tmp-4242-4"]
        for name in mine + [".summary.csv.tmp-4242-5"] { try Data([0]).write(to: URL(fileURLWithPath: "\(out)/\(name)")) }
        try TrainingRunner(spec: try trainSpec(out: out, steps: 2)).run(events: events())
        for name in mine { XCTAssertFalse(FileReader.exists("\(out)/\(name)"), "\(name) is still there") }
        XCTAssertTrue(FileReader.exists("\(out)/.summary.csv.tmp-4242-5"), "not the training's file")
    }

    /// A tiny random-init DyDiT run spec (dense baseline on).
    func runSpec(_ extra: String = "") throws -> SpecFile.Run {
        let text = """
        {"name": "tiny", "seed": 1,
         "backbone": {"type": "dydit", "config": {"hidden_size": 32, "depth": 1, "num_heads": 2, "patch_size": 4},
                      "input_size": 8, "in_channels": 1, "num_classes": 3},
         "routers": {"width": "none", "token": {"type": "random", "keep": 0.5}},
         "sampler": {"type": "ddim", "steps": 2}, "guidance": {"scale": 1},
         "eval": {"samples": 2, "batch": 2\(extra)}, "compute": {"threads": 1}, "output": {"dir": "\(dir)/out"}}
        """
        return try SpecFile(text: text).expand()[0]
    }

    func testRacingRunLocksAdmitExactlyOne() throws {
        // The old lock (a file made with O_EXCL holding a pid) let two takers through: one
        // read the file before the other had written its pid, or found its own pid in it.
        for trial in 0..<60 {
            let stores = try (0..<4).map { _ in try RunStore(directory: "\(dir)/race-\(trial)") }
            let counter = NSLock()
            var winners = 0
            DispatchQueue.concurrentPerform(iterations: stores.count) { i in
                if (try? stores[i].lock("r")) != nil {
                    counter.lock()
                    winners += 1
                    counter.unlock()
                }
            }
            XCTAssertEqual(winners, 1, "trial \(trial)")
            for s in stores { s.unlock("r") }
        }
    }

    /// A run killed mid-way left a temporary file and outputs of its attempt; running it again
    /// starts from a clean folder.
    func testAnInterruptedRunsFilesAreClearedBeforeItIsRedone() throws {
        let r = try runSpec()
        let store = try RunStore(directory: "\(dir)/out")
        let runDir = store.runDirectory(r.id)
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        try r.spec.resolved.serialized(pretty: true).write(toFile: "\(runDir)/spec.json", atomically: true, encoding: .utf8)
        // No width router: this run writes no masks.csv, so one there is the old attempt's.
        for name in ["masks.csv", ".samples.safetensors.tmp-4242-9"] { try Data([0]).write(to: URL(fileURLWithPath: "\(runDir)/\(name)")) }
        try ExperimentRunner(store: store).execute(r, events: RunEvents(message: { _ in }, step: { _, _, _, _ in }))
        XCTAssertFalse(FileReader.exists("\(runDir)/masks.csv"), "the interrupted attempt's masks.csv")
        XCTAssertFalse(FileReader.exists("\(runDir)/.samples.safetensors.tmp-4242-9"), "the killed write's temporary file")
        XCTAssertTrue(FileReader.exists("\(runDir)/metrics.json"))
    }

    func testLatencyIsTimedInAlternatingRoundsAndTheMachineIsRecorded() throws {
        let r = try runSpec(#", "timing": {"rounds": 3}"#)
        XCTAssertEqual(r.spec.resolved["eval"]?["timing"]?["rounds"]?.intValue, 3)
        let store = try RunStore(directory: "\(dir)/out")
        var phases: [String] = []
        let metrics = try ExperimentRunner(store: store).execute(r, events: RunEvents(message: { _ in }, step: { phase, _, _, report in
            if report.step == 0 { phases.append(phase) }
        }))
        XCTAssertEqual(phases, ["sample round 1/3", "dense round 1/3", "sample round 2/3", "dense round 2/3", "sample round 3/3", "dense round 3/3"])
        let latency = try XCTUnwrap(metrics["latency"])
        XCTAssertEqual(latency["rounds"]?.intValue, 3)
        let dynamic = latency["round_seconds_per_image"]?.arrayValue?.compactMap(\.doubleValue) ?? []
        let dense = latency["dense_round_seconds_per_image"]?.arrayValue?.compactMap(\.doubleValue) ?? []
        let ratios = latency["round_speedups"]?.arrayValue?.compactMap(\.doubleValue) ?? []
        XCTAssertEqual([dynamic.count, dense.count, ratios.count], [3, 3, 3])
        // The reported numbers are the medians of the recorded rounds.
        assertClose(latency["seconds_per_image"]?.doubleValue ?? .nan, dynamic.sorted()[1], "median s / image")
        assertClose(latency["dense_seconds_per_image"]?.doubleValue ?? .nan, dense.sorted()[1], "median dense s / image")
        assertClose(ratios, zip(dense, dynamic).map { $0 / $1 }, tolerance: 1e-12, "per-round speed-ups")
        assertClose(latency["speedup"]?.doubleValue ?? .nan, ratios.sorted()[1], "median speed-up")
        assertClose(latency["speedup_min"]?.doubleValue ?? .nan, ratios.min() ?? .nan, "min speed-up")
        assertClose(latency["speedup_max"]?.doubleValue ?? .nan, ratios.max() ?? .nan, "max speed-up")

        let machine = try XCTUnwrap(metrics["machine"])
        for key in ["dydit_version", "git_commit", "cpu", "isa", "threads", "load_average_at_start", "hostname", "executable_sha256"] {
            XCTAssertNotNil(machine[key], "machine.\(key) missing")
        }
        // The build that measured: this process's own binary.
        XCTAssertEqual(machine["executable_sha256"]?.stringValue, try FileDigest.sha256("/proc/self/exe").sha256)
        XCTAssertEqual(machine["threads"]?.intValue, 1)
        XCTAssertFalse(machine["cpu"]?.stringValue?.isEmpty ?? true)
        XCTAssertEqual(try Summary.write(store), 1)
        let header = try String(contentsOfFile: "\(dir)/out/summary.csv", encoding: .utf8).split(separator: "\n")[0]
        for column in ["speedup", "speedup_min", "speedup_max", "timing_rounds", "isa", "threads", "load_average_1m", "git_commit"] {
            XCTAssertTrue(header.split(separator: ",").contains(Substring(column)), "summary.csv lacks \(column): \(header)")
        }
    }
}
