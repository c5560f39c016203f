import DyDiTIO
import Foundation
import ReferenceSupport
import XCTest

/// Issue 13 §4 from the outside: `dydit run` notices new bytes under a checkpoint's path, and
/// both `dydit run` and `dydit train` refuse to start while another process holds their lock —
/// but not because of a lock file a killed process left behind.
final class RunIntegrityCLITests: XCTestCase {
    var dir = ""
    let weights = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/reference/dit_tiny_p4_gray.weights.safetensors").path

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dydit-cli-integrity-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: weights, toPath: "\(dir)/w.safetensors")
        try """
        {"name": "ckpt", "backbone": {"type": "dit", "checkpoint": "w.safetensors"}, "sampler": {"type": "ddim", "steps": 2},
         "eval": {"samples": 1}, "compute": {"threads": 1}}
        """.write(toFile: "\(dir)/ckpt.json", atomically: true, encoding: .utf8)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func runSpec(_ extra: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        try DyDiTProcess.run(["run", "\(dir)/ckpt.json", "--out", "\(dir)/runs"] + extra)
    }

    /// The weights file with the final layer's output bias moved (new contents, same path and
    /// size): every sample changes.
    func perturbWeights() throws {
        let path = "\(dir)/w.safetensors"
        let file = try SafeTensorsFile(path: path)
        var tensors: [(String, Tensor)] = []
        for name in file.names {
            let t = try file.tensor(name)
            var values = try t.floats()
            if name == "final_layer.linear.bias" { values = values.map { $0 + 0.5 } }
            tensors.append((name, Tensor(values, shape: t.shape)))
        }
        try SafeTensorsWriter.write(tensors, metadata: file.metadata, to: path)
    }

    func testNewWeightsAreNotReportedWithTheOldRunsNumbers() throws {
        let first = try runSpec()
        XCTAssertEqual(first.status, 0, first.stderr)
        try perturbWeights()
        let again = try runSpec()
        XCTAssertNotEqual(again.status, 0, "the old weights' metrics must not pass for the new weights': \(again.stdout)")
        for part in ["\(dir)/runs/ckpt", "backbone.checkpoint", "\(dir)/w.safetensors", "sha256", "--redo-changed"] {
            XCTAssertTrue(again.stderr.contains(part), "stderr lacks '\(part)': \(again.stderr)")
        }
        let dry = try runSpec(["--dry-run"])
        XCTAssertTrue(dry.stdout.contains("[CHANGED"), dry.stdout)
        let redo = try runSpec(["--redo-changed"])
        XCTAssertEqual(redo.status, 0, redo.stderr)
        XCTAssertTrue(redo.stdout.contains("1 run(s) done"), redo.stdout)
        let settled = try runSpec()
        XCTAssertTrue(settled.stdout.contains("0 run(s) done, 1 already complete"), settled.stdout + settled.stderr)
    }

    func testRunRefusesWhileAnotherProcessHoldsItsLockAndNotAfterItDied() throws {
        try FileManager.default.createDirectory(atPath: "\(dir)/runs", withIntermediateDirectories: true)
        let holder = try LockHolder(path: "\(dir)/runs/.ckpt.lock")
        let refused = try runSpec()
        XCTAssertNotEqual(refused.status, 0, "two processes on one run: \(refused.stderr)")
        for part in ["\(dir)/runs/.ckpt.lock", "another process", "is using the run \(dir)/runs/ckpt", "wait for it to finish"] {
            XCTAssertTrue(refused.stderr.contains(part), "stderr lacks '\(part)': \(refused.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/runs/ckpt/metrics.json"))
        holder.kill()
        let after = try runSpec()
        XCTAssertEqual(after.status, 0, "a killed holder's lock file must not block: \(after.stderr)")
        // Text the old lock scheme left (a live pid: 1) blocks nothing either.
        try "1\n".write(toFile: "\(dir)/runs/.ckpt.lock", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: "\(dir)/runs/ckpt")
        let stale = try runSpec()
        XCTAssertEqual(stale.status, 0, stale.stderr)
    }

    /// Eight 4×4 images of two classes as Fashion-MNIST IDX files in `dir`/data.
    func writeTinyDataset() throws {
        try FileManager.default.createDirectory(atPath: "\(dir)/data", withIntermediateDirectories: true)
        var pixels: [UInt8] = [], labels: [UInt8] = []
        for i in 0..<8 {
            for p in 0..<16 { pixels.append(UInt8((p * 11 + i * 5) % 256)) }
            labels.append(UInt8(i % 2))
        }
        try IDXFile.write(shape: [8, 4, 4], bytes: pixels, to: "\(dir)/data/train-images-idx3-ubyte.gz")
        try IDXFile.write(shape: [8], bytes: labels, to: "\(dir)/data/train-labels-idx1-ubyte.gz")
    }

    func testTrainRefusesWhileAnotherProcessTrainsTheFolder() throws {
        try writeTinyDataset()
        try """
        {"name": "t", "backbone": {"type": "dit", "config": {"patch_size": 2, "hidden_size": 16, "depth": 1, "num_heads": 2},
                                    "input_size": 4, "in_channels": 1, "num_classes": 2},
         "sampler": {"type": "ddim", "steps": 2}, "compute": {"threads": 1},
         "train": {"dataset": {"type": "fashion-mnist", "path": "\(dir)/data"}, "steps": 2, "batch": 4, "samples_per_class": 1}}
        """.write(toFile: "\(dir)/t.json", atomically: true, encoding: .utf8)
        let out = "\(dir)/trained"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let holder = try LockHolder(path: "\(out)/.train.lock")
        let refused = try DyDiTProcess.run(["train", "\(dir)/t.json", "--out", out])
        XCTAssertNotEqual(refused.status, 0, "two trainings of one folder")
        for part in ["\(out)/.train.lock", "another process", "the training folder \(out)"] {
            XCTAssertTrue(refused.stderr.contains(part), "stderr lacks '\(part)': \(refused.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(out)/checkpoint.safetensors"))
        holder.kill()
        let after = try DyDiTProcess.run(["train", "\(dir)/t.json", "--out", out])
        XCTAssertEqual(after.status, 0, after.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/ema.safetensors"))
    }

    /// `dydit train --shard i/n` trains runs i, i+n, … of a sweep and leaves the others alone.
    func testTrainShardTrainsItsRunsOnly() throws {
        try writeTinyDataset()
        try """
        {"name": "s", "backbone": {"type": "dit", "config": {"patch_size": 2, "hidden_size": 16, "depth": 1, "num_heads": 2},
                                    "input_size": 4, "in_channels": 1, "num_classes": 2},
         "sampler": {"type": "ddim", "steps": 2}, "compute": {"threads": 1},
         "train": {"dataset": {"type": "fashion-mnist", "path": "\(dir)/data"}, "steps": 2, "batch": 4, "samples_per_class": 1},
         "sweep": {"grid": {"train.lr": [0.001, 0.002, 0.003]}}}
        """.write(toFile: "\(dir)/s.json", atomically: true, encoding: .utf8)
        let out = "\(dir)/sharded"
        let r = try DyDiTProcess.run(["train", "\(dir)/s.json", "--out", out, "--shard", "1/2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("shard 1/2: 1 of 3 run(s)"), r.stderr)
        let trained = try FileManager.default.contentsOfDirectory(atPath: out).filter {
            FileManager.default.fileExists(atPath: "\(out)/\($0)/train/ema.safetensors")
        }
        XCTAssertEqual(trained, ["1-lr=0.002"])
        let bad = try DyDiTProcess.run(["train", "\(dir)/s.json", "--out", out, "--shard", "2/2"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--shard '2/2'"), bad.stderr)
    }
}
