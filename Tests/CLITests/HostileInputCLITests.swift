import DyDiTIO
import ReferenceSupport
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Inputs that crashed, hung or escaped (issue 13 §3), through the binary: exit status 1 and
/// a message that says what and where, never a trap.
extension CLITests {
    func expectStatus1(_ args: [String], mentions: [String], line: UInt = #line) throws {
        let r = try run(args)
        XCTAssertEqual(r.status, 1, "exit status for \(args): \(r.stderr)", line: line)
        for m in mentions { XCTAssertTrue(r.stderr.contains(m), "stderr lacks '\(m)': \(r.stderr)", line: line) }
        XCTAssertFalse(r.stderr.contains("Fatal error") || r.stderr.contains("crashed"), r.stderr, line: line)
    }

    /// A reference model for the refusals below (the first dense DiT, else the first pair).
    func someModel() throws -> Model {
        let all = try models()
        guard let m = all.first(where: { !$0.dydit }) ?? all.first else { throw IOError(ReferenceVectors.directory, "no reference pairs: the refusals need a model") }
        return m
    }

    func writeSpec(_ text: String, _ name: String = "spec.json") throws -> String {
        try text.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8)
        return "\(dir)/\(name)"
    }

    func testThreadsAreBoundedOnTheCommandLine() throws {
        let w = try someModel().pair.weights
        for n in ["100000", "4096"] {
            try expectStatus1(["sample", "--weights", w, "--threads", n, "--steps", "1", "--out", "\(dir)/x.png"],
                              mentions: ["--threads \(n) is too many", "at most"])
        }
    }

    func testNonFiniteNumbersAreRefusedUpFront() throws {
        let w = try someModel().pair.weights
        try expectStatus1(["sample", "--weights", w, "--cfg", "nan", "--steps", "1", "--out", "\(dir)/x.png"],
                          mentions: ["--cfg nan is not a finite number"])
        try expectStatus1(["sample", "--weights", w, "--option", "eta=inf", "--sampler", "ddim", "--steps", "1", "--out", "\(dir)/x.png"],
                          mentions: ["eta=inf", "not a finite number"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/x.png"))
    }

    /// NaN weights sampled a black PNG and exited 0.
    func testNaNWeightsAreAnError() throws {
        let m = try someModel()
        let source = try SafeTensorsFile(path: m.pair.weights)
        var tensors: [(name: String, tensor: Tensor)] = []
        for name in source.names {
            var t = try source.tensor(name)
            if name == "final_layer.linear.bias" { t = Tensor([Float](repeating: .nan, count: t.count), shape: t.shape) }
            tensors.append((name, t))
        }
        try SafeTensorsWriter.write(tensors, metadata: source.metadata, to: "\(dir)/w-nan.safetensors")
        try expectStatus1(["sample", "--weights", "\(dir)/w-nan.safetensors", "--steps", "1", "--out", "\(dir)/x.png"],
                          mentions: ["w-nan.safetensors", "final_layer.linear.bias", "not finite"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/x.png"))
        // NaN inputs: the outputs are checked before anything is written.
        var x = [Float](repeating: 0, count: m.inChannels * m.inputSize * m.inputSize)
        x[3] = .nan
        try SafeTensorsWriter.write([("x", Tensor(x, shape: [1, m.inChannels, m.inputSize, m.inputSize])), ("t", Tensor([Int64(1)], shape: [1])),
                                     ("y", Tensor([Int64(1)], shape: [1]))], to: "\(dir)/in-nan.safetensors")
        try expectStatus1(["forward", "--weights", m.pair.weights, "--inputs", "\(dir)/in-nan.safetensors",
                           "--out", "\(dir)/o.safetensors"], mentions: ["output 'out'", "not finite"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/o.safetensors"))
    }

    func testSpecsThatEscapeOrCannotRunAreRefused() throws {
        try expectStatus1(["validate", try writeSpec(#"{"name": ".."}"#)], mentions: ["$.name", "may not start with '.'"])
        try expectStatus1(["run", try writeSpec(#"{"name": "a/b"}"#), "--out", "\(dir)/runs"], mentions: ["$.name", "letters, digits"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/runs"))
        try expectStatus1(["validate", try writeSpec(#"{"name": "x", "backbone": {"config": {"hidden_size": 262144, "depth": 2000, "num_heads": 16, "patch_size": 2}}}"#)],
                          mentions: ["$.backbone", "needs about", "this machine has"])
        try expectStatus1(["validate", try writeSpec(#"{"name": "x", "backbone": {"model": "DiT-S/2", "input_size": 4096}}"#)],
                          mentions: ["needs about"])
        try expectStatus1(["validate", try writeSpec(#"{"name": "x", "compute": {"threads": 100000}}"#)],
                          mentions: ["$.compute.threads", "too many"])
        let values = "[" + (0..<1000).map(String.init).joined(separator: ",") + "]"
        try expectStatus1(["validate", try writeSpec(#"{"name": "x", "sweep": {"grid": {"seed": \#(values), "sampler.steps": \#(values)}}}"#)],
                          mentions: ["$.sweep", "1000000 runs"])
        try expectStatus1(["validate", try writeSpec("{\"name\": \"x\",\n \"name\": \"y\"}")],
                          mentions: ["spec.json:2:2", "duplicate key 'name'"])
    }

    /// `validate` on the largest sweep allowed (10⁴ runs) printed every run id: 200 kB on one line.
    func testValidateSummarisesABigSweep() throws {
        let seeds = "[" + (0..<100).map(String.init).joined(separator: ",") + "]"
        let steps = "[" + (1...100).map(String.init).joined(separator: ",") + "]"
        let r = try run(["validate", try writeSpec(#"{"name": "x", "sweep": {"grid": {"seed": \#(seeds), "sampler.steps": \#(steps)}}}"#)])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("OK, 10000 run(s): 0000-seed=0-steps=1, "), r.stdout)
        XCTAssertTrue(r.stdout.contains("… 9990 more …"), r.stdout)
        XCTAssertTrue(r.stdout.contains("9999-seed=99-steps=100"), r.stdout)
        XCTAssertLessThan(r.stdout.utf8.count, 1000, r.stdout)
    }

    /// `validate --json`: every problem with its fields, for editors and tools; same exit status.
    func testValidateJSONGivesProblemsAsFields() throws {
        let bad = try writeSpec("{\"name\": \"x\",\n \"routers\": {\"width\": \"tdx\"}, \"sampler\": {\"steps\": 0}}")
        let r = try run(["validate", "--json", bad])
        XCTAssertEqual(r.status, 1, r.stderr)
        let root = try JSONParser.parse(r.stdout)
        let spec = try XCTUnwrap(root["specs"]?.arrayValue?.first)
        XCTAssertEqual(spec["ok"], .bool(false))
        let errors = try XCTUnwrap(spec["errors"]?.arrayValue)
        let width = try XCTUnwrap(errors.first { $0["path"]?.stringValue == "$.routers.width.type" }, r.stdout)
        XCTAssertEqual(width["got"], .string(#""tdx""#))
        XCTAssertEqual(width["suggestion"], .string("tdw"))
        XCTAssertEqual(width["line"], .int(2))
        let steps = try XCTUnwrap(errors.first { $0["path"]?.stringValue == "$.sampler.steps" }, r.stdout)
        XCTAssertEqual(steps["got"], .string("0"))
        XCTAssertEqual(steps["expected"], .string("1 or more"))
        let good = try run(["validate", "--json", try writeSpec(#"{"name": "y"}"#)])
        XCTAssertEqual(good.status, 0, good.stderr)
        XCTAssertEqual(try JSONParser.parse(good.stdout)["specs"]?.arrayValue?.first?["runs"], .array([.string("y")]))
    }

    /// A FIFO blocked `dydit` forever.
    func testFIFOInputsAreRefused() throws {
        XCTAssertEqual(mkfifo("\(dir)/in-fifo", 0o644), 0)
        try expectStatus1(["validate", "\(dir)/in-fifo"], mentions: ["in-fifo", "FIFO"])
        try expectStatus1(["inspect", "\(dir)/in-fifo"], mentions: ["in-fifo", "FIFO"])
        try expectStatus1(["sample", "--weights", "\(dir)/in-fifo", "--out", "\(dir)/x.png"], mentions: ["FIFO"])
    }
}
