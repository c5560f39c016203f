import DyDiTIO
import Foundation
import ReferenceSupport
import XCTest

/// The `dydit` binary on bad input: a clear message on stderr naming what is wrong, a
/// non-zero exit, and never a partial output file.
final class CLITests: XCTestCase {
    var dir = ""
    let reference = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/reference").path

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dydit-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func run(_ args: [String], env: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        try DyDiTProcess.run(args, env: env)
    }

    func expectFailure(_ args: [String], env: [String: String] = [:], mentions: [String], line: UInt = #line) throws {
        let r = try run(args, env: env)
        XCTAssertNotEqual(r.status, 0, "exit status for \(args)", line: line)
        for m in mentions { XCTAssertTrue(r.stderr.contains(m), "stderr lacks '\(m)': \(r.stderr)", line: line) }
        XCTAssertFalse(r.stderr.contains("Fatal error") || r.stderr.contains("crashed"), r.stderr, line: line)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix("in") && !$0.hasPrefix("w") }, [],
                       "a failed run left files behind", line: line)
    }

    func testForwardWritesOutputs() throws {
        let r = try run(["forward", "--weights", "\(reference)/dit_tiny_p2_ls.weights.safetensors",
                         "--inputs", "\(reference)/dit_tiny_p2_ls.io.safetensors", "--out", "\(dir)/o.safetensors", "--threads", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let file = try SafeTensorsFile(path: "\(dir)/o.safetensors")
        XCTAssertEqual(Set(file.names), ["out", "cfg/out"])
        XCTAssertEqual(try file.tensor("out").shape, [4, 8, 8, 8])
    }

    func testForwardOnDyDiTWritesBothPathsAndDecisions() throws {
        let r = try run(["forward", "--weights", "\(reference)/dydit_tiny_p2.weights.safetensors",
                         "--inputs", "\(reference)/dydit_tiny_p2.io.safetensors", "--out", "\(dir)/d.safetensors"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let file = try SafeTensorsFile(path: "\(dir)/d.safetensors")
        let ref = try SafeTensorsFile(path: "\(reference)/dydit_tiny_p2.io.safetensors")
        XCTAssertEqual(Set(file.names), ["out", "out_fast", "attn_masks", "mlp_masks", "token_masks", "token_logits", "complete_out"])
        for (key, refKey) in [("out", "out"), ("out_fast", "out"), ("complete_out", "complete_out")] {
            let got = try file.tensor(key).floats(), want = try ref.tensor(refKey).floats()
            assertClose(got, want, tolerance: 1e-5, key)
        }
        for key in ["attn_masks", "mlp_masks", "token_masks"] {
            XCTAssertEqual(try file.tensor(key).floats(), try ref.tensor(key).floats(), key)
        }
    }

    func testQuantizeThenForwardMatchesQuantizingAtLoad() throws {
        let weights = "\(reference)/dydit_tiny_p2.weights.safetensors", inputs = "\(reference)/dydit_tiny_p2.io.safetensors"
        let q = try run(["quantize", weights, "--precision", "int8", "--out", "\(dir)/w8.safetensors"])
        XCTAssertEqual(q.status, 0, q.stderr)
        XCTAssertTrue(q.stdout.contains("int8"), q.stdout)
        // The quantized file runs in its own precision without being told; the float file, told.
        let a = try run(["forward", "--weights", "\(dir)/w8.safetensors", "--inputs", inputs, "--out", "\(dir)/a.safetensors", "--threads", "1"])
        XCTAssertEqual(a.status, 0, a.stderr)
        let b = try run(["forward", "--weights", weights, "--precision", "int8", "--inputs", inputs, "--out", "\(dir)/b.safetensors", "--threads", "1"])
        XCTAssertEqual(b.status, 0, b.stderr)
        let fromFile = try SafeTensorsFile(path: "\(dir)/a.safetensors"), atLoad = try SafeTensorsFile(path: "\(dir)/b.safetensors")
        for key in ["out", "out_fast", "complete_out"] {
            XCTAssertEqual(try fromFile.tensor(key).floats(), try atLoad.tensor(key).floats(), key)
        }
        for name in ["a", "b"] { try FileManager.default.removeItem(atPath: "\(dir)/\(name).safetensors") }
        let k = try run(["quantize", weights, "--precision", "int8", "--fp32-layers", "final_layer", "--out", "\(dir)/w8f.safetensors"])
        XCTAssertEqual(k.status, 0, k.stderr)
        try expectFailure(["forward", "--weights", "\(dir)/w8f.safetensors", "--precision", "fp16", "--inputs", inputs, "--out", "\(dir)/o.safetensors"],
                          mentions: ["quantized to int8 (fp32: final_layer)", "runs only in that precision"])
        try expectFailure(["quantize", "\(dir)/w8.safetensors", "--precision", "int8", "--out", "\(dir)/o.safetensors"],
                          mentions: ["quantized already"])
        try expectFailure(["quantize", weights, "--precision", "int8", "--fp32-layers", "mlp", "--out", "\(dir)/o.safetensors"],
                          mentions: ["'mlp'", "mlp.fc1"])
    }

    func testSampleWritesGridAndSamples() throws {
        let r = try run(["sample", "--weights", "\(reference)/dit_tiny_p4_gray.weights.safetensors", "--sampler", "ddim",
                         "--steps", "5", "--classes", "0,1,2", "--out", "\(dir)/g.png", "--threads", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let png = try PNGFile.read("\(dir)/g.png")
        XCTAssertEqual(png.channels, 1)
        XCTAssertEqual(png.width, 2 * 28 + 2 * 2 + 2, "2 columns of 28 pixels and 3 margins")
        let samples = try SafeTensorsFile(path: "\(dir)/g.safetensors")
        XCTAssertEqual(try samples.tensor("samples").shape, [3, 1, 28, 28])
        XCTAssertEqual(try samples.tensor("classes").integers(), [0, 1, 2])
        // Four channels are latents: no PNG, and the user is told why.
        let l = try run(["sample", "--weights", "\(reference)/dit_tiny_p2_ls.weights.safetensors", "--steps", "3",
                         "--classes", "1", "--out", "\(dir)/l.png", "--routers", "tdw,sdt"])
        XCTAssertEqual(l.status, 0, l.stderr)
        XCTAssertTrue(l.stderr.contains("VAE"), l.stderr)
        XCTAssertTrue(l.stdout.contains("mean FLOPs ratio") && l.stdout.contains("speed-up"), l.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/l.png"))
        XCTAssertNoThrow(try SafeTensorsFile(path: "\(dir)/l.safetensors"))
    }

    func testRunShardsAndSummarize() throws {
        let spec = """
        {"name": "cli", "backbone": {"type": "dydit", "config": {"hidden_size": 32, "depth": 1, "num_heads": 2, "patch_size": 4},
                                     "input_size": 8, "in_channels": 1, "num_classes": 3},
         "routers": {"width": "random", "token": "none"}, "sampler": {"type": "ddim", "steps": 2},
         "eval": {"samples": 1}, "compute": {"threads": 1},
         "sweep": {"grid": {"routers.width.keep": [0.25, 0.5, 1]}}}
        """
        try spec.write(toFile: "\(dir)/spec.json", atomically: true, encoding: .utf8)
        let dry = try run(["run", "\(dir)/spec.json", "--out", "\(dir)/runs", "--dry-run"])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertTrue(dry.stdout.contains("3 run(s)") && dry.stdout.contains("0-keep=0.25  [pending]"), dry.stdout)
        let a = try run(["run", "\(dir)/spec.json", "--out", "\(dir)/runs", "--shard", "0/2"])
        XCTAssertEqual(a.status, 0, a.stderr)
        let b = try run(["run", "\(dir)/spec.json", "--out", "\(dir)/runs", "--shard", "1/2"])
        XCTAssertEqual(b.status, 0, b.stderr)
        let s = try run(["summarize", "\(dir)/runs"])
        XCTAssertTrue(s.stdout.contains("3 complete run(s)"), s.stdout)
        let again = try run(["run", "\(dir)/spec.json", "--out", "\(dir)/runs"])
        XCTAssertTrue(again.stdout.contains("0 run(s) done, 3 already complete"), again.stdout)
        let v = try run(["validate", "\(dir)/spec.json"])
        XCTAssertEqual(v.status, 0, v.stderr)
        let bad = try run(["run", "\(dir)/spec.json", "--shard", "2/2"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--shard '2/2'"), bad.stderr)
    }

    func testBadInputsFailCleanly() throws {
        let w = "\(reference)/dit_tiny_p2_ls.weights.safetensors", io = "\(reference)/dit_tiny_p2_ls.io.safetensors"
        let out = "\(dir)/out.safetensors"
        try expectFailure(["forward", "--weights", "\(dir)/missing.safetensors", "--inputs", io, "--out", out],
                          mentions: ["missing.safetensors", "cannot open"])
        // A truncated weights file.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: w))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: "\(dir)/w-truncated.safetensors"))
        try expectFailure(["forward", "--weights", "\(dir)/w-truncated.safetensors", "--inputs", io, "--out", out],
                          mentions: ["w-truncated.safetensors", "truncated"])
        // Inputs whose x has the wrong shape, and inputs without y.
        try SafeTensorsWriter.write([("x", Tensor([Float](repeating: 0, count: 4 * 4 * 4 * 4), shape: [4, 4, 4, 4])),
                                     ("t", Tensor([Int64](repeating: 1, count: 4), shape: [4])),
                                     ("y", Tensor([Int64](repeating: 1, count: 4), shape: [4]))], to: "\(dir)/in-shape.safetensors")
        try expectFailure(["forward", "--weights", w, "--inputs", "\(dir)/in-shape.safetensors", "--out", out],
                          mentions: ["in-shape.safetensors", "'x'", "[4, 4, 4, 4]", "expected [4, 4, 8, 8]"])
        try SafeTensorsWriter.write([("x", Tensor([Float](repeating: 0, count: 256), shape: [1, 4, 8, 8])),
                                     ("t", Tensor([Int64(1)], shape: [1]))], to: "\(dir)/in-noy.safetensors")
        try expectFailure(["forward", "--weights", w, "--inputs", "\(dir)/in-noy.safetensors", "--out", out],
                          mentions: ["in-noy.safetensors", "no tensor 'y'"])
        try SafeTensorsWriter.write([("x", Tensor([Float](repeating: 0, count: 256), shape: [1, 4, 8, 8])),
                                     ("t", Tensor([Int64(1)], shape: [1])), ("y", Tensor([Int64(11)], shape: [1]))],
                                    to: "\(dir)/in-label.safetensors")
        try expectFailure(["forward", "--weights", w, "--inputs", "\(dir)/in-label.safetensors", "--out", out],
                          mentions: ["label 11 is outside 0...10"])
    }

    func testUnknownNamesListTheValidOnes() throws {
        try expectFailure(["bench", "forward", "--model", "DiT-XS/2", "--iters", "1"], mentions: ["did you mean DiT-S/2", "DiT-XL/8"])
        try expectFailure(["bench", "gemm", "--precision", "fp8", "--iters", "1"], mentions: ["fp8", "'fp32', 'fp16' or 'int8'"])
        try expectFailure(["bench", "gemm", "--isa", "sse9", "--iters", "1"], mentions: ["sse9", "avx512"])
        try expectFailure(["bench", "gemm", "--iters", "1"], env: ["DYDIT_ISA": "neon"], mentions: ["DYDIT_ISA", "neon", "portable"])
        try expectFailure(["bench", "gemm", "--threads", "0"], mentions: ["--threads"])
        let w = "\(reference)/dit_tiny_p4_gray.weights.safetensors"
        try expectFailure(["sample", "--weights", w, "--sampler", "dpm-solver+", "--out", "\(dir)/x.png"], mentions: ["did you mean 'dpm-solver'"])
        try expectFailure(["sample", "--weights", w, "--steps", "0", "--out", "\(dir)/x.png"], mentions: ["steps must be at least 1"])
        try expectFailure(["sample", "--weights", w, "--option", "solver_order=4", "--out", "\(dir)/x.png"], mentions: ["solver_order", "1, 2 or 3"])
        try expectFailure(["sample", "--weights", w, "--routers", "tdx", "--out", "\(dir)/x.png"], mentions: ["unknown router 'tdx'"])
    }

    func testBenchPrintsOneJSONObject() throws {
        let r = try run(["bench", "gemm", "--m", "7", "--n", "9", "--k", "5", "--threads", "2", "--iters", "2", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let v = try JSONParser.parse(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        for key in ["ms", "gflops", "isa", "threads"] { XCTAssertNotNil(v[key], "missing \(key) in \(r.stdout)") }
        for (precision, activations) in [("fp16", "token"), ("int8", "token"), ("int8", "q8_0")] {
            let q = try run(["bench", "gemm", "--m", "7", "--n", "9", "--k", "37", "--precision", precision, "--activations", activations,
                             "--iters", "2", "--json"])
            XCTAssertEqual(q.status, 0, "\(precision) \(activations): \(q.stderr)")
            let qv = try JSONParser.parse(q.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            XCTAssertEqual(qv["precision"]?.stringValue, precision)
            XCTAssertEqual(qv["int8_activations"]?.stringValue, precision == "int8" ? activations : nil)
        }
        let f = try run(["bench", "forward", "--model", "DiT-S/8", "--batch", "1", "--iters", "1", "--warmup", "0", "--json"])
        XCTAssertEqual(f.status, 0, f.stderr)
        let fv = try JSONParser.parse(f.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertNotNil(fv["ms"])
        // DiT-S/8 at 32×32: 16 tokens; 12 blocks × (9.63 M attention + 18.87 M MLP + 0.88 M adaLN) + embeddings and final layer.
        XCTAssertEqual(fv["gmacs"]?.doubleValue ?? 0, 0.35797, accuracy: 0.0001)
    }
}
