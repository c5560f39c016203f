import DyDiTIO
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A `dydit run` killed during its quality seeds keeps the seeds it had drawn — seed 0, the run's
/// own pass, included: run again, it samples only the missing ones, and its numbers equal those
/// of a run never interrupted. Saved seeds from another computation are not reused.
final class RunResumeCLITests: XCTestCase {
    var dir = ""
    let classifier = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Experiments/checkpoints/fashion-mnist-classifier.safetensors").path

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dydit-cli-resume-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // A random-init model big enough that a seed takes about a second (the kill below must
        // land inside seed 2), three seeds, FD (which moves with every sample's bits) and class
        // accuracy by the shipped classifier. The data is installed by scripts/setup.sh.
        guard FileReader.exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") else {
            throw IOError("/usr/share/datasets/fashion-mnist", "Fashion-MNIST is not installed (scripts/setup.sh installs dataset-fashion-mnist)")
        }
        // `timed`: the same with latency rounds over a subset of the images, which the run's own
        // pass (seed 0) is not part of, so it is kept too; with the memory metric beside them.
        let timed = #""metrics": ["fd", "class-accuracy", "latency", "memory", "flops"], "timing": {"rounds": 1, "images": 2}"#
        // `routed`: DyDiT with a random token router, whose choices come from one sequence per pass.
        let seeds = #""metrics": ["fd", "class-accuracy"]"#
        let routers = #", "routers": {"width": {"type": "random", "keep": 0.5}, "token": {"type": "random", "keep": 0.5}}"#
        for (name, metrics, backbone) in [("seeds", seeds, "dit"), ("timed", timed, "dit"), ("routed", seeds, "dydit")] {
            try """
            {"name": "\(name)", "seed": 3\(backbone == "dydit" ? routers : ""),
             "backbone": {"type": "\(backbone)", "config": {"hidden_size": 64, "depth": 2, "num_heads": 2, "patch_size": 2},
                          "input_size": 28, "in_channels": 1, "num_classes": 10},
             "sampler": {"type": "ddim", "steps": 100}, "guidance": {"scale": 2},
             "eval": {\(metrics), "reference": "fashion-mnist:test:100", "samples": 8,
                      "batch": 1, "seeds": 3, "classifier": "\(classifier)"},
             "compute": {"threads": 1}}
            """.write(toFile: "\(dir)/\(name).json", atomically: true, encoding: .utf8)
        }
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// The reference features' cache inside the test folder.
    var env: [String: String] { ["DYDIT_CACHE_DIR": "\(dir)/cache"] }

    func runSpec(out: String, spec: String = "seeds") throws -> (status: Int32, stdout: String, stderr: String) {
        try DyDiTProcess.run(["run", "\(dir)/\(spec).json", "--out", "\(dir)/\(out)"], env: env)
    }

    /// Starts the run and SIGKILLs it once its log shows seed 2's sampling (seed 1 is saved by then).
    func killDuringSeedTwo(out: String, spec: String = "seeds") throws {
        try killRun(out: out, spec: spec, when: "seed 2 batch")
    }

    /// Starts the run and SIGKILLs it once its log shows `marker`.
    func killRun(out: String, spec: String = "seeds", when marker: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try DyDiTProcess.binary())
        p.arguments = ["run", "\(dir)/\(spec).json", "--out", "\(dir)/\(out)"]
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        var log = ""
        while !log.contains(marker) {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            log += String(decoding: chunk, as: UTF8.self)
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal, "the run ended before it could be killed at '\(marker)': \(log)")
        XCTAssertTrue(log.contains(marker), log)
    }

    /// Each seed's FD and class accuracy, as the run's metrics.json recorded them.
    func perSeed(_ out: String, spec: String = "seeds") throws -> [[Double]] {
        let text = try String(contentsOfFile: "\(dir)/\(out)/\(spec)/metrics.json", encoding: .utf8)
        let quality = try JSONParser.parse(text)["quality"]
        return try ["fd_per_seed", "class_accuracy_per_seed"].map { key in
            let values = try XCTUnwrap(quality?[key]?.arrayValue, "no \(key) in \(text)")
            let numbers = values.compactMap { $0.doubleValue }
            XCTAssertEqual(numbers.count, 3, text)
            XCTAssertTrue(numbers.allSatisfy(\.isFinite), text)
            return numbers
        }
    }

    func testAKilledRunKeepsItsFinishedSeedsAndEndsWithTheUninterruptedNumbers() throws {
        let whole = try runSpec(out: "whole")
        XCTAssertEqual(whole.status, 0, whole.stderr)
        let expected = try perSeed("whole")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/whole/seeds/.seeds"), "a complete run keeps no saved seeds")

        try killDuringSeedTwo(out: "killed")
        for s in 0...1 { XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/killed/seeds/.seeds/seed-\(s).safetensors")) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/killed/seeds/metrics.json"))
        let resumed = try runSpec(out: "killed")
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        for s in 0...1 {
            XCTAssertTrue(resumed.stderr.contains("seed \(s): 8 images drawn by an interrupted attempt"), resumed.stderr)
        }
        XCTAssertFalse(resumed.stderr.contains("sample batch"), "the run's own pass (seed 0) was sampled again: \(resumed.stderr)")
        XCTAssertFalse(resumed.stderr.contains("seed 1 batch"), "seed 1 was sampled again: \(resumed.stderr)")
        XCTAssertTrue(resumed.stderr.contains("seed 2 batch"), resumed.stderr)
        XCTAssertEqual(try perSeed("killed"), expected, "a resumed run must measure what an uninterrupted one does")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/killed/seeds/.seeds"))
    }

    func testSeedsSavedByAnotherComputationAreSampledAgain() throws {
        let whole = try runSpec(out: "whole")
        XCTAssertEqual(whole.status, 0, whole.stderr)
        try killDuringSeedTwo(out: "other")
        // The saved seeds as another binary or machine would have left them: other bits, another fingerprint.
        for s in 0...1 {
            let path = "\(dir)/other/seeds/.seeds/seed-\(s).safetensors"
            let file = try SafeTensorsFile(path: path)
            var metadata = file.metadata
            metadata["fingerprint"] = (metadata["fingerprint"] ?? "") + " (other executable)"
            let tensors = try file.names.map { name -> (String, Tensor) in
                let t = try file.tensor(name)
                return (name, name == "samples" ? Tensor(t.floats().map { -$0 }, shape: t.shape) : t)
            }
            try SafeTensorsWriter.write(tensors, metadata: metadata, to: path)
        }
        let again = try runSpec(out: "other")
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertFalse(again.stderr.contains("interrupted attempt"), again.stderr)
        XCTAssertTrue(again.stderr.contains("sample batch"), again.stderr)
        XCTAssertTrue(again.stderr.contains("seed 1 batch"), again.stderr)
        XCTAssertEqual(try perSeed("other"), try perSeed("whole"))
    }

    /// With timing rounds over a subset of the images, the run's own pass is kept too: resumed,
    /// the run times its rounds again but draws none of the saved seeds, and everything but the
    /// times equals the uninterrupted run's (FLOPs from the saved pass's step reports).
    func testATimedRunResumesWithoutItsOwnPass() throws {
        let whole = try runSpec(out: "whole", spec: "timed")
        XCTAssertEqual(whole.status, 0, whole.stderr)
        try killDuringSeedTwo(out: "killed", spec: "timed")
        let resumed = try runSpec(out: "killed", spec: "timed")
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("seed 0: 8 images drawn by an interrupted attempt"), resumed.stderr)
        XCTAssertFalse(resumed.stderr.contains("sample batch"), "the run's own pass was sampled again: \(resumed.stderr)")
        XCTAssertTrue(resumed.stderr.contains("timed batch"), "the rounds are measured again: \(resumed.stderr)")
        XCTAssertEqual(try perSeed("killed", spec: "timed"), try perSeed("whole", spec: "timed"))
        XCTAssertEqual(try section("killed", spec: "timed", "flops"), try section("whole", spec: "timed", "flops"))
        XCTAssertNotNil(try section("killed", spec: "timed", "flops"))
        XCTAssertEqual(try section("killed", spec: "timed", "memory")?["step_cache_bytes"],
                       try section("whole", spec: "timed", "memory")?["step_cache_bytes"])
    }

    /// Runs `spec` whole into "whole", then into "killed" stopped once its log shows `marker`
    /// and run again; returns the resumed run's log.
    func wholeThenResumed(spec: String, killedAt marker: String) throws -> String {
        let whole = try runSpec(out: "whole", spec: spec)
        XCTAssertEqual(whole.status, 0, whole.stderr)
        try killRun(out: "killed", spec: spec, when: marker)
        let resumed = try runSpec(out: "killed", spec: spec)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        return resumed.stderr
    }

    /// A section of a run's metrics.json.
    func section(_ out: String, spec: String, _ key: String) throws -> JSONValue? {
        try JSONParser.parse(try String(contentsOfFile: "\(dir)/\(out)/\(spec)/metrics.json", encoding: .utf8))[key]
    }

    /// The batches a seed had finished when it was stopped, from the resumed run's log line.
    func batchesReused(_ log: String, seed: Int) -> Int? {
        guard let r = log.range(of: #"seed \#(seed): (\d+) of 8 batches drawn by an interrupted attempt"#, options: .regularExpression) else { return nil }
        return Int(log[r].split(separator: " ")[2])
    }

    /// A quality seed stopped part-way goes on from its next batch (each batch draws from its
    /// own noise), and the run still ends with the uninterrupted numbers.
    func testASeedStoppedPartWayGoesOnFromItsNextBatch() throws {
        let whole = try runSpec(out: "whole")
        XCTAssertEqual(whole.status, 0, whole.stderr)
        try killRun(out: "killed", when: "seed 2 batch 5/8")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/killed/seeds/.seeds/seed-2.partial.safetensors"))
        let resumed = try runSpec(out: "killed")
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let log = resumed.stderr
        let reused = try XCTUnwrap(batchesReused(log, seed: 2), log)
        XCTAssertGreaterThanOrEqual(reused, 4, log)
        XCTAssertFalse(log.contains("seed 2 batch \(reused)/8"), "a finished batch was drawn again: \(log)")
        XCTAssertTrue(log.contains("seed 2 batch 8/8"), log)
        XCTAssertEqual(try perSeed("killed"), try perSeed("whole"), "a resumed seed must equal the uninterrupted one")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/killed/seeds/.seeds"))
    }

    /// The run's own pass (seed 0, kept when the rounds time a subset) stopped part-way goes on
    /// from its next batch too, with its step reports: the FLOPs equal the uninterrupted run's.
    func testTheRunsOwnPassStoppedPartWayGoesOnFromItsNextBatch() throws {
        let log = try wholeThenResumed(spec: "timed", killedAt: "sample batch 5/8")
        let reused = try XCTUnwrap(batchesReused(log, seed: 0), log)
        XCTAssertFalse(log.contains("sample batch \(reused)/8"), log)
        XCTAssertTrue(log.contains("sample batch 8/8"), log)
        XCTAssertEqual(try perSeed("killed", spec: "timed"), try perSeed("whole", spec: "timed"))
        XCTAssertNotNil(try section("whole", spec: "timed", "flops"))
        XCTAssertEqual(try section("killed", spec: "timed", "flops"), try section("whole", spec: "timed", "flops"))
    }

    /// A token router whose choices depend on the calls before (the random router's one
    /// sequence per pass) routes a batch differently when the batches before it are skipped:
    /// its stopped seed is drawn again from the first batch, and the numbers still equal the
    /// uninterrupted run's.
    func testASequentialRouterDrawsAStoppedSeedWhole() throws {
        let log = try wholeThenResumed(spec: "routed", killedAt: "seed 2 batch 5/8")
        XCTAssertNil(batchesReused(log, seed: 2), log)
        XCTAssertTrue(log.contains("seed 2 batch 1/8"), log)
        XCTAssertEqual(try perSeed("killed", spec: "routed"), try perSeed("whole", spec: "routed"))
    }
}
