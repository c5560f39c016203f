import DyDiTDiffusion
import DyDiTIO
import DyDiTModels
import DyDiTPlayground
import DyDiTTraining
import XCTest

final class SpecTests: XCTestCase {
    func issues(_ text: String, file: String = "spec.json") -> [SpecIssue] {
        do {
            _ = try SpecFile(text: text, path: file).expand(checkFiles: false)
            return []
        } catch let e as SpecErrors {
            return e.issues
        } catch {
            XCTFail("unexpected \(error)")
            return []
        }
    }

    /// Every problem of a file at once, each with its line, column, JSON path, value and what is allowed.
    func testAllProblemsAtOnceWithPositions() {
        let text = """
        {
          "name": "t",
          "sampeler": {"type": "ddim"},
          "sampler": {"type": "ddim", "steps": 0},
          "backbone": {"type": "dydit", "model": "DiT-S/4", "num_classes": 10},
          "routers": {"width": {"type": "tdx"}},
          "eval": {"classes": [1, 12]},
          "guidance": {"scale": "high"}
        }
        """
        let found = issues(text)
        let byPath = Dictionary(found.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(found.count, 5, found.map(\.description).joined(separator: "\n"))
        XCTAssertTrue(byPath["$.sampeler"]!.message.contains("did you mean 'sampler'"))
        XCTAssertEqual(byPath["$.sampeler"]!.position, .init(line: 3, column: 15))
        XCTAssertTrue(byPath["$.sampler.steps"]!.message.contains("0 is out of range"))
        XCTAssertEqual(byPath["$.sampler.steps"]!.position?.line, 4)
        XCTAssertTrue(byPath["$.routers.width.type"]!.message.contains("unknown type 'tdx'") && byPath["$.routers.width.type"]!.message.contains("did you mean 'tdw'"))
        XCTAssertTrue(byPath["$.eval.classes[1]"]!.message.contains("class 12 is outside 0…9"))
        XCTAssertEqual(byPath["$.eval.classes[1]"]!.position, .init(line: 7, column: 27))
        XCTAssertTrue(byPath["$.guidance.scale"]!.description.hasPrefix("spec.json:8:"))
        // The parts a tool needs are fields, not text to parse.
        let width = byPath["$.routers.width.type"]!
        XCTAssertEqual(width.got, #""tdx""#)
        XCTAssertEqual(width.suggestion, "tdw")
        XCTAssertEqual(width.expected, "one of none, tdw, random, static")
        XCTAssertEqual(byPath["$.sampeler"]!.suggestion, "sampler")
        XCTAssertEqual(byPath["$.sampler.steps"]!.got, "0")
        XCTAssertEqual(byPath["$.guidance.scale"]!.expected, "a number")
        XCTAssertEqual(byPath["$.guidance.scale"]!.got, #""high""#)
        XCTAssertEqual(byPath["$.eval.classes[1]"]!.json["line"], .int(7))
    }

    /// The JSON Schema beside the specs names exactly the keys the decoder accepts.
    func testSchemaMatchesTheDecoder() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Experiments/schema/spec.schema.json").path
        let schema = try SpecFile.load(path).raw
        XCTAssertEqual(Set(schema["properties"]?.objectValue?.keys ?? []), Set(ExperimentSpec.topLevelKeys))
        let samplers = schema["properties"]?["sampler"]?["properties"]?["type"]?["enum"]?.arrayValue?.compactMap(\.stringValue)
        XCTAssertEqual(samplers, SamplerRegistry.names)
        XCTAssertEqual(Set(schema["properties"]?["train"]?["properties"]?.objectValue?.keys ?? []), Set(TrainSpec.keys))
        let layers = schema["properties"]?["precision"]?["oneOf"]?.arrayValue?.last?["properties"]?["fp32_layers"]?["items"]?["enum"]?
            .arrayValue?.compactMap(\.stringValue)
        XCTAssertEqual(layers, PrecisionPlan.layerNames)
    }

    func testSyntaxAndEncodingErrors() throws {
        let syntax = issues("{\n  \"name\": \"x\",\n  \"seed\": ]\n}")
        XCTAssertEqual(syntax.first?.position?.line, 3)
        let dir = NSTemporaryDirectory() + "dydit-spec-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x7D]).write(to: URL(fileURLWithPath: "\(dir)/bin.json"))
        XCTAssertThrowsError(try SpecFile.load("\(dir)/bin.json")) { XCTAssertTrue("\($0)".contains("not UTF-8"), "\($0)") }
        try Data([0x00, 0x01, 0x02]).write(to: URL(fileURLWithPath: "\(dir)/nul.json"))
        XCTAssertThrowsError(try SpecFile.load("\(dir)/nul.json"))
    }

    /// `num_inference_steps` (diffusers' name) is `steps`: the same resolved spec, and not both.
    func testNumInferenceStepsIsSteps() throws {
        let diffusers = try XCTUnwrap(try SpecFile(text: #"{"name": "s", "sampler": {"type": "ddim", "num_inference_steps": 12}}"#).expand(checkFiles: false).first)
        let ours = try XCTUnwrap(try SpecFile(text: #"{"name": "s", "sampler": {"type": "ddim", "steps": 12}}"#).expand(checkFiles: false).first)
        XCTAssertEqual(diffusers.spec.sampler.steps, 12)
        XCTAssertEqual(diffusers.spec.resolved, ours.spec.resolved)
        let both = issues(#"{"name": "s", "sampler": {"steps": 10, "num_inference_steps": 12}}"#)
        XCTAssertTrue(both.contains { $0.path == "$.sampler.num_inference_steps" && $0.message.contains("give one of them") }, "\(both)")
    }

    /// `$schema` (for editors) is accepted and kept out of the resolved spec, so it does not change run keys.
    func testSchemaKeyIsAcceptedAndIgnored() throws {
        let with = try XCTUnwrap(try SpecFile(text: #"{"$schema": "schema/spec.schema.json", "name": "s"}"#).expand(checkFiles: false).first)
        let without = try XCTUnwrap(try SpecFile(text: #"{"name": "s"}"#).expand(checkFiles: false).first)
        XCTAssertEqual(with.spec.resolved, without.spec.resolved)
        XCTAssertNil(with.spec.resolved["$schema"])
    }

    /// Specs may carry `//` and `/* */` comments; positions in errors stay the file's.
    func testCommentsInSpecs() throws {
        let commented = """
        {
          // an experiment
          "name": "s", /* the seed: */ "seed": 3,
          "sampler": {"type": "ddim", "steps": 12}   // diffusers' name works too
        }
        """
        let a = try XCTUnwrap(try SpecFile(text: commented).expand(checkFiles: false).first)
        let b = try XCTUnwrap(try SpecFile(text: #"{"name": "s", "seed": 3, "sampler": {"type": "ddim", "steps": 12}}"#).expand(checkFiles: false).first)
        XCTAssertEqual(a.spec.resolved, b.spec.resolved)
        let bad = issues("{\n  /* é */ \"name\": \"s\", \"seed\": -1\n}")
        XCTAssertEqual(bad.first?.path, "$.seed")
        XCTAssertEqual(bad.first.flatMap { $0.position.map { [$0.line, $0.column] } }, [2, 32], "\(bad)")
        let open = issues("{\"name\": \"s\"\n /* never closed")
        XCTAssertTrue(open.first?.message.contains("never closed") == true, "\(open)")
        XCTAssertEqual(open.first.flatMap { $0.position.map { [$0.line, $0.column] } }, [2, 2])
    }

    /// The spec tour in Experiments/README.md (a commented spec) is a valid spec as written.
    func testTheREADMETourIsAValidSpec() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Experiments/README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let start = try XCTUnwrap(text.range(of: "```jsonc\n")), end = try XCTUnwrap(text.range(of: "\n```", range: start.upperBound..<text.endIndex))
        // Blank lines for the text before the block, so problems name the README's own lines.
        let before = String(repeating: "\n", count: text[..<start.upperBound].filter { $0 == "\n" }.count)
        let runs = try SpecFile(text: before + String(text[start.upperBound..<end.lowerBound]), path: readme.path).expand(checkFiles: false)
        XCTAssertGreaterThan(runs.count, 1, "the tour has a sweep")
    }

    /// `output.grid_scale` is saved only when given (earlier runs keep their keys) and bounded.
    func testGridScale() throws {
        let plain = try XCTUnwrap(try SpecFile(text: #"{"name": "s"}"#).expand(checkFiles: false).first?.spec)
        XCTAssertEqual(plain.gridScale, 1)
        XCTAssertNil(plain.resolved["output"]?["grid_scale"])
        let big = try XCTUnwrap(try SpecFile(text: #"{"name": "s", "output": {"grid_scale": 4}}"#).expand(checkFiles: false).first?.spec)
        XCTAssertEqual(big.gridScale, 4)
        XCTAssertEqual(big.resolved["output"]?["grid_scale"], .int(4))
        let bad = issues(#"{"name": "s", "output": {"grid_scale": 0}}"#)
        XCTAssertTrue(bad.contains { $0.path == "$.output.grid_scale" }, "\(bad)")
    }

    /// `guidance.interval`: resolved only when given (earlier runs keep their identity); a
    /// malformed, reversed or negative interval, or one without guidance, names its path.
    func testGuidanceInterval() throws {
        let plain = try XCTUnwrap(try SpecFile(text: #"{"name": "s"}"#).expand(checkFiles: false).first?.spec)
        XCTAssertNil(plain.guidanceInterval)
        XCTAssertNil(plain.resolved["guidance"]?["interval"])
        let limited = try XCTUnwrap(try SpecFile(text: #"{"name": "s", "guidance": {"scale": 2, "interval": [100, 700]}}"#)
            .expand(checkFiles: false).first?.spec)
        XCTAssertEqual(limited.guidanceInterval, 100...700)
        XCTAssertEqual(limited.resolved["guidance"]?["interval"], .array([.double(100), .double(700)]))
        XCTAssertEqual(limited.guidance?.interval, 100...700)
        for (interval, says) in [("[700, 100]", "low is above high"), ("[-1, 100]", "low is below 0"), ("[100]", "not an interval"),
                                 ("\"100-700\"", "not an interval")] {
            let bad = issues(#"{"name": "s", "guidance": {"scale": 2, "interval": "# + interval + "}}")
            XCTAssertTrue(bad.contains { $0.path == "$.guidance.interval" && $0.description.contains(says) }, "\(interval): \(bad)")
        }
        let unguided = issues(#"{"name": "s", "guidance": {"scale": 1, "interval": [0, 500]}}"#)
        XCTAssertTrue(unguided.contains { $0.path == "$.guidance.interval" && $0.description.contains("scale is 1") }, "\(unguided)")
    }

    /// The backbone section's defaults are the ones its plug-ins declare (and `dydit list` shows).
    func testBackboneDefaultsComeFromTheDeclarations() throws {
        let spec = try XCTUnwrap(try SpecFile(text: #"{"name": "d", "backbone": {"type": "dydit"}}"#).expand(checkFiles: false).first?.spec)
        for o in DyDiTBackbone.options where o.defaultValue != .null {
            XCTAssertEqual(spec.resolved["backbone"]?["config"]?[o.name] ?? spec.resolved["backbone"]?[o.name], o.defaultValue, o.name)
        }
        XCTAssertEqual(spec.width.type, DyDiTBackbone.defaultWidthRouter)
        XCTAssertEqual(spec.token.type, DyDiTBackbone.defaultTokenRouter)
    }

    func testDefaultsAreFilledAndSaved() throws {
        let runs = try SpecFile(text: #"{"name": "d", "backbone": {"type": "dydit", "model": "DiT-S/8", "num_classes": 3}}"#).expand(checkFiles: false)
        let r = runs[0].spec.resolved
        XCTAssertEqual(r["routers"]?["width"]?["type"], .string("tdw"), "a dydit backbone defaults to learned routers")
        XCTAssertEqual(r["sampler"]?["type"], .string("dpm-solver++"))
        XCTAssertEqual(r["sampler"]?["steps"], .int(20))
        XCTAssertEqual(r["eval"]?["classes"], .array([.int(0), .int(1), .int(2)]))
        XCTAssertEqual(r["output"]?["dir"], .string("runs/d"))
        XCTAssertEqual(r["backbone"]?["config"]?["hidden_size"], .int(384))
        XCTAssertEqual(runs[0].id, "d")
    }

    func testSweepsExpandToStableReadableRuns() throws {
        let text = """
        {"name": "s", "backbone": {"type": "dydit", "model": "DiT-S/8", "num_classes": 3},
         "sweep": {"grid": {"routers.width.type": ["none", "tdw"], "sampler.steps": [5, 10]},
                   "zip": {"routers.token.type": ["random", "random"], "routers.token.keep": [1, 0.5]}}}
        """
        let runs = try SpecFile(text: text).expand(checkFiles: false)
        XCTAssertEqual(runs.count, 8)
        // Two swept paths end in "type", so those keys keep their whole path.
        XCTAssertEqual(runs[0].id, "0-routers.width.type=none-steps=5-routers.token.type=random-keep=1")
        XCTAssertEqual(runs[7].id, "7-routers.width.type=tdw-steps=10-routers.token.type=random-keep=0.5")
        XCTAssertEqual(runs[7].spec.sampler.steps, 10)
        XCTAssertEqual(runs[7].spec.token.options.double("keep"), 0.5)
        XCTAssertEqual(Set(runs.map(\.id)).count, 8)
        // A swept file path names its run by the file: the checkpoint's λ stays in the id.
        let paths = """
        {"name": "c", "backbone": {"type": "dydit"},
         "sweep": {"zip": {"backbone.checkpoint": ["../../checkpoints/m-lambda0.9.safetensors", "../../checkpoints/m-lambda0.7.safetensors"]}}}
        """
        XCTAssertEqual(try SpecFile(text: paths).expand(checkFiles: false).map(\.id), ["0-checkpoint=m-lambda0.9", "1-checkpoint=m-lambda0.7"])
        // sweep.names: one per run, in order (rows of several objects make long ids otherwise).
        let named = """
        {"name": "z", "sweep": {"zip": {"cache": [{"type": "fora", "interval": 2}, {"type": "delta-dit", "blocks": 2}]},
                                "names": ["fora 2", "delta-dit"]}}
        """
        let namedRuns = try SpecFile(text: named).expand(checkFiles: false)
        XCTAssertEqual(namedRuns.map(\.id), ["0-fora_2", "1-delta-dit"])
        XCTAssertEqual(namedRuns[1].spec.cache.type, "delta-dit")
    }

    func testOptionsMustFitTheirPlugin() {
        let found = issues(#"{"name": "x", "backbone": {"type": "dydit"}, "routers": {"token": {"type": "none", "keep": 0.5}, "width": {"type": "random", "keep": 2}}}"#)
        XCTAssertTrue(found.contains { $0.path == "$.routers.token.keep" && $0.message.contains("unknown option 'keep' for none") }, "\(found)")
        XCTAssertTrue(found.contains { $0.path == "$.routers.width.keep" && $0.message.contains("outside (0, 1]") }, "\(found)")
    }

    /// The sampler, not the spec, bounds the steps: diffusers' convention with 2000 training
    /// timesteps takes 1500 steps (the spec capped steps at 1000 before), DiT's 1000-step
    /// diffusion does not; the sampler's error reads without a stray "sampler:" prefix.
    func testSamplerBoundsItsOwnSteps() {
        let diffusers = issues(#"{"name": "x", "sampler": {"type": "ddim", "steps": 1500, "convention": "diffusers", "num_train_timesteps": 2000}}"#)
        XCTAssertEqual(diffusers, [])
        let dit = issues(#"{"name": "x", "sampler": {"type": "ddim", "steps": 1500}}"#)
        XCTAssertEqual(dit.count, 1, "\(dit)")
        XCTAssertEqual(dit.first?.path, "$.sampler")
        XCTAssertTrue(dit.first?.message.hasPrefix("steps must be at most the 1000 training timesteps") == true, "\(dit)")
        let option = issues(#"{"name": "x", "sampler": {"type": "dpm-solver++", "solver_order": 4}}"#)
        XCTAssertTrue(option.first?.message.hasPrefix("option 'solver_order' is 4; allowed: 1, 2 or 3 (DPMSolverMultistepScheduler)") == true, "\(option)")
        let eta = issues(#"{"name": "x", "sampler": {"type": "ddim", "eta": -1}}"#)
        XCTAssertTrue(eta.first?.message.contains("eta -1 is negative") == true, "\(eta)")
    }

    func testSweepProblems() {
        let mismatch = issues(#"{"name": "s", "sweep": {"zip": {"seed": [1, 2], "sampler.steps": [5]}}}"#)
        XCTAssertTrue(mismatch.contains { $0.message.contains("zip lists must be as long as each other") }, "\(mismatch)")
        // A bad swept value is reported at its place in the sweep.
        let text = "{\"name\": \"s\",\n \"sweep\": {\"grid\": {\"sampler.steps\": [5,\n 0]}}}"
        let bad = issues(text)
        XCTAssertEqual(bad.count, 1, "\(bad)")
        XCTAssertEqual(bad.first?.position, .init(line: 3, column: 2))
        XCTAssertTrue(bad.first?.message.contains("run 1-steps=0") ?? false, "\(bad)")
        let empty = issues(#"{"name": "s", "sweep": {"grid": {"seed": []}}}"#)
        XCTAssertTrue(empty.contains { $0.message.contains("non-empty list") })
        let names = issues(#"{"name": "s", "sweep": {"grid": {"seed": [1, 2, 3]}, "names": ["a", "b"]}}"#)
        XCTAssertTrue(names.contains { $0.path == "$.sweep.names" && $0.message.contains("2 names but the sweep expands to 3 runs") }, "\(names)")
        let notStrings = issues(#"{"name": "s", "sweep": {"grid": {"seed": [1, 2]}, "names": ["a", 2]}}"#)
        XCTAssertTrue(notStrings.contains { $0.path == "$.sweep.names" && $0.message.contains("list of strings") }, "\(notStrings)")
    }

    /// `merge`: ToMe on the dense model, checked against the model's token grid; with routers
    /// refused; absent, the resolved spec (and so earlier runs' identity) is unchanged.
    func testTokenMerging() throws {
        let run = try XCTUnwrap(try SpecFile(text: #"{"name": "m", "backbone": {"model": "DiT-S/4"}, "merge": {"type": "tome", "ratio": 0.25}}"#)
            .expand(checkFiles: false).first?.spec)
        XCTAssertEqual(run.merge.type, "tome")
        XCTAssertEqual(run.merge.options.double("ratio"), 0.25)
        XCTAssertEqual(run.resolved["merge"]?["mlp"], .bool(false))
        let plain = try XCTUnwrap(try SpecFile(text: #"{"name": "m"}"#).expand(checkFiles: false).first?.spec)
        XCTAssertNil(plain.resolved["merge"])
        let ratio = issues(#"{"name": "m", "merge": {"type": "tome", "ratio": 1}}"#)
        XCTAssertTrue(ratio.contains { $0.path == "$.merge.ratio" && $0.message.contains("outside [0, 1)") }, "\(ratio)")
        let window = issues(#"{"name": "m", "backbone": {"model": "DiT-S/8"}, "merge": {"type": "tome", "sx": 8}}"#)
        XCTAssertTrue(window.contains { $0.path == "$.merge" && $0.message.contains("token grid") }, "\(window)")
        let routed = issues(#"{"name": "m", "backbone": {"type": "dydit"}, "routers": {"width": "tdw"}, "merge": "tome"}"#)
        XCTAssertTrue(routed.contains { $0.path == "$.merge" && $0.message.contains("dense model") }, "\(routed)")
    }

    /// `train.early_exit`: a dense DiT's depth schedule, checked; refused for DyDiT fine-tuning.
    func testEarlyExitTraining() throws {
        let text = #"{"name": "e", "backbone": {"model": "DiT-S/4"}, "train": {"early_exit": {"boundaries": [400], "depths": [12, 4]}}}"#
        let run = try XCTUnwrap(try SpecFile(text: text).expand(checkFiles: false).first?.spec)
        XCTAssertEqual(run.train?.settings.earlyExit, EarlyExitSchedule(boundaries: [400], depths: [12, 4]))
        XCTAssertEqual(run.resolved["train"]?["early_exit"]?["depths"], .array([.int(12), .int(4)]))
        let bad = issues(#"{"name": "e", "train": {"early_exit": {"boundaries": [400, 300], "depths": [2, 1, 1]}}}"#)
        XCTAssertTrue(bad.contains { $0.path == "$.train.early_exit" && $0.message.contains("ascending") }, "\(bad)")
        let dydit = issues(#"{"name": "e", "backbone": {"type": "dydit"}, "routers": {"width": "tdw"}, "train": {"early_exit": {"boundaries": [400], "depths": [2, 1]}}}"#)
        XCTAssertTrue(dydit.contains { $0.path == "$.train.early_exit" && $0.message.contains("dense DiT") }, "\(dydit)")
    }

    func testRoutersNeedADyDiT() {
        let found = issues(#"{"name": "x", "routers": {"width": "tdw"}}"#)
        XCTAssertTrue(found.contains { $0.message.contains("routers need backbone.type 'dydit'") })
    }

    func testPrecision() throws {
        let plain = try XCTUnwrap(try SpecFile(text: #"{"name": "x", "precision": "fp16"}"#).expand(checkFiles: false).first?.spec)
        XCTAssertEqual(plain.precisionPlan, PrecisionPlan(.fp16))
        let mixed = try XCTUnwrap(try SpecFile(text: #"{"name": "x", "precision": {"type": "fp16", "fp32_layers": ["adaLN_modulation", "final_layer"]}}"#)
            .expand(checkFiles: false).first?.spec)
        XCTAssertEqual(mixed.precisionPlan, PrecisionPlan(.fp16, fp32Layers: ["adaLN_modulation", "final_layer"]))
        XCTAssertEqual(mixed.precisionPlan.precision("blocks.2.adaLN_modulation.1"), .fp32)
        XCTAssertEqual(mixed.precisionPlan.precision("blocks.2.mlp.fc1"), .fp16)
        let bad = issues(#"{"name": "x", "precision": {"type": "fp8", "fp32_layers": ["adaln"]}}"#)
        XCTAssertTrue(bad.contains { $0.path == "$.precision.type" && $0.message.contains("fp16") }, "\(bad)")
        XCTAssertTrue(bad.contains { $0.path.hasPrefix("$.precision.fp32_layers") && $0.message.contains("adaLN_modulation") }, "\(bad)")
        // Options are the plug-in's: fp32 declares none (fp32_layers was accepted and ignored before).
        let fp32 = issues(#"{"name": "x", "precision": {"type": "fp32", "fp32_layers": ["final_layer"]}}"#)
        XCTAssertTrue(fp32.contains { $0.path == "$.precision.fp32_layers" && $0.message.contains("unknown option 'fp32_layers' for fp32") }, "\(fp32)")
    }

    /// A quantized checkpoint runs only in its plan, and cannot be trained: `validate` says so.
    func testQuantizedCheckpointNeedsItsPrecision() throws {
        let dir = NSTemporaryDirectory() + "dydit-spec-q-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 1, hiddenSize: 32, depth: 1, numHeads: 2, numClasses: 3)
        let plan = PrecisionPlan(.int8, fp32Layers: ["final_layer"])
        try SafeTensorsWriter.write(QuantizedFormat.tensors(DiTParameters.initialized(c, seed: 0, .random), plan: plan),
                                    metadata: QuantizedFormat.metadata(plan).merging(["config": c.json.serialized()]) { $1 },
                                    to: "\(dir)/w8.safetensors")
        func problems(_ extra: String) -> [SpecIssue] {
            let text = #"{"name": "q", "backbone": {"type": "dit", "checkpoint": "w8.safetensors"}"# + extra + "}"
            do { _ = try SpecFile(text: text, path: "\(dir)/spec.json").expand(checkFiles: true) } catch let e as SpecErrors { return e.issues } catch {
                XCTFail("\(error)")
            }
            return []
        }
        let wrong = problems("")
        XCTAssertTrue(wrong.contains { $0.path == "$.precision" && $0.message.contains(#"{"type":"int8","fp32_layers":["final_layer"]}"#) }, "\(wrong)")
        XCTAssertEqual(problems(#", "precision": {"type": "int8", "fp32_layers": ["final_layer"]}"#), [])
        let training = problems(#", "precision": {"type": "int8", "fp32_layers": ["final_layer"]}, "train": {"steps": 1}"#)
        XCTAssertTrue(training.contains { $0.path == "$.backbone.checkpoint" && $0.message.contains("training needs the float weights") }, "\(training)")
    }

    func testDenseCheckpointNeedsABaselineAndAFile() throws {
        let noRouters = issues(#"{"name": "x", "eval": {"dense_checkpoint": "base.safetensors"}}"#)
        XCTAssertTrue(noRouters.contains { $0.path == "$.eval.dense_checkpoint" && $0.message.contains("needs a dense baseline") }, "\(noRouters)")
        let text = #"{"name": "x", "backbone": {"type": "dydit"}, "routers": {"width": "random"}, "eval": {"dense_checkpoint": "/nonexistent/base.safetensors"}}"#
        XCTAssertTrue(issues(text).isEmpty, "\(issues(text))")
        XCTAssertThrowsError(try SpecFile(text: text).expand()) { error in
            XCTAssertTrue("\(error)".contains("$.eval.dense_checkpoint: /nonexistent/base.safetensors does not exist"), "\(error)")
        }
    }

    /// A checkpoint that cannot be read is one problem: the stand-in config it leaves must not
    /// also fail the metrics' image-shape check ("this model draws 32×32×4"), which sent a user
    /// after a problem their spec did not have.
    func testMissingCheckpointIsOneProblem() throws {
        let text = #"{"name": "x", "backbone": {"type": "dydit", "checkpoint": "/nonexistent/m.safetensors"}, "eval": {"metrics": ["fd"]}}"#
        XCTAssertThrowsError(try SpecFile(text: text).expand()) { error in
            let problems = (error as? SpecErrors)?.issues ?? []
            XCTAssertTrue(problems.contains { $0.path == "$.backbone.checkpoint" }, "\(error)")
            XCTAssertFalse(problems.contains { $0.path == "$.eval.metrics" }, "\(error)")
        }
    }

    /// `cache`: by name or with options, checked like the other plug-ins, with or without
    /// routers; in the resolved spec only when given (earlier runs keep their identity).
    func testCacheSection() throws {
        let zero = issues(#"{"name": "x", "cache": {"type": "fora", "interval": 0}}"#)
        XCTAssertTrue(zero.contains { $0.path == "$.cache" && $0.message.contains("interval 0") }, "\(zero)")
        let typo = issues(#"{"name": "x", "cache": "froa"}"#)
        XCTAssertTrue(typo.contains { $0.path == "$.cache.type" && $0.message.contains("did you mean 'fora'") }, "\(typo)")
        // Stacked on DyDiT's routers (their fast path).
        XCTAssertEqual(issues(#"{"name": "x", "backbone": {"type": "dydit"}, "routers": {"width": "random"}, "cache": "fora"}"#), [])
        let run = try SpecFile(text: #"{"name": "x", "cache": {"type": "fora", "interval": 3}}"#).expand(checkFiles: false)[0]
        XCTAssertEqual(run.spec.cache.type, "fora")
        XCTAssertEqual(run.spec.cache.options.int("interval"), 3)
        XCTAssertEqual(run.spec.resolved["cache"]?["interval"], .int(3))
        XCTAssertTrue(run.spec.eval.denseBaseline, "a cached run is compared with the dense model by default")
        let plain = try SpecFile(text: #"{"name": "x"}"#).expand(checkFiles: false)[0]
        XCTAssertNil(plain.spec.resolved["cache"])
    }

    func testTrainSection() throws {
        let found = issues(#"{"name": "x", "train": {"stepz": 10, "lr": -1, "lambda": 0.5, "timesteps": "uniformly"}}"#)
        XCTAssertTrue(found.contains { $0.path == "$.train.stepz" && $0.message.contains("did you mean 'steps'") }, "\(found)")
        XCTAssertTrue(found.contains { $0.path == "$.train.lr" }, "\(found)")
        XCTAssertTrue(found.contains { $0.path == "$.train.lambda" && $0.message.contains("DyDiT fine-tuning only") }, "\(found)")
        XCTAssertTrue(found.contains { $0.path == "$.train.timesteps" && $0.message.contains("stratified") }, "\(found)")
        // What a fine-tune learns is what it samples with: tdw and/or sdt (or layer-skip), not random or static routers.
        let routers = issues(#"{"name": "x", "backbone": {"type": "dydit"}, "routers": {"width": "random"}, "train": {}}"#)
        XCTAssertTrue(routers.contains { $0.path == "$.routers" && $0.message.contains("got random/sdt") }, "\(routers)")
        let neither = issues(#"{"name": "x", "backbone": {"type": "dydit"}, "routers": {"width": "none", "token": "none"}, "train": {}}"#)
        XCTAssertTrue(neither.contains { $0.message.contains("at least one of them") }, "\(neither)")
        let staticNoTDW = issues(#"{"name": "x", "backbone": {"type": "dydit"}, "routers": {"width": "none", "token": "sdt"}, "train": {"static_width": true}}"#)
        XCTAssertTrue(staticNoTDW.contains { $0.path == "$.train.static_width" && $0.message.contains("set routers.width to 'tdw'") }, "\(staticNoTDW)")
        func learning(_ routers: String, _ train: String = "{}") throws -> TrainingSettings.FineTuning? {
            try SpecFile(text: #"{"name": "x", "backbone": {"type": "dydit"}, "routers": "# + routers + #", "train": "# + train + "}")
                .expand(checkFiles: false).first?.spec.train?.settings.dydit
        }
        let full = try XCTUnwrap(learning(#"{"width": "tdw", "token": "sdt"}"#))
        XCTAssertEqual(full.width, .dynamic)
        XCTAssertEqual(full.tokens, .dynamic)
        XCTAssertEqual(try learning(#"{"width": "tdw", "token": "none"}"#)?.tokens, .off)
        XCTAssertEqual(try learning(#"{"width": "none", "token": "sdt"}"#)?.width, .off)
        XCTAssertEqual(try learning(#"{"width": "tdw", "token": {"type": "layer-skip", "threshold": 0.25}}"#)?.tokens, .layer(threshold: 0.25))
        XCTAssertEqual(try learning(#"{"width": "tdw", "token": "sdt"}"#, #"{"static_width": true}"#)?.width, .static)

        // Defaults: DiT's recipe for a dit backbone, DyDiT's for a dydit one.
        let dit = try XCTUnwrap(try SpecFile(text: #"{"name": "x", "train": {}}"#).expand(checkFiles: false).first?.spec.train)
        XCTAssertEqual(dit.settings.timesteps, .uniform)
        XCTAssertEqual(dit.settings.adam.learningRate, 1e-4)
        XCTAssertEqual(dit.settings.emaDecay, 0.9999)
        XCTAssertEqual(dit.settings.labelDropout, 0.1)
        XCTAssertNil(dit.settings.dydit)
        let dy = try XCTUnwrap(try SpecFile(text: #"{"name": "x", "backbone": {"type": "dydit"}, "train": {"steps": 1000, "lambda": 0.4}}"#)
            .expand(checkFiles: false).first?.spec.train)
        XCTAssertEqual(dy.settings.timesteps, .stratified)
        XCTAssertEqual(dy.settings.dydit?.lambda, LambdaSchedule(target: 0.4, holdSteps: 100, rampSteps: 200))
        XCTAssertEqual(dy.settings.dydit?.flopsWeight, 2)
        XCTAssertEqual(dy.settings.dydit?.temperature, 5)
    }

    /// A decaying learning rate (diffusers' `lr_scheduler`, timm's `min_lr`): decoded, checked,
    /// and in the resolved spec only when given, so earlier runs keep their keys.
    func testLearningRateDecay() throws {
        func train(_ t: String) throws -> SpecFile.Run? {
            try SpecFile(text: #"{"name": "x", "train": "# + t + "}").expand(checkFiles: false).first
        }
        let run = try XCTUnwrap(train(#"{"steps": 100, "lr": 2e-4, "lr_scheduler": "cosine", "min_lr": 1e-5}"#))
        XCTAssertEqual(run.spec.train?.settings.lrDecay, .cosine)
        XCTAssertEqual(run.spec.train?.settings.lrFloor, 1e-5)
        XCTAssertEqual(run.spec.resolved["train"]?["lr_scheduler"]?.stringValue, "cosine")
        XCTAssertEqual(run.spec.resolved["train"]?["min_lr"]?.doubleValue, 1e-5)
        let plain = try XCTUnwrap(train(#"{"steps": 100}"#))
        XCTAssertEqual(plain.spec.train?.settings.lrDecay, .constant)
        XCTAssertNil(plain.spec.resolved["train"]?["lr_scheduler"])
        XCTAssertNil(plain.spec.resolved["train"]?["min_lr"])
        let found = issues(#"{"name": "x", "train": {"lr_scheduler": "cosin", "min_lr": 1}}"#)
        XCTAssertTrue(found.contains { $0.path == "$.train.lr_scheduler" && $0.message.contains("cosine") }, "\(found)")
        let floorAlone = issues(#"{"name": "x", "train": {"min_lr": 1e-6}}"#)
        XCTAssertTrue(floorAlone.contains { $0.path == "$.train.min_lr" && $0.message.contains("decaying rate only") }, "\(floorAlone)")
        let above = issues(#"{"name": "x", "train": {"lr": 1e-4, "lr_scheduler": "linear", "min_lr": 1e-3}}"#)
        XCTAssertTrue(above.contains { $0.path == "$.train.min_lr" && $0.message.contains("above lr") }, "\(above)")
    }

    /// `train.products`: fp32 by default (and then absent from the resolved spec, so older
    /// runs resolve as before), bf16 on request, anything else an error naming the key.
    func testTrainingProducts() throws {
        func spec(_ train: String) throws -> SpecFile.Run {
            try XCTUnwrap(SpecFile(text: #"{"name": "x", "backbone": {"type": "dit"}, "train": "# + train + "}").expand(checkFiles: false).first)
        }
        let plain = try spec(#"{"steps": 10, "ema_decay": 0.5}"#)
        XCTAssertEqual(plain.spec.train?.settings.products, .fp32)
        XCTAssertNil(plain.spec.resolved["train"]?["products"])
        let bf16 = try spec(#"{"steps": 10, "ema_decay": 0.5, "products": "bf16"}"#)
        XCTAssertEqual(bf16.spec.train?.settings.products, .bf16)
        XCTAssertEqual(bf16.spec.resolved["train"]?["products"]?.stringValue, "bf16")
        XCTAssertThrowsError(try SpecFile(text: #"{"name": "x", "backbone": {"type": "dit"}, "train": {"steps": 10, "products": "fp16"}}"#)
            .expand(checkFiles: false)) {
            XCTAssertTrue("\($0)".contains("train.products") && "\($0)".contains("bf16"), "\($0)")
        }
    }

    /// Spatial routing's knobs: the token router's initial bias and the routers' learning-rate
    /// factors, for DyDiT fine-tuning only; absent, the resolved spec is as before.
    func testRouterInitAndLearningRateScale() throws {
        func spec(_ train: String, type: String = "dydit") throws -> [SpecFile.Run] {
            try SpecFile(text: #"{"name": "x", "backbone": {"type": ""# + type + #""}, "train": "# + train + "}").expand(checkFiles: false)
        }
        let run = try XCTUnwrap(spec(#"{"steps": 10, "ema_decay": 0.5, "router_init": {"token_bias": 2}, "router_lr_scale": {"token": 20}}"#).first)
        let t = try XCTUnwrap(run.spec.train)
        XCTAssertEqual(t.routerInit.tokenBias, 2)
        XCTAssertEqual(t.routerInit.widthBias, 15)
        XCTAssertEqual(t.settings.dydit?.tokenRouterLRScale, 20)
        XCTAssertEqual(t.settings.dydit?.widthRouterLRScale, 1)
        XCTAssertEqual(run.spec.resolved["train"]?["router_init"]?["token_bias"]?.doubleValue, 2)
        let plain = try XCTUnwrap(spec(#"{"steps": 10, "ema_decay": 0.5}"#).first)
        XCTAssertNil(plain.spec.resolved["train"]?["router_init"])
        XCTAssertNil(plain.spec.resolved["train"]?["router_lr_scale"])
        XCTAssertThrowsError(try spec(#"{"steps": 10, "router_lr_scale": {"token": 0}}"#)) { XCTAssertTrue("\($0)".contains("router_lr_scale.token"), "\($0)") }
        XCTAssertThrowsError(try spec(#"{"steps": 10, "router_init": {"tokens": 1}}"#)) { XCTAssertTrue("\($0)".contains("tokens"), "\($0)") }
        XCTAssertThrowsError(try spec(#"{"steps": 10, "router_init": {"token_bias": 1}}"#, type: "dit")) {
            XCTAssertTrue("\($0)".contains("DyDiT fine-tuning only"), "\($0)")
        }
        // The biases reach the routers' initialisation.
        let r = RouterParameters.initialized(DiTConfig(inputSize: 8, patchSize: 2, inChannels: 1, hiddenSize: 16, depth: 2, numHeads: 2, numClasses: 3),
                                             seed: 1, widthBias: -1, tokenBias: 2)
        XCTAssertEqual(r["blocks.1.token_selection.mlp_head.2.bias"], [2])
        XCTAssertEqual(Set(r["blocks.0.attn_rate.router.bias"]), [-1])
        XCTAssertEqual(Set(r["blocks.0.token_selection.mlp_head.0.bias"]), [0])
    }

    func testSlowEMAWarns() throws {
        func warnings(_ train: String, sweep: String = "") throws -> [SpecIssue] {
            let text = #"{"name": "x", "backbone": {"type": "dydit"}, "train": "# + train + sweep + "}"
            return try SpecFile(text: text).expand(checkFiles: false).flatMap(\.warnings)
        }
        // 0.999^1000 = 37% of the starting weights left: the λ sweep's first attempt.
        let slow = try warnings(#"{"steps": 1000, "ema_decay": 0.999}"#)
        XCTAssertEqual(slow.count, 1, "\(slow)")
        XCTAssertEqual(slow.first?.path, "$.train.ema_decay")
        XCTAssertTrue(slow.first?.message.contains("37%") == true && slow.first?.message.contains("0.9954") == true, "\(slow)")
        XCTAssertNotNil(slow.first?.position, "points at the value in the text")
        // The default decay (0.9999) is named as such.
        let byDefault = try warnings(#"{"steps": 1000}"#)
        XCTAssertTrue(byDefault.first?.message.hasPrefix("(default) 0.9999 with 1000 steps leaves 90%") == true, "\(byDefault)")
        // 0.99^1000 and 0.999^30000 leave nothing worth a warning.
        XCTAssertEqual(try warnings(#"{"steps": 1000, "ema_decay": 0.99}"#), [])
        XCTAssertEqual(try warnings(#"{"steps": 30000, "ema_decay": 0.999}"#), [])
        // In a sweep, only the runs it concerns, each named.
        let swept = try warnings(#"{"steps": 1000, "ema_decay": 0.99}"#, sweep: #", "sweep": {"grid": {"train.ema_decay": [0.99, 0.999]}}"#)
        XCTAssertEqual(swept.count, 1, "\(swept)")
        XCTAssertTrue(swept.first?.message.hasPrefix("run 1-ema_decay=0.999: ") == true, "\(swept)")
        // A warning the runs share is the same in each (printed once), without a run name.
        let shared = try warnings(#"{"steps": 1000, "ema_decay": 0.999}"#, sweep: #", "sweep": {"grid": {"train.lr": [1e-4, 2e-4]}}"#)
        XCTAssertEqual(shared.count, 2, "\(shared)")
        XCTAssertEqual(Set(shared.map(\.description)).count, 1, "\(shared)")
        XCTAssertFalse(shared[0].message.hasPrefix("run "), "\(shared)")
    }

    /// A static width whose biases cannot move from their init far enough to switch anything
    /// off within the run is a warning naming the knob (the ablation's first static-width run
    /// kept every head: lr 1e-4 × 3600 steps = 0.36 against the official bias 15).
    func testStaticWidthThatCannotLearnWarns() throws {
        func warnings(_ train: String) throws -> [SpecIssue] {
            let text = #"{"name": "x", "backbone": {"type": "dydit"}, "train": "# + train + "}"
            return try SpecFile(text: text).expand(checkFiles: false).flatMap(\.warnings).filter { $0.path == "$.train.static_width" }
        }
        let stuck = try warnings(#"{"steps": 3600, "lr": 1e-4, "ema_decay": 0.99, "static_width": true}"#)
        XCTAssertEqual(stuck.count, 1, "\(stuck)")
        XCTAssertTrue(stuck.first?.message.contains("0.36 over 3600 steps") == true
                      && stuck.first?.message.contains("router_lr_scale.width to 84") == true, "\(stuck)")
        XCTAssertEqual(try warnings(#"{"steps": 3600, "lr": 1e-4, "ema_decay": 0.99, "static_width": true, "router_lr_scale": {"width": 100}}"#), [])
        XCTAssertEqual(try warnings(#"{"steps": 3600, "lr": 1e-4, "ema_decay": 0.99, "static_width": true, "router_init": {"width_bias": 0.2}}"#), [])
        XCTAssertEqual(try warnings(#"{"steps": 3600, "lr": 1e-4, "ema_decay": 0.99}"#), [])
    }

    func testEveryCommittedExperimentValidates() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Experiments").path
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".json") }
        XCTAssertTrue(files.contains("quickstart.json"))
        for f in files.sorted() {
            let runs = try SpecFile.load("\(dir)/\(f)").expand()
            print("Experiments/\(f): \(runs.count) run(s)")
        }
    }
}
