import DyDiTIO
import DyDiTPlayground
import Foundation
import ReferenceSupport
import XCTest

/// Runs keyed on their inputs' contents: new bytes under the same checkpoint path make a
/// complete run "changed", naming the file and both hashes; a different spec under a run's id
/// names the spec keys that differ.
final class RunKeyTests: XCTestCase {
    var dir = ""
    let weights = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/reference/dit_tiny_p4_gray.weights.safetensors").path

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dydit-key-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: weights, toPath: "\(dir)/w.safetensors")
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func keyedRun(steps: Int = 2, description: String = "a run with a key") throws -> SpecFile.Run {
        let text = """
        {"name": "keyed", "description": "\(description)", "backbone": {"type": "dit", "checkpoint": "w.safetensors"}, "sampler": {"type": "ddim", "steps": \(steps)},
         "eval": {"samples": 1, "timing": {"rounds": 1}}, "compute": {"threads": 1}, "output": {"dir": "\(dir)/out"}}
        """
        return try SpecFile(text: text, path: "\(dir)/spec.json").expand()[0]
    }

    /// The weights file with the final layer's output bias moved (new contents, same path and
    /// size): every sample changes.
    func perturbWeights() throws {
        let path = "\(dir)/w.safetensors"
        let file = try SafeTensorsFile(path: path)
        var tensors: [(String, Tensor)] = []
        for name in file.names {
            let t = try file.tensor(name)
            var values = t.floats()
            if name == "final_layer.linear.bias" { values = values.map { $0 + 0.5 } }
            tensors.append((name, Tensor(values, shape: t.shape)))
        }
        try SafeTensorsWriter.write(tensors, metadata: file.metadata, to: path)
    }

    func testNewWeightsUnderTheSamePathMakeACompleteRunChanged() throws {
        let store = try RunStore(directory: "\(dir)/out")
        let runner = ExperimentRunner(store: store)
        let r = try keyedRun()
        let metrics = try runner.execute(r, events: RunEvents(message: { _ in }, step: { _, _, _, _ in }))
        let recorded = try XCTUnwrap(RunKey(json: metrics["run_key"]))
        XCTAssertEqual(recorded.inputs.map(\.role), ["backbone.checkpoint"])
        XCTAssertEqual(recorded.inputs.first?.path, "\(dir)/w.safetensors")
        XCTAssertEqual(recorded.inputs.first?.sha256, try FileDigest.sha256(weights).sha256)
        XCTAssertEqual(store.state(of: r.id, resolved: r.spec.resolved, key: try runner.key(for: r)), .complete)

        try perturbWeights()
        let now = try runner.key(for: r)
        guard case let .changed(why) = store.state(of: r.id, resolved: r.spec.resolved, key: now) else {
            return XCTFail("new weights must make the run changed, not complete")
        }
        let old = String(recorded.inputs[0].sha256.prefix(12)), new = String(now.inputs[0].sha256.prefix(12))
        XCTAssertNotEqual(old, new)
        for part in ["backbone.checkpoint", "\(dir)/w.safetensors", "sha256 \(old)…", "→ \(new)…"] {
            XCTAssertTrue(why.contains(part), "'\(part)' missing from: \(why)")
        }
        // Measured again (by the same runner, which keeps loaded models): the new weights are
        // loaded, not served from the cache, and the run is complete for them.
        let samples = "\(store.runDirectory(r.id))/samples.safetensors"
        let before = try SafeTensorsFile(path: samples).tensor("samples").floats()
        try runner.execute(r, events: RunEvents(message: { _ in }, step: { _, _, _, _ in }))
        let after = try SafeTensorsFile(path: samples).tensor("samples").floats()
        let change = relativeError(after, before)  // .infinity on any NaN: that fails here too
        XCTAssertTrue(change.isFinite && change > 1e-3, "the samples must be the new weights': changed by \(change)")
        XCTAssertEqual(store.state(of: r.id, resolved: r.spec.resolved, key: try runner.key(for: r)), .complete)
    }

    func testADifferentSpecNamesTheKeysThatDiffer() throws {
        let store = try RunStore(directory: "\(dir)/out")
        let runner = ExperimentRunner(store: store)
        try runner.execute(try keyedRun(), events: RunEvents(message: { _ in }, step: { _, _, _, _ in }))
        // A reworded description does not take part in a run's identity, so the conflict does not
        // list it among what to restore (it did: the difference was taken on the whole spec).
        let other = try keyedRun(steps: 3, description: "reworded")
        guard case let .conflict(why) = store.state(of: other.id, resolved: other.spec.resolved, key: try runner.key(for: other)) else {
            return XCTFail("another spec under the same id must be a conflict")
        }
        XCTAssertTrue(why.contains("sampler.steps: 2 → 3"), why)
        XCTAssertFalse(why.contains("description"), why)
        XCTAssertTrue(why.contains("write to another --out"), why)
        let reworded = try keyedRun(description: "reworded")
        XCTAssertEqual(store.state(of: reworded.id, resolved: reworded.spec.resolved, key: try runner.key(for: reworded)), .complete)
    }

    /// A reworded description is prose: the key (and so a finished run) stays the same; a key
    /// recorded with the description in its spec hash (before it was left out) still matches
    /// its own spec, and no longer once the description changes.
    func testTheKeyIgnoresTheDescription() throws {
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: "\(dir)/d.safetensors"))
        let files = [(role: "backbone.checkpoint", path: "\(dir)/d.safetensors")]
        func spec(_ description: String) -> JSONValue {
            .object(JSONObject([("name", .string("x")), ("description", .string(description)), ("seed", .int(1))]))
        }
        let a = try RunKey(resolved: spec("first words"), files: files), b = try RunKey(resolved: spec("reworded"), files: files)
        XCTAssertEqual(a, b)
        XCTAssertTrue(b.matches(a))
        guard case var .object(recorded) = a.json else { return XCTFail("the key's JSON is not an object") }
        recorded["spec_sha256"] = .string(SHA256.hex(Array(spec("first words").serialized().utf8)))
        let legacy = try XCTUnwrap(RunKey(json: .object(recorded)))
        XCTAssertTrue(a.matches(legacy), "a key recorded with the description matches its unchanged spec")
        XCTAssertTrue(legacy.matches(a), "either way round (RunStore asks the stored key)")
        XCTAssertFalse(b.matches(legacy))
        XCTAssertFalse(legacy.matches(b))
        XCTAssertFalse(try RunKey(resolved: .object(JSONObject([("name", .string("x")), ("seed", .int(2))])), files: files).matches(a))
    }

    func testTheKeyIgnoresWhereTheSameBytesWereRead() throws {
        try FileManager.default.copyItem(atPath: "\(dir)/w.safetensors", toPath: "\(dir)/moved.safetensors")
        let spec = JSONValue.object(JSONObject([("name", .string("x"))]))
        let a = try RunKey(resolved: spec, files: [("backbone.checkpoint", "\(dir)/w.safetensors")])
        let b = try RunKey(resolved: spec, files: [("backbone.checkpoint", "\(dir)/moved.safetensors")])
        XCTAssertTrue(a.matches(b))
        XCTAssertEqual(RunKey(json: a.json), a, "the key reads back from metrics.json")
        let other = try RunKey(resolved: .object(JSONObject([("name", .string("y"))])), files: [("backbone.checkpoint", "\(dir)/w.safetensors")])
        XCTAssertFalse(a.matches(other))
        XCTAssertTrue(other.changes(since: a).first?.hasPrefix("the resolved spec") ?? false)
    }
}
