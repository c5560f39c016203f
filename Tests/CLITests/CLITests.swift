import DyDiTIO
import Foundation
import ReferenceSupport
import XCTest

/// The `dydit` binary on bad input: a clear message on stderr naming what is wrong, a
/// non-zero exit, and never a partial output file.
final class CLITests: XCTestCase {
    var dir = ""

    /// A reference pair (`DYDIT_REFERENCE_DIR`, any names) with what the tests need from its
    /// config metadata. DyDiT pairs are those whose io file holds router decisions.
    struct Model {
        let pair: ReferenceVectors.Pair
        let inputSize: Int, inChannels: Int, numClasses: Int
        let dydit: Bool
        let io: SafeTensorsFile
        var name: String { pair.name }

        init(_ pair: ReferenceVectors.Pair) throws {
            self.pair = pair
            let file = try SafeTensorsFile(path: pair.weights)
            guard let text = file.metadata["config"] else { throw IOError(pair.weights, "no 'config' metadata") }
            let c = try JSONParser.parse(text)
            func int(_ key: String) throws -> Int {
                guard let v = c[key]?.intValue else { throw IOError(pair.weights, "config has no integer '\(key)'") }
                return Int(v)
            }
            inputSize = try int("input_size")
            inChannels = try int("in_channels")
            numClasses = try int("num_classes")
            io = try SafeTensorsFile(path: pair.io)
            dydit = io.contains("attn_masks")
        }
    }

    func models() throws -> [Model] {
        let all = try ReferenceVectors.pairs().map(Model.init)
        XCTAssertFalse(all.isEmpty, "no reference pairs in \(ReferenceVectors.directory)")
        return all
    }

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

    /// `dydit forward` on every DiT pair: the outputs the inputs ask for, equal to the reference's.
    func testForwardWritesOutputs() throws {
        for m in try models() where !m.dydit {
            let out = "\(dir)/\(m.name).safetensors"
            let r = try run(["forward", "--weights", m.pair.weights, "--inputs", m.pair.io, "--out", out, "--threads", "2"])
            XCTAssertEqual(r.status, 0, "\(m.name): \(r.stderr)")
            let file = try SafeTensorsFile(path: out)
            let keys: Set<String> = m.io.contains("cfg/x") ? ["out", "cfg/out"] : ["out"]
            XCTAssertEqual(Set(file.names), keys, m.name)
            for key in keys.sorted() {
                XCTAssertEqual(try file.tensor(key).shape, try m.io.tensor(key).shape, "\(m.name) \(key)")
                assertClose(try file.tensor(key).floats(), try m.io.tensor(key).floats(), tolerance: 1e-5, "\(m.name) \(key)")
            }
        }
    }

    func testForwardOnDyDiTWritesBothPathsAndDecisions() throws {
        let dydit = try models().filter(\.dydit)
        if dydit.isEmpty { throw XCTSkip("no DyDiT pairs in \(ReferenceVectors.directory)") }
        for m in dydit {
            let out = "\(dir)/\(m.name).safetensors"
            let r = try run(["forward", "--weights", m.pair.weights, "--inputs", m.pair.io, "--out", out])
            XCTAssertEqual(r.status, 0, "\(m.name): \(r.stderr)")
            let file = try SafeTensorsFile(path: out)
            XCTAssertEqual(Set(file.names), ["out", "out_fast", "attn_masks", "mlp_masks", "token_masks", "token_logits", "complete_out"], m.name)
            for (key, refKey) in [("out", "out"), ("out_fast", "out"), ("complete_out", "complete_out")] {
                assertClose(try file.tensor(key).floats(), try m.io.tensor(refKey).floats(), tolerance: 1e-5, "\(m.name) \(key)")
            }
            for key in ["attn_masks", "mlp_masks", "token_masks"] {
                assertClose(try file.tensor(key).floats(), try m.io.tensor(key).floats(), tolerance: 0, "\(m.name) \(key)")
            }
        }
    }

