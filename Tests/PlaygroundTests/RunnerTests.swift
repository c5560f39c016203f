import DyDiTIO
import DyDiTModels
import DyDiTPlayground
import Foundation
import XCTest

/// Running specs: files per run, resume without redoing, refusal of a different spec under
/// the same id, the run locks, shards and their merged summary.
final class RunnerTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dydit-runs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A tiny model: one block, 4 tokens, 2 samples, 3 steps.
    func spec(sweep: String = "", steps: Int = 3, eval: String = #"{"samples": 2, "batch": 2}"#) -> String {
        """
        {"name": "tiny", "seed": 1,
         "backbone": {"type": "dydit", "config": {"hidden_size": 32, "depth": 1, "num_heads": 2, "patch_size": 4},
                      "input_size": 8, "in_channels": 1, "num_classes": 3},
         "routers": {"width": {"type": "random", "keep": 0.5}, "token": {"type": "random", "keep": 0.5}},
         "sampler": {"type": "ddim", "steps": \(steps)}, "guidance": {"scale": 2},
         "eval": \(eval), "compute": {"threads": 1},
         "output": {"dir": "\(dir)/out"}\(sweep)}
        """
    }

    /// The labelled comparison's bands at grid scale 1: row names "CLASS n" (41 pixels + 4) on
    /// the left, the halves' titles (7 + 4 rows) on top.
    static let rowNameBand = 45, titleBand = 11

    func events() -> RunEvents { RunEvents(message: { _ in }, step: { _, _, _, _ in }) }

    func testRunWritesFilesAndResumesWithoutRedoing() throws {
        let runs = try SpecFile(text: spec(sweep: #", "sweep": {"grid": {"routers.width.keep": [0.5, 1]}}"#)).expand()
        XCTAssertEqual(runs.map(\.id), ["0-keep=0.5", "1-keep=1"])
        let store = try RunStore(directory: "\(dir)/out")
        let runner = ExperimentRunner(store: store)
        let metrics = try runner.execute(runs[0], events: events())
        let runDir = store.runDirectory(runs[0].id)
        for file in ["spec.json", "metrics.json", "samples.safetensors", "samples.png", "dense-vs-dynamic.png", "masks.csv", "log.txt"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(runDir)/\(file)"), file)
        }
        // Dense | dynamic: two halves of one 8×8 tile per sample's class row, margin 2, gap 6,
        // plus the row names ("CLASS n": 7 characters of 6 pixels − 1, + 4) and the titles (7 + 4 rows).
        let pair = try PNGFile.read("\(runDir)/dense-vs-dynamic.png")
        let labels = try SafeTensorsFile(path: "\(runDir)/samples.safetensors").tensor("classes").integers()
        let rows = Set(labels).count, columns = Set(labels).map { c in labels.filter { $0 == c }.count }.max()!
        XCTAssertEqual(pair.height, rows * 10 + 2 + Self.titleBand)
        XCTAssertEqual(pair.width, 2 * (columns * 10 + 2) + 6 + Self.rowNameBand)
        XCTAssertEqual(metrics["random_init"], .bool(true))
        XCTAssertNotNil(metrics["latency"]?["speedup"]?.doubleValue)
        // Seconds per step along the schedule, dynamic and dense, one entry per sampling step.
        let perStep = try XCTUnwrap(metrics["latency"]?["per_step"])
        XCTAssertEqual(perStep["timesteps"]?.arrayValue?.count, 3)
        for key in ["seconds_per_image", "dense_seconds_per_image", "speedup"] {
            let values = try XCTUnwrap(perStep[key]?.arrayValue?.compactMap(\.doubleValue), key)
            XCTAssertEqual(values.count, 3, key)
            XCTAssertTrue(values.allSatisfy { $0.isFinite && $0 > 0 }, "\(key): \(values)")
        }
        XCTAssertLessThan(metrics["flops"]?["flops_ratio"]?.doubleValue ?? 1, 1)
        func state(_ r: SpecFile.Run) throws -> RunStore.State { store.state(of: r.id, resolved: r.spec.resolved, key: try runner.key(for: r)) }
        XCTAssertEqual(try state(runs[0]), .complete)
        XCTAssertEqual(try state(runs[1]), .pending)
        // An interrupted run (spec written, no metrics) is pending, not complete.
        try store.begin(runs[1].id, resolved: runs[1].spec.resolved)
        XCTAssertEqual(try state(runs[1]), .pending)
        // The same id with another spec is refused, not overwritten.
        let changed = try SpecFile(text: spec(sweep: #", "sweep": {"grid": {"routers.width.keep": [0.5, 1]}}"#, steps: 4)).expand()
        guard case .conflict = try state(changed[0]) else {
            return XCTFail("a changed spec under an existing id must be a conflict")
        }
        // A reworded description is prose, not another computation: the finished run stays complete.
        let described = try SpecFile(text: spec(sweep: #", "description": "reworded", "sweep": {"grid": {"routers.width.keep": [0.5, 1]}}"#))
            .expand()
        XCTAssertNotEqual(described[0].spec.resolved, runs[0].spec.resolved)
        XCTAssertEqual(try state(described[0]), .complete)
        XCTAssertEqual(try Summary.write(store), 1)
        let csv = try String(contentsOfFile: "\(dir)/out/summary.csv", encoding: .utf8)
        XCTAssertTrue(csv.hasPrefix("run,routers.width.keep,gmacs_per_image"), csv)
    }

    /// `eval.timing.images`: the rounds time whole batches up to that many images; the run's
    /// samples (and so its quality metrics) are still every image, the same as without a subset.
    func testTimingASubsetKeepsEveryImageForQuality() throws {
        let metric = #""metrics": ["flops", "latency", "fidelity"], "dense_baseline": true"#
        func run(_ eval: String, _ name: String) throws -> (JSONValue, [Float], String) {
            let store = try RunStore(directory: "\(dir)/\(name)")
            let r = try SpecFile(text: spec(eval: eval)).expand()[0]
            let metrics = try ExperimentRunner(store: store).execute(r, events: events())
            let runDir = store.runDirectory(r.id)
            return (metrics, try SafeTensorsFile(path: "\(runDir)/samples.safetensors").tensor("samples").floats(), runDir)
        }
        let (all, allSamples, _) = try run(#"{"samples": 6, "batch": 2, "timing": {"rounds": 1}, "#+metric+"}", "all")
        let (part, partSamples, partDir) = try run(#"{"samples": 6, "batch": 2, "timing": {"rounds": 2, "images": 3}, "#+metric+"}", "part")
        XCTAssertEqual(partSamples.count, 6 * 64)
        XCTAssertEqual(partSamples, allSamples, "the untimed pass draws the images the timed pass would")
        XCTAssertEqual(all["latency"]?["timed_images"], .int(6))
        XCTAssertEqual(part["latency"]?["timed_images"], .int(4), "3 images round up to two whole batches of 2")
        XCTAssertEqual(part["latency"]?["rounds"], .int(2))
        XCTAssertEqual(part["quality"]?["fidelity_images"], .int(4))
        XCTAssertEqual(part["flops"]?["flops_ratio"], all["flops"]?["flops_ratio"], "step reports of the full pass")
        // The dense | dynamic picture shows the timed images: 4 samples of 3 classes (2, 1, 1).
        let pair = try PNGFile.read("\(partDir)/dense-vs-dynamic.png")
        XCTAssertEqual(pair.height, 3 * 10 + 2 + Self.titleBand)
        XCTAssertEqual(pair.width, 2 * (2 * 10 + 2) + 6 + Self.rowNameBand)
    }

    /// A FORA run on the dense model: compared with the same model without the cache, its
    /// FLOPs ratio the share of steps that compute the blocks (4 steps, interval 2: DiT's index
    /// 3, 2, 1, 0 computes at 3, 2 and 0), and interval 1 gives the dense samples.
    func testStepCacheRun() throws {
        func run(_ interval: Int) throws -> (JSONValue, [Float]) {
            let text = spec(steps: 4, eval: #"{"samples": 2, "batch": 2, "metrics": ["flops", "latency", "memory", "fidelity"], "timing": {"rounds": 1}}"#)
                .replacingOccurrences(of: #""routers": {"width": {"type": "random", "keep": 0.5}, "token": {"type": "random", "keep": 0.5}},"#,
                                      with: #""cache": {"type": "fora", "interval": \#(interval)},"#)
                .replacingOccurrences(of: #""backbone": {"type": "dydit""#, with: #""backbone": {"type": "dit""#)
            let store = try RunStore(directory: "\(dir)/fora\(interval)")
            let r = try SpecFile(text: text).expand()[0]
            let metrics = try ExperimentRunner(store: store).execute(r, events: events())
            return (metrics, try SafeTensorsFile(path: "\(store.runDirectory(r.id))/samples.safetensors").tensor("samples").floats())
        }
        let (two, _) = try run(2)
        XCTAssertEqual(two["flops"]?["flops_ratio"]?.doubleValue ?? .nan, 0.75, accuracy: 1e-12)
        XCTAssertNotNil(two["latency"]?["speedup"]?.doubleValue, "compared with the dense model: \(two)")
        // The cache's extra memory: attention and MLP outputs of 2 images × 2 (guidance) × 4
        // tokens × 32 features, one block, float32.
        XCTAssertEqual(two["memory"]?["step_cache_bytes"], .int(2 * 16 * 32 * 4))
        let (one, oneSamples) = try run(1)
        XCTAssertEqual(one["flops"]?["flops_ratio"]?.doubleValue ?? .nan, 1, accuracy: 1e-12)
        XCTAssertEqual(one["quality"]?["rmse_vs_dense"]?.doubleValue, 0, "interval 1 is the dense model: \(one)")
        XCTAssertTrue(oneSamples.allSatisfy(\.isFinite))
    }

    /// A guidance interval's FLOPs: 2 forwards per image at the guided steps, 1 at the others.
    func testGuidanceIntervalCountsItsForwards() throws {
        func run(_ guidance: String, _ name: String) throws -> JSONValue {
            let text = spec(steps: 4, eval: #"{"samples": 2, "batch": 2, "metrics": ["flops"]}"#)
                .replacingOccurrences(of: #""guidance": {"scale": 2}"#, with: guidance)
                .replacingOccurrences(of: #""routers": {"width": {"type": "random", "keep": 0.5}, "token": {"type": "random", "keep": 0.5}},"#, with: "")
                .replacingOccurrences(of: #""backbone": {"type": "dydit""#, with: #""backbone": {"type": "dit""#)
            let store = try RunStore(directory: "\(dir)/\(name)")
            return try ExperimentRunner(store: store).execute(try SpecFile(text: text).expand()[0], events: events())
        }
        // DDIM 4 steps over 1000 (DiT's respacing): model timesteps 999, 666, 333, 0 — [200, 700] guides two.
        let limited = try XCTUnwrap(run(#""guidance": {"scale": 2, "interval": [200, 700]}"#, "limited")["flops"])
        let every = try XCTUnwrap(run(#""guidance": {"scale": 2}"#, "every")["flops"])
        XCTAssertEqual(limited["forwards_per_image"], .double(6))
        XCTAssertEqual(every["forwards_per_image"], .double(8))
        for (flops, forwards) in [(limited, 6.0), (every, 8.0)] {
            let perForward = try XCTUnwrap(flops["gmacs_per_image_forward"]?.doubleValue)
            XCTAssertEqual(flops["gmacs_per_image"]?.doubleValue ?? .nan, perForward * forwards, accuracy: perForward * 1e-12)
        }
    }

    /// TeaCache in a spec: its coefficients file is one of the run's inputs (a new fit makes the
    /// run stale), and threshold 0 with a non-negative rescaling runs every step.
    func testTeaCacheRunReadsItsCoefficients() throws {
        let file = "\(dir)/coefficients.json"
        try AtomicFile.write(#"{"coefficients": [1, 0]}"#, to: file)
        let text = spec(steps: 4, eval: #"{"samples": 2, "batch": 2, "metrics": ["flops"]}"#)
            .replacingOccurrences(of: #""routers": {"width": {"type": "random", "keep": 0.5}, "token": {"type": "random", "keep": 0.5}},"#,
                                  with: #""cache": {"type": "teacache", "threshold": 0, "coefficients": "\#(file)"},"#)
            .replacingOccurrences(of: #""backbone": {"type": "dydit""#, with: #""backbone": {"type": "dit""#)
        let store = try RunStore(directory: "\(dir)/teacache")
        let r = try SpecFile(text: text).expand()[0]
        let runner = ExperimentRunner(store: store)
        XCTAssertTrue(try runner.inputFiles(for: r).contains { $0.role == "cache.coefficients" && $0.path == file })
        let metrics = try runner.execute(r, events: events())
        XCTAssertEqual(metrics["flops"]?["flops_ratio"]?.doubleValue ?? .nan, 1, accuracy: 1e-12)
    }

    /// Without the latency metric there is nothing to take medians of: one pass samples every
    /// image once (five timing rounds used to sample everything five times), with the same
    /// samples as a timed run.
    func testWithoutLatencyOnePassSamples() throws {
        func run(_ metrics: String, _ name: String) throws -> (phases: [String: Int], samples: [Float]) {
            var phases: [String: Int] = [:]
            let events = RunEvents(message: { _ in }, step: { phase, _, _, report in if report.step == 0 { phases[phase, default: 0] += 1 } })
            let store = try RunStore(directory: "\(dir)/\(name)")
            let r = try SpecFile(text: spec(eval: #"{"samples": 4, "batch": 2, "timing": {"rounds": 3}, "dense_baseline": true, "metrics": "# + metrics + "}")).expand()[0]
            _ = try ExperimentRunner(store: store).execute(r, events: events)
            return (phases, try SafeTensorsFile(path: "\(store.runDirectory(r.id))/samples.safetensors").tensor("samples").floats())
        }
        let untimed = try run(#"["flops", "fidelity"]"#, "untimed")
        XCTAssertEqual(untimed.phases, ["sample": 2, "dense": 2], "one pass of two batches each")
        let timed = try run(#"["flops", "latency", "fidelity"]"#, "timed")
        XCTAssertEqual(timed.phases.count, 6, "three rounds of sample and dense: \(timed.phases)")
        XCTAssertEqual(untimed.samples, timed.samples)
    }

    /// A latent model's run has no picture to draw and says so in its log (it used to skip
    /// samples.png without a word).
    func testLatentRunSaysWhyItHasNoPicture() throws {
        let text = spec().replacingOccurrences(of: #""in_channels": 1"#, with: #""in_channels": 4"#)
        let r = try SpecFile(text: text).expand()[0]
        let store = try RunStore(directory: "\(dir)/out")
        var log: [String] = []
        _ = try ExperimentRunner(store: store).execute(r, events: RunEvents(message: { log.append($0) }, step: { _, _, _, _ in }))
        let run = store.runDirectory(r.id)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(run)/samples.safetensors"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(run)/samples.png"))
        XCTAssertTrue(log.contains { $0.hasPrefix("no samples.png: the model makes 4-channel VAE latents") && $0.contains("decode-latents.ipynb") },
                      log.joined(separator: "\n"))
    }

    /// `eval.dense_checkpoint`: the dense baseline samples with its own weights (the base a
    /// DyDiT was fine-tuned from), and those weights are one of the run's inputs.
    func testDenseBaselineFromItsOwnCheckpoint() throws {
        let metric = #""metrics": ["flops", "latency", "fidelity"], "dense_baseline": true, "timing": {"rounds": 1}"#
        func run(_ name: String, dense: String?) throws -> JSONValue {
            let extra = dense.map { #", "dense_checkpoint": ""# + $0 + #"""# } ?? ""
            let r = try SpecFile(text: spec(eval: #"{"samples": 2, "batch": 2, "# + metric + extra + "}")).expand()[0]
            return try ExperimentRunner(store: try RunStore(directory: "\(dir)/\(name)")).execute(r, events: events())
        }
        let config = try SpecFile(text: spec()).expand()[0].spec.backbone
        // The run's own random-init weights, saved: as a dense checkpoint they change nothing.
        try DiTParameters.initialized(config.config, seed: 1, config.initialization).save(to: "\(dir)/same.safetensors")
        try DiTParameters.initialized(config.config, seed: 9, config.initialization).save(to: "\(dir)/other.safetensors")
        let own = try run("own", dense: nil)
        let same = try run("same", dense: "\(dir)/same.safetensors")
        let other = try run("other", dense: "\(dir)/other.safetensors")
        let psnr = { (m: JSONValue) in m["quality"]?["psnr_vs_dense_db"]?.doubleValue }
        XCTAssertNotNil(psnr(own))
        XCTAssertEqual(psnr(same), psnr(own), "the same weights from a file sample the same dense images")
        XCTAssertNotEqual(psnr(other), psnr(own), "other dense weights, other dense images")
        XCTAssertEqual(other["flops"]?["flops_ratio"], own["flops"]?["flops_ratio"], "the routed run itself is unchanged")
        // The weights are an input of the run: its key changes with them.
        let r = try SpecFile(text: spec(eval: #"{"samples": 2, "batch": 2, "# + metric + #", "dense_checkpoint": ""# + "\(dir)/other.safetensors" + #""}"#)).expand()[0]
        let files = try ExperimentRunner(store: try RunStore(directory: "\(dir)/other")).inputFiles(for: r)
        XCTAssertTrue(files.contains { $0.role == "eval.dense_checkpoint" && $0.path == "\(dir)/other.safetensors" }, "\(files)")
        // A baseline that samples other images cannot be compared; another depth or width can
        // (a pruned model against the model it was cut from).
        var bigger = config.config
        bigger.inputSize *= 2
        try DiTParameters.initialized(bigger, seed: 1, config.initialization).save(to: "\(dir)/bigger.safetensors")
        XCTAssertThrowsError(try run("bigger", dense: "\(dir)/bigger.safetensors")) {
            XCTAssertTrue("\($0)".contains("must take and give the same images"), "\($0)")
        }
        var wide = config.config
        wide.hiddenSize = 48
        wide.depth += 1
        try DiTParameters.initialized(wide, seed: 1, config.initialization).save(to: "\(dir)/wide.safetensors")
        XCTAssertNotNil(try run("wide", dense: "\(dir)/wide.safetensors")["latency"]?["speedup"]?.doubleValue)
    }

    /// A dense baseline whose samples are not finite is named in the error, in every timing
    /// round (the rounds' phases are "dense round r/n": the error used to say only "the samples").
    func testDivergingDenseBaselineIsNamed() throws {
        let config = try SpecFile(text: spec()).expand()[0].spec.backbone
        var params = DiTParameters.initialized(config.config, seed: 1, config.initialization)
        // An output layer at the edge of fp32: guidance's 3·cond − 2·uncond overflows to inf.
        for name in params.tensors.keys where name.hasPrefix(DiTLayerNames.finalLinear) {
            params.tensors[name] = params.tensors[name]!.map { _ in 3e38 }
        }
        try params.save(to: "\(dir)/diverging.safetensors")
        let eval = #"{"samples": 2, "batch": 2, "metrics": ["flops", "latency"], "dense_baseline": true, "timing": {"rounds": 2}, "dense_checkpoint": ""#
            + "\(dir)/diverging.safetensors" + #""}"#
        let r = try SpecFile(text: spec(eval: eval)).expand()[0]
        XCTAssertThrowsError(try ExperimentRunner(store: try RunStore(directory: "\(dir)/d")).execute(r, events: events())) {
            XCTAssertTrue("\($0)".contains("the dense baseline's samples"), "\($0)")
        }
    }

    /// `eval.dense_sampler`: a fewer-steps run is timed against the sampler it replaces (the
    /// method zoo's 12-step rows used to be timed against 12 dense steps: "0.96×" at FLOPs 1),
    /// and its FLOPs per image count the steps it saves.
    func testFewerStepsAreTimedAgainstTheDenseSampler() throws {
        func text(_ eval: String) -> String {
            spec(steps: 2, eval: eval)
                .replacingOccurrences(of: #""routers": {"width": {"type": "random", "keep": 0.5}, "token": {"type": "random", "keep": 0.5}},"#, with: "")
                .replacingOccurrences(of: #""backbone": {"type": "dydit""#, with: #""backbone": {"type": "dit""#)
        }
        let metrics = #""metrics": ["flops", "latency", "fidelity"], "timing": {"rounds": 1}"#
        var steps: [String: Set<Int>] = [:]
        let events = RunEvents(message: { _ in }, step: { phase, _, _, report in steps[phase, default: []].insert(report.step) })
        let r = try SpecFile(text: text(#"{"samples": 2, "batch": 2, "# + metrics + #", "dense_sampler": {"type": "ddim", "steps": 4}}"#)).expand()[0]
        XCTAssertEqual(r.spec.resolved["eval"]?["dense_sampler"]?["steps"], .int(4))
        let m = try ExperimentRunner(store: try RunStore(directory: "\(dir)/fewer")).execute(r, events: events)
        XCTAssertEqual(steps["sample"], [0, 1])
        XCTAssertEqual(steps["dense"], [0, 1, 2, 3], "the dense baseline runs its own 4 steps")
        XCTAssertNotNil(m["latency"]?["speedup"]?.doubleValue)
        XCTAssertNotNil(m["quality"]?["psnr_vs_dense_db"]?.doubleValue)
        XCTAssertEqual(m["flops"]?["flops_ratio"]?.doubleValue ?? .nan, 1, accuracy: 1e-12, "every forward is a full one")
        XCTAssertEqual(m["flops"]?["image_flops_ratio"]?.doubleValue ?? .nan, 0.5, accuracy: 1e-12, "2 of 4 steps")
        let perStep = try XCTUnwrap(m["latency"]?["per_step"])
        XCTAssertEqual(perStep["timesteps"]?.arrayValue?.count, 2)
        XCTAssertEqual(perStep["dense_timesteps"]?.arrayValue?.count, 4)
        XCTAssertEqual(perStep["dense_seconds_per_image"]?.arrayValue?.count, 4)
        XCTAssertNil(perStep["speedup"], "steps of two schedules do not pair up")

        // The run's own sampler as the dense one changes nothing: not in the resolved spec (a
        // finished run stays finished), no dense baseline where there was none.
        let same = try SpecFile(text: text(#"{"samples": 2, "batch": 2, "# + metrics + #", "dense_sampler": {"type": "ddim", "steps": 2}}"#)).expand()[0]
        XCTAssertEqual(same.spec.resolved, try SpecFile(text: text(#"{"samples": 2, "batch": 2, "# + metrics + "}")).expand()[0].spec.resolved)
        XCTAssertNil(same.spec.eval.denseSampler)

        // Errors name the option: a dense sampler without the baseline, a bad one.
        for (eval, part) in [(#""dense_baseline": false, "dense_sampler": {"type": "ddim", "steps": 4}"#, "$.eval.dense_sampler: samples the dense baseline"),
                             (#""dense_sampler": {"type": "ddim", "steps": 0}"#, "$.eval.dense_sampler.steps"),
                             (#""dense_sampler": {"type": "nope", "steps": 4}"#, "$.eval.dense_sampler.type")] {
            XCTAssertThrowsError(try SpecFile(text: text(#"{"samples": 2, "batch": 2, "# + eval + "}")).expand()) {
                XCTAssertTrue("\($0)".contains(part), "'\(part)' missing: \($0)")
            }
        }
    }

    func testRunLocksAreExclusivePerRunAndOutliveNoProcess() throws {
        let store = try RunStore(directory: "\(dir)/locked"), other = try RunStore(directory: "\(dir)/locked")
        // Text left in a lock file by the old scheme (a live pid) means nothing now.
        try "1\n".write(toFile: store.lockPath("r"), atomically: true, encoding: .utf8)
        XCTAssertNoThrow(try store.lock("r"))
        XCTAssertThrowsError(try other.lock("r")) { error in
            for part in [store.lockPath("r"), "is using the run \(store.runDirectory("r"))", "wait for it to finish or use another --out"] {
                XCTAssertTrue("\(error)".contains(part), "'\(part)' missing: \(error)")
            }
        }
        XCTAssertNoThrow(try other.lock("other"), "other runs of the folder stay free")
        store.unlock("r")
        XCTAssertNoThrow(try other.lock("r"))
        // The lock file stays: deleting it could let two processes lock two different files.
        XCTAssertTrue(FileManager.default.fileExists(atPath: store.lockPath("r")))
    }

    func testUnwritableOutputIsAClearError() throws {
        try "x".write(toFile: "\(dir)/file", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RunStore(directory: "\(dir)/file/sub")) { XCTAssertTrue("\($0)".contains("cannot create the output folder"), "\($0)") }
    }
}
