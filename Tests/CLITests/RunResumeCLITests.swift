import DyDiTIO
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A `dydit run` killed during its quality seeds keeps the seeds it had drawn: run again, it
/// samples only the missing ones, and its numbers equal those of a run never interrupted. Saved
/// seeds from another computation are not reused.
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
        try """
        {"name": "seeds", "seed": 3,
         "backbone": {"type": "dit", "config": {"hidden_size": 64, "depth": 2, "num_heads": 2, "patch_size": 2},
                      "input_size": 28, "in_channels": 1, "num_classes": 10},
         "sampler": {"type": "ddim", "steps": 100}, "guidance": {"scale": 2},
         "eval": {"metrics": ["fd", "class-accuracy"], "reference": "fashion-mnist:test:100", "samples": 8, "batch": 1,
                  "seeds": 3, "classifier": "\(classifier)"},
         "compute": {"threads": 1}}
        """.write(toFile: "\(dir)/seeds.json", atomically: true, encoding: .utf8)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// The reference features' cache inside the test folder.
    var env: [String: String] { ["DYDIT_CACHE_DIR": "\(dir)/cache"] }

    func runSpec(out: String) throws -> (status: Int32, stdout: String, stderr: String) {
        try DyDiTProcess.run(["run", "\(dir)/seeds.json", "--out", "\(dir)/\(out)"], env: env)
    }

    /// Starts the run and SIGKILLs it once its log shows seed 2's sampling (seed 1 is saved by then).
    func killDuringSeedTwo(out: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try DyDiTProcess.binary())
        p.arguments = ["run", "\(dir)/seeds.json", "--out", "\(dir)/\(out)"]
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        var log = ""
        while !log.contains("seed 2 batch") {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            log += String(decoding: chunk, as: UTF8.self)
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal, "the run ended before it could be killed in seed 2: \(log)")
        XCTAssertTrue(log.contains("seed 2 batch"), log)
    }

    /// Each seed's FD and class accuracy, as the run's metrics.json recorded them.
    func perSeed(_ out: String) throws -> [[Double]] {
        let text = try String(contentsOfFile: "\(dir)/\(out)/seeds/metrics.json", encoding: .utf8)
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
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/killed/seeds/.seeds/seed-1.safetensors"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/killed/seeds/metrics.json"))
        let resumed = try runSpec(out: "killed")
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("seed 1: 8 images drawn by an interrupted attempt"), resumed.stderr)
        XCTAssertFalse(resumed.stderr.contains("seed 1 batch"), "seed 1 was sampled again: \(resumed.stderr)")
        XCTAssertTrue(resumed.stderr.contains("seed 2 batch"), resumed.stderr)
        XCTAssertEqual(try perSeed("killed"), expected, "a resumed run must measure what an uninterrupted one does")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/killed/seeds/.seeds"))
    }

    func testSeedsSavedByAnotherComputationAreSampledAgain() throws {
        let whole = try runSpec(out: "whole")
        XCTAssertEqual(whole.status, 0, whole.stderr)
        try killDuringSeedTwo(out: "other")
        // The saved seed 1 as another binary or machine would have left it: other bits, another fingerprint.
        let path = "\(dir)/other/seeds/.seeds/seed-1.safetensors"
        let file = try SafeTensorsFile(path: path)
        let t = try file.tensor("samples")
        var metadata = file.metadata
        metadata["fingerprint"] = (metadata["fingerprint"] ?? "") + " (other executable)"
        try SafeTensorsWriter.write([("samples", Tensor(try t.floats().map { -$0 }, shape: t.shape))], metadata: metadata, to: path)
        let again = try runSpec(out: "other")
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertFalse(again.stderr.contains("interrupted attempt"), again.stderr)
        XCTAssertTrue(again.stderr.contains("seed 1 batch"), again.stderr)
        XCTAssertEqual(try perSeed("other"), try perSeed("whole"))
    }
}
