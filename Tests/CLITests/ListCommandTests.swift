import DyDiTIO
import Foundation
import ReferenceSupport
import XCTest

/// `dydit list`: the plug-in catalogue, as text for people and as JSON for notebooks and tools.
final class ListCommandTests: XCTestCase {
    func testJSONListsEveryKindWithOptions() throws {
        let r = try DyDiTProcess.run(["list", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let root = try JSONParser.parse(r.stdout)
        guard case .object(let kinds) = root else { return XCTFail("not a JSON object: \(r.stdout.prefix(200))") }
        XCTAssertEqual(kinds.keys, ["backbones", "width_routers", "token_routers", "samplers", "caches", "token_mergings", "precisions", "metrics",
                                     "datasets"])
        for (kind, value) in kinds.pairs {
            let entries = try XCTUnwrap(value.arrayValue, kind)
            XCTAssertFalse(entries.isEmpty, kind)
            for e in entries {
                XCTAssertFalse(e["name"]?.stringValue?.isEmpty ?? true, "\(kind): \(e.serialized())")
                XCTAssertFalse(e["summary"]?.stringValue?.isEmpty ?? true, "\(kind): \(e.serialized())")
                for o in try XCTUnwrap(e["options"]?.arrayValue, "\(kind): \(e.serialized())") {
                    XCTAssertNotNil(o["name"]?.stringValue, "\(kind) \(e["name"]!.serialized())")
                    XCTAssertNotNil(o["default"], "\(kind) \(e["name"]!.serialized())")
                    XCTAssertNotNil(o["help"]?.stringValue, "\(kind) \(e["name"]!.serialized())")
                }
            }
        }
        func names(_ kind: String) -> [String] { kinds[kind]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [] }
        XCTAssertEqual(names("width_routers"), ["none", "tdw", "random", "static"])
        XCTAssertEqual(names("token_routers"), ["none", "sdt", "random", "static", "layer-skip"])
        XCTAssertEqual(names("caches"), ["none", "fora", "delta-dit", "teacache", "early-exit", "l2c"])
        XCTAssertEqual(names("token_mergings"), ["none", "tome"])
        XCTAssertTrue(Set(["ddpm", "ddim", "dpm-solver", "dpm-solver++"]).isSubset(of: names("samplers")), "\(names("samplers"))")
        let random = kinds["width_routers"]?.arrayValue?.first { $0["name"]?.stringValue == "random" }
        XCTAssertEqual(random?["options"]?.arrayValue?.first { $0["name"]?.stringValue == "keep" }?["default"], .double(0.5))
        // Listed defaults are the ones that run: dpm-solver runs algorithm dpmsolver with a
        // sigma_min final σ (the listing showed diffusers' dpmsolver++ / zero before).
        func option(_ kind: String, _ name: String, _ key: String) -> JSONValue? {
            kinds[kind]?.arrayValue?.first { $0["name"]?.stringValue == name }?["options"]?.arrayValue?
                .first { $0["name"]?.stringValue == key }?["default"]
        }
        XCTAssertEqual(option("samplers", "dpm-solver", "algorithm_type"), .string("dpmsolver"))
        XCTAssertEqual(option("samplers", "dpm-solver", "final_sigmas_type"), .string("sigma_min"))
        XCTAssertEqual(option("samplers", "dpm-solver++", "algorithm_type"), .string("dpmsolver++"))
        XCTAssertEqual(option("datasets", "fashion-mnist", "path"), .string("/usr/share/datasets/fashion-mnist"))
        XCTAssertEqual(option("precisions", "int8", "fp32_layers"), .array([]))
        // Backbones list the backbone section's keys with the defaults the decoder applies.
        XCTAssertEqual(option("backbones", "dit", "model"), .string("DiT-S/2"))
        XCTAssertEqual(option("backbones", "dydit", "input_size"), .int(32))
        XCTAssertEqual(option("backbones", "dydit", "checkpoint"), .null)
        // The text listing names the same plug-ins.
        let text = try DyDiTProcess.run(["list"])
        XCTAssertEqual(text.status, 0, text.stderr)
        for kind in kinds.keys { for name in names(kind) { XCTAssertTrue(text.stdout.contains("  \(name)  — "), "\(kind) \(name)") } }
    }
}

/// `dydit sample --routers` takes its routers from the same registry as `dydit list` and specs.
final class SampleRoutersCLITests: XCTestCase {
    func testSampleAcceptsEveryListedRouter() throws {
        let dir = NSTemporaryDirectory() + "dydit-routers-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try XCTUnwrap(try ReferenceVectors.pairs().map(CLITests.Model.init).first { $0.inChannels == 1 || $0.inChannels == 3 },
                                  "a pixel-space reference model")
        let w = model.pair.weights
        let masks = "\(dir)/masks.safetensors"
        let export = try DyDiTProcess.run(["routers", "export", "--weights", w, "--all", "--out", masks])
        XCTAssertEqual(export.status, 0, export.stderr)
        // Token masks [depth, N] beside the width masks, every other token on, for token:static.
        let exported = try SafeTensorsFile(path: masks)
        let config = try JSONParser.parse(try XCTUnwrap(SafeTensorsFile(path: w).metadata["config"]))
        let depth = Int(try XCTUnwrap(config["depth"]?.intValue)), patch = Int(try XCTUnwrap(config["patch_size"]?.intValue))
        let tokens = (model.inputSize / patch) * (model.inputSize / patch)
        var tensors = try exported.entries.keys.sorted().map { ($0, try exported.tensor($0)) }
        tensors.append(("token_masks", Tensor((0..<(depth * tokens)).map { Float($0 % 2) }, shape: [depth, tokens])))
        try SafeTensorsWriter.write(tensors, to: masks)
        let listed = try JSONParser.parse(try DyDiTProcess.run(["list", "--json"]).stdout)
        var choices: [String] = []
        for (kind, key) in [("width", "width_routers"), ("token", "token_routers")] {
            for e in try XCTUnwrap(listed[key]?.arrayValue) { choices.append("\(kind):\(e["name"]!.stringValue!)") }
        }
        XCTAssertEqual(choices.count, 9, "\(choices)")
        let base = ["sample", "--weights", w, "--sampler", "ddim", "--steps", "2", "--classes", "0", "--no-dense-baseline",
                    "--static-masks", masks, "--threads", "1"]
        for choice in choices {
            let out = "\(dir)/\(choice.replacingOccurrences(of: ":", with: "-")).png"
            let r = try DyDiTProcess.run(base + ["--routers", choice, "--out", out])
            XCTAssertEqual(r.status, 0, "\(choice): \(r.stderr)")
            XCTAssertTrue(FileManager.default.fileExists(atPath: out), choice)
        }
        // Options by name, checked as a spec checks them.
        let ok = try DyDiTProcess.run(base + ["--routers", "layer-skip", "--router-option", "token.threshold=0.4", "--out", "\(dir)/t.png"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        for (args, mentions) in [
            (["--routers", "random", "--router-option", "width.kep=0.3"], ["unknown option 'kep'", "did you mean 'keep'"]),
            (["--routers", "random", "--router-option", "token.keep=2"], ["outside (0, 1]"]),
            (["--routers", "sdt,layer-skip"], ["sdt and layer-skip both decide the MLP tokens"]),
            (["--routers", "tdw", "--router-option", "keep=0.3"], ["width.KEY=VALUE"]),
            (["--routers", "widht:tdw"], ["unknown router 'widht:tdw'", "did you mean 'width:tdw'"]),
        ] {
            let r = try DyDiTProcess.run(base + args + ["--out", "\(dir)/bad.png"])
            XCTAssertNotEqual(r.status, 0, "\(args)")
            for m in mentions { XCTAssertTrue(r.stderr.contains(m), "\(args): stderr lacks '\(m)': \(r.stderr)") }
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/bad.png"), "\(args)")
        }
    }
}