    /// Every pair quantized to int8 by `dydit quantize` runs bit-identically to quantizing at load.
    func testQuantizeThenForwardMatchesQuantizingAtLoad() throws {
        let all = try models()
        for m in all {
            let weights = m.pair.weights, inputs = m.pair.io
            let q = try run(["quantize", weights, "--precision", "int8", "--out", "\(dir)/w8.safetensors"])
            XCTAssertEqual(q.status, 0, "\(m.name): \(q.stderr)")
            XCTAssertTrue(q.stdout.contains("int8"), q.stdout)
            // The quantized file runs in its own precision without being told; the float file, told.
            let a = try run(["forward", "--weights", "\(dir)/w8.safetensors", "--inputs", inputs, "--out", "\(dir)/a.safetensors", "--threads", "1"])
            XCTAssertEqual(a.status, 0, "\(m.name): \(a.stderr)")
            let b = try run(["forward", "--weights", weights, "--precision", "int8", "--inputs", inputs, "--out", "\(dir)/b.safetensors", "--threads", "1"])
            XCTAssertEqual(b.status, 0, "\(m.name): \(b.stderr)")
            let fromFile = try SafeTensorsFile(path: "\(dir)/a.safetensors"), atLoad = try SafeTensorsFile(path: "\(dir)/b.safetensors")
            XCTAssertEqual(Set(fromFile.names), Set(atLoad.names), m.name)
            for key in fromFile.names.sorted() {
                assertClose(try fromFile.tensor(key).floats(), try atLoad.tensor(key).floats(), tolerance: 0, "\(m.name) \(key)")
            }
            for name in ["a", "b"] { try FileManager.default.removeItem(atPath: "\(dir)/\(name).safetensors") }
            if m.name != all.last?.name { try FileManager.default.removeItem(atPath: "\(dir)/w8.safetensors") }
        }
        // Refusals, on the last pair's files (models() has already failed the test when there is none).
        guard let last = all.last else { return }
        let weights = last.pair.weights, inputs = last.pair.io
        let k = try run(["quantize", weights, "--precision", "int8", "--fp32-layers", "final_layer", "--out", "\(dir)/w8f.safetensors"])
        XCTAssertEqual(k.status, 0, k.stderr)
        try expectFailure(["forward", "--weights", "\(dir)/w8f.safetensors", "--precision", "fp16", "--inputs", inputs, "--out", "\(dir)/o.safetensors"],
                          mentions: ["quantized to int8 (fp32: final_layer)", "runs only in that precision"])
        try expectFailure(["quantize", "\(dir)/w8.safetensors", "--precision", "int8", "--out", "\(dir)/o.safetensors"],
                          mentions: ["quantized already"])
        try expectFailure(["quantize", weights, "--precision", "int8", "--fp32-layers", "mlp", "--out", "\(dir)/o.safetensors"],
                          mentions: ["'mlp'", "mlp.fc1"])
    }

    /// `dydit sample` on every pair: a PNG grid of the model's size for gray and colour
    /// models; for latents (4 channels) only the tensors, and the user is told why.
    func testSampleWritesGridAndSamples() throws {
        for m in try models() {
            let classes = Array(0..<min(3, m.numClasses))
            let stem = "\(dir)/\(m.name)"
            let pixels = m.inChannels == 1 || m.inChannels == 3
            let r = try run(["sample", "--weights", m.pair.weights, "--sampler", pixels ? "ddim" : "ddpm", "--steps", pixels ? "5" : "3",
                             "--classes", classes.map(String.init).joined(separator: ","), "--out", "\(stem).png", "--threads", "2",
                             "--profile"]
                            + (pixels ? [] : ["--routers", "tdw,sdt"]))
            XCTAssertEqual(r.status, 0, "\(m.name): \(r.stderr)")
            // --profile: each operation's time; with routers, beside the dense run's.
            XCTAssertTrue(r.stderr.contains("qkv") && r.stderr.contains("fc1+gelu"), r.stderr)
            if !pixels {
                XCTAssertTrue(r.stderr.contains("dense/dynamic") && r.stderr.contains("routers")
                              && r.stderr.contains("outside model"), r.stderr)
            }
            let samples = try SafeTensorsFile(path: "\(stem).safetensors")
            XCTAssertEqual(try samples.tensor("samples").shape, [classes.count, m.inChannels, m.inputSize, m.inputSize], m.name)
            XCTAssertEqual(try samples.tensor("classes").integers(), classes.map { Int64($0) }, m.name)
            if pixels {
                let png = try PNGFile.read("\(stem).png")
                // One column per class, one row, and the class names in a band under it.
                let columns = classes.count
                XCTAssertEqual(png.channels, m.inChannels, m.name)
                XCTAssertEqual(png.width, columns * m.inputSize + (columns + 1) * 2, "\(m.name): \(columns) columns and their margins")
                XCTAssertGreaterThan(png.height, m.inputSize + 2 * 2, "\(m.name): the names' band")
            } else {
                XCTAssertTrue(r.stderr.contains("VAE"), r.stderr)
                XCTAssertTrue(r.stdout.contains("mean FLOPs ratio") && r.stdout.contains("speed-up"), r.stdout)
                XCTAssertFalse(FileManager.default.fileExists(atPath: "\(stem).png"), m.name)
            }
        }
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
        XCTAssertFalse(s.stdout.contains("without results"), s.stdout)
        // A run that failed and one that never finished are listed under the table, with why.
        for (id, log) in [("9-failed", "run 9-failed: …\nerror: the samples are not finite\n"), ("9-killed", nil)] {
            try FileManager.default.createDirectory(atPath: "\(dir)/runs/\(id)", withIntermediateDirectories: true)
            try #"{"name": "cli"}"#.write(toFile: "\(dir)/runs/\(id)/spec.json", atomically: true, encoding: .utf8)
            try log?.write(toFile: "\(dir)/runs/\(id)/log.txt", atomically: true, encoding: .utf8)
        }
        let partial = try run(["summarize", "\(dir)/runs"])
        XCTAssertTrue(partial.stdout.contains("3 complete run(s)") && partial.stdout.contains("2 without results"), partial.stdout)
        XCTAssertTrue(partial.stdout.contains("| 9-failed | failed: the samples are not finite |"), partial.stdout)
        XCTAssertTrue(partial.stdout.contains("| 9-killed | not finished"), partial.stdout)
        for id in ["9-failed", "9-killed"] { try FileManager.default.removeItem(atPath: "\(dir)/runs/\(id)") }
        let again = try run(["run", "\(dir)/spec.json", "--out", "\(dir)/runs"])
        XCTAssertTrue(again.stdout.contains("0 run(s) done, 3 already complete"), again.stdout)
        let v = try run(["validate", "\(dir)/spec.json"])
        XCTAssertEqual(v.status, 0, v.stderr)
        let bad = try run(["run", "\(dir)/spec.json", "--shard", "2/2"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--shard '2/2'"), bad.stderr)
        // --shard auto inside a Slurm array: task 8 of --array=1,3,8 (listed by submit.sh) is shard 2/3.
        let slurm = ["SLURM_ARRAY_TASK_ID": "8", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1",
                     "SLURM_ARRAY_TASK_MAX": "8", "SLURM_ARRAY_TASK_STEP": "1"]
        let auto = try DyDiTProcess.run(["run", "\(dir)/spec.json", "--out", "\(dir)/runs", "--dry-run", "--shard", "auto"],
                                        env: slurm.merging(["DYDIT_ARRAY_TASKS": "1,3,8"]) { $1 })
        XCTAssertEqual(auto.status, 0, auto.stderr)
        XCTAssertTrue(auto.stderr.contains("shard 2/3: Slurm array task 8 of 1,3,8"), auto.stderr)
        XCTAssertTrue(auto.stdout.contains("shard 2/3: 1 run(s)") && auto.stdout.contains("2-keep=1  [complete"), auto.stdout)
        let unlisted = try DyDiTProcess.run(["run", "\(dir)/spec.json", "--dry-run", "--shard", "auto"], env: slurm)
        XCTAssertEqual(unlisted.status, 1)
        XCTAssertTrue(unlisted.stderr.contains("not evenly spaced") && unlisted.stderr.contains("submit.sh"), unlisted.stderr)
    }

    func testBadInputsFailCleanly() throws {
        let m = try XCTUnwrap(try models().first)
        let w = m.pair.weights, io = m.pair.io, c = m.inChannels, s = m.inputSize
        let out = "\(dir)/out.safetensors"
        try expectFailure(["forward", "--weights", "\(dir)/missing.safetensors", "--inputs", io, "--out", out],
                          mentions: ["missing.safetensors", "cannot open"])
        // A truncated weights file.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: w))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: "\(dir)/w-truncated.safetensors"))
        try expectFailure(["forward", "--weights", "\(dir)/w-truncated.safetensors", "--inputs", io, "--out", out],
                          mentions: ["w-truncated.safetensors", "truncated"])
        // Inputs whose x has the wrong shape, and inputs without y.
        let half = max(1, s / 2)
        try SafeTensorsWriter.write([("x", Tensor([Float](repeating: 0, count: 4 * c * half * half), shape: [4, c, half, half])),
                                     ("t", Tensor([Int64](repeating: 1, count: 4), shape: [4])),
                                     ("y", Tensor([Int64](repeating: 1, count: 4), shape: [4]))], to: "\(dir)/in-shape.safetensors")
        try expectFailure(["forward", "--weights", w, "--inputs", "\(dir)/in-shape.safetensors", "--out", out],
                          mentions: ["in-shape.safetensors", "'x'", "[4, \(c), \(half), \(half)]", "expected [4, \(c), \(s), \(s)]"])
        try SafeTensorsWriter.write([("x", Tensor([Float](repeating: 0, count: c * s * s), shape: [1, c, s, s])),
                                     ("t", Tensor([Int64(1)], shape: [1]))], to: "\(dir)/in-noy.safetensors")
        try expectFailure(["forward", "--weights", w, "--inputs", "\(dir)/in-noy.safetensors", "--out", out],
                          mentions: ["in-noy.safetensors", "no tensor 'y'"])
        try SafeTensorsWriter.write([("x", Tensor([Float](repeating: 0, count: c * s * s), shape: [1, c, s, s])),
                                     ("t", Tensor([Int64(1)], shape: [1])), ("y", Tensor([Int64(m.numClasses + 1)], shape: [1]))],
                                    to: "\(dir)/in-label.safetensors")
        try expectFailure(["forward", "--weights", w, "--inputs", "\(dir)/in-label.safetensors", "--out", out],
                          mentions: ["label \(m.numClasses + 1) is outside 0...\(m.numClasses)"])
    }

    func testUnknownNamesListTheValidOnes() throws {
        try expectFailure(["bench", "forward", "--model", "DiT-XS/2", "--iters", "1"], mentions: ["did you mean DiT-S/2", "DiT-XL/8"])
        try expectFailure(["bench", "gemm", "--precision", "fp8", "--iters", "1"], mentions: ["fp8", "'fp32', 'fp16', 'int8' or 'bf16'"])
        try expectFailure(["bench", "gemm", "--isa", "sse9", "--iters", "1"], mentions: ["sse9", "avx512"])
        try expectFailure(["bench", "gemm", "--iters", "1"], env: ["DYDIT_ISA": "neon"], mentions: ["DYDIT_ISA", "neon", "portable"])
        try expectFailure(["bench", "gemm", "--threads", "0"], mentions: ["--threads"])
        let w = try XCTUnwrap(try models().first).pair.weights
        try expectFailure(["sample", "--weights", w, "--sampler", "dpm-solver+", "--out", "\(dir)/x.png"], mentions: ["did you mean 'dpm-solver'"])
        try expectFailure(["sample", "--weights", w, "--steps", "0", "--out", "\(dir)/x.png"], mentions: ["steps must be at least 1"])
        try expectFailure(["sample", "--weights", w, "--option", "solver_order=4", "--out", "\(dir)/x.png"], mentions: ["solver_order", "1, 2 or 3"])
        try expectFailure(["sample", "--weights", w, "--routers", "tdx", "--out", "\(dir)/x.png"], mentions: ["unknown router 'tdx'"])
    }

    /// `bench peak --int8` measures vpdpbusd where the CPU has it and says why not elsewhere.
    func testBenchPeakInt8() throws {
        try expectFailure(["bench", "peak", "--int8", "--bf16"], mentions: ["--int8 and --bf16", "one instruction at a time"])
        let r = try run(["bench", "peak", "--int8", "--threads", "1", "--json"])
        // The kernel's own test is CPUID; /proc/cpuinfo's flags say the same on Linux, except in
        // a build without the x86 kernels (DYDIT_PORTABLE_ONLY), where no CPU has VNNI:
        // CPUReport knows both.
        if CPUReport.int8Pairs.contains("avx512+vnni") {
            XCTAssertEqual(r.status, 0, r.stderr)
            let v = try JSONParser.parse(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            XCTAssertEqual(v["instruction"]?.stringValue, "vpdpbusd")
            XCTAssertEqual(v["unit"]?.stringValue, "GOP/s")
            XCTAssertGreaterThan(v["gflops"]?.doubleValue ?? 0, 1, r.stdout)
        } else {
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains("AVX-512 VNNI"), r.stderr)
        }
    }

    func testBenchPrintsOneJSONObject() throws {
        let r = try run(["bench", "gemm", "--m", "7", "--n", "9", "--k", "5", "--threads", "2", "--iters", "2", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let v = try JSONParser.parse(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        for key in ["ms", "gflops", "isa", "threads"] { XCTAssertNotNil(v[key], "missing \(key) in \(r.stdout)") }
        // --weight-copies: accepted for fp32, echoed in the JSON; 0 and the int8 product are refused.
        let c = try run(["bench", "gemm", "--m", "7", "--n", "9", "--k", "5", "--weight-copies", "3", "--iters", "4", "--json"])
        XCTAssertEqual(c.status, 0, c.stderr)
        let cv = try JSONParser.parse(c.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(cv["weight_copies"]?.doubleValue, 3, c.stdout)
        XCTAssertEqual(cv["iters"]?.doubleValue, 4, c.stdout)
        try expectFailure(["bench", "gemm", "--weight-copies", "0", "--iters", "1"], mentions: ["--weight-copies must be at least 1"])
        try expectFailure(["bench", "gemm", "--weight-copies", "2", "--precision", "int8", "--iters", "1"],
                          mentions: ["--weight-copies", "fp32 and fp16", "int8"])
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
        assertClose(fv["gmacs"]?.doubleValue ?? .nan, 0.35797, absolute: 0.0001, "bench forward gmacs")
        // --profile with routers: each operation's dynamic and dense time from the same alternating run.
        let p = try run(["bench", "forward", "--model", "DiT-S/8", "--batch", "2", "--iters", "2", "--warmup", "0",
                         "--width-keep", "0.5", "--token-keep", "0.6", "--profile"])
        XCTAssertEqual(p.status, 0, p.stderr)
        XCTAssertTrue(p.stderr.contains("dense/dynamic") && p.stderr.contains("routers") && p.stderr.contains("token gather")
                      && p.stderr.contains("fc1+gelu") && p.stderr.contains("total"), p.stderr)
        // The bench slices its weights during the warm-up, outside the profile: no empty row.
        XCTAssertFalse(p.stderr.contains("slice weights"), p.stderr)
    }

    /// `dydit metrics`, `dydit features` and `dydit bench metrics` with the shipped classifier:
    /// the JSON keys asked for, a features file of the right shape, and clear errors.
    func testMetricsFeaturesAndBench() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let classifier = root.appendingPathComponent("Experiments/checkpoints/fashion-mnist-classifier.safetensors").path
        // The reference-feature cache outside the test folder, which must stay empty after failures.
        let cache = NSTemporaryDirectory() + "dydit-cli-cache-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let env = ["DYDIT_CACHE_DIR": cache]
        // The metrics need the data; scripts/setup.sh installs it, so its absence is a failure, not a skip.
        guard FileReader.exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") else {
            return XCTFail("Fashion-MNIST is not installed (scripts/setup.sh installs dataset-fashion-mnist)")
        }
        try expectFailure(["metrics", "fashion-mnist:test:5", "--metrics", "fid", "--classifier", classifier], env: env,
                          mentions: ["unknown metric 'fid'", "fd"])
        try expectFailure(["metrics", "\(dir)/missing", "--classifier", classifier], env: env, mentions: ["does not exist"])
        try expectFailure(["metrics", "fashion-mnist:test:5", "--classifier", "\(dir)/none.safetensors"], env: env,
                          mentions: ["not found", "dydit classifier train"])
        let m = try run(["metrics", "fashion-mnist:test:300", "--reference", "fashion-mnist:train:400", "--classifier", classifier,
                         "--metrics", "fd,kid,class-accuracy", "--kid-subsets", "3", "--json", "--threads", "2"], env: env)
        XCTAssertEqual(m.status, 0, m.stderr)
        let v = try JSONParser.parse(m.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(v["n"]?.intValue, 300)
        XCTAssertEqual(Set(v.objectValue?.keys ?? []), ["n", "fd", "kid", "kid_std", "class_accuracy"])
        XCTAssertGreaterThan(v["class_accuracy"]?.doubleValue ?? 0, 0.85)
        let f = try run(["features", "fashion-mnist:test:7", "--out", "\(dir)/f.safetensors", "--classifier", classifier], env: env)
        XCTAssertEqual(f.status, 0, f.stderr)
        let file = try SafeTensorsFile(path: "\(dir)/f.safetensors")
        XCTAssertEqual(try file.tensor("features").shape, [7, 256])
        XCTAssertEqual(try file.tensor("classes").shape, [7])
        let b = try run(["bench", "metrics", "--images", "50", "--eigen-size", "16", "--iters", "1", "--warmup", "0", "--json",
                         "--classifier", classifier], env: env)
        XCTAssertEqual(b.status, 0, b.stderr)
        let bv = try JSONParser.parse(b.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        for key in ["features_and_fd_ms", "fd_ms", "eigen_ms", "fd"] { XCTAssertNotNil(bv[key], "missing \(key) in \(b.stdout)") }
    }

    /// `dydit routers tokens` on every DyDiT reference model: a picture and the raw masks, whose
    /// count matches the model; a plain DiT is refused.
    func testTokenMaskPictures() throws {
        for m in try models() {
            let r = try run(["routers", "tokens", "--weights", m.pair.weights, "--classes", "0,1", "--steps", "4", "--timesteps", "2",
                             "--out", "\(dir)/\(m.name).png", "--threads", "2"])
            if !m.dydit {
                XCTAssertEqual(r.status, 1, "\(m.name): \(r.stdout)")
                XCTAssertTrue(r.stderr.contains("no DyDiT routers"), r.stderr)
                continue
            }
            XCTAssertEqual(r.status, 0, r.stderr)
            let file = try SafeTensorsFile(path: "\(dir)/\(m.name).safetensors")
            let masks = try file.tensor("token_masks")
            XCTAssertEqual(masks.shape[0], 2)
            XCTAssertEqual(masks.shape[1], 2)
            XCTAssertTrue(masks.floats().allSatisfy { $0 == 0 || $0 == 1 })
            let image = try PNGFile.read("\(dir)/\(m.name).png")
            XCTAssertEqual(image.channels, 3)
        }
    }
}
