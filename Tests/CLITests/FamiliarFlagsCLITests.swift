import DyDiTIO
import Foundation
import XCTest

/// The flags a stable-diffusion.cpp or diffusers user reaches for first, and `dydit doctor`.
final class FamiliarFlagsCLITests: XCTestCase {
    var dir = ""
    /// The shipped base model: 10 Fashion-MNIST classes, 64 tokens (a few steps take a second).
    let weights = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Experiments/checkpoints/fashion-mnist-dit.safetensors").path

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dydit-flags-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// `-m`, `-o`, `-s`, `--sampling-method`, `--cfg-scale` and class names do what the long
    /// flags do: the same samples, the classes asked for.
    func testShortFlagsAndClassNames() throws {
        let short = try DyDiTProcess.run(["sample", "-m", weights, "-o", "\(dir)/short.safetensors", "-s", "7", "--sampling-method", "ddim",
                                          "--cfg-scale", "1", "--num-inference-steps", "2", "--classes", "trouser, Ankle boot,t-shirt,bag",
                                          "--threads", "1"])
        XCTAssertEqual(short.status, 0, short.stderr)
        let long = try DyDiTProcess.run(["sample", "--weights", weights, "--out", "\(dir)/long.safetensors", "--seed", "7", "--sampler", "ddim",
                                         "--cfg", "1", "--steps", "2", "--classes", "1,9,0,8", "--threads", "1"])
        XCTAssertEqual(long.status, 0, long.stderr)
        let a = try SafeTensorsFile(path: "\(dir)/short.safetensors"), b = try SafeTensorsFile(path: "\(dir)/long.safetensors")
        XCTAssertEqual(try a.tensor("classes").integers(), [1, 9, 0, 8])
        XCTAssertEqual(try a.tensor("samples").floats(), try b.tensor("samples").floats())
        XCTAssertEqual(a.metadata["seed"], "7")

        // stable-diffusion.cpp's euler_a is euler-ancestral, and says so.
        let sdcpp = try DyDiTProcess.run(["sample", "-m", weights, "-o", "\(dir)/a.safetensors", "--sampling-method", "euler_a",
                                          "--steps", "2", "--cfg", "1", "--threads", "1"])
        XCTAssertEqual(sdcpp.status, 0, sdcpp.stderr)
        XCTAssertTrue(sdcpp.stderr.contains("euler_a is stable-diffusion.cpp's name for euler-ancestral"), sdcpp.stderr)
        let ours = try DyDiTProcess.run(["sample", "-m", weights, "-o", "\(dir)/b.safetensors", "--sampler", "euler-ancestral",
                                         "--steps", "2", "--cfg", "1", "--threads", "1"])
        XCTAssertEqual(ours.status, 0, ours.stderr)
        XCTAssertEqual(try SafeTensorsFile(path: "\(dir)/a.safetensors").tensor("samples").floats(),
                       try SafeTensorsFile(path: "\(dir)/b.safetensors").tensor("samples").floats())

        let unknown = try DyDiTProcess.run(["sample", "-m", weights, "-o", "\(dir)/x.safetensors", "--classes", "shoe", "--steps", "1"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("'shoe'") && unknown.stderr.contains("ankleboot"), unknown.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/x.safetensors"))
    }

    /// The PNG grid: one column per class asked for, named under it, upscaled by `--scale`.
    func testGridScaleAndClassColumns() throws {
        let r = try DyDiTProcess.run(["sample", "-m", weights, "-o", "\(dir)/g.png", "--steps", "1", "--cfg", "1", "--threads", "1",
                                      "--classes", "bag,trouser,bag", "--scale", "3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let side = try SafeTensorsFile(path: "\(dir)/g.safetensors").tensor("samples").shape[3]
        let png = try PNGFile.read("\(dir)/g.png")
        XCTAssertEqual(png.width, 3 * (2 * (side + 2) + 2), "two class columns (bag, trouser), scale 3")
        XCTAssertGreaterThan(png.height, 3 * (2 * (side + 2) + 2), "two rows (bag twice) and the names under them")
        for bad in [["--scale", "0"], ["--scale", "17"], ["--columns", "0"]] {
            let e = try DyDiTProcess.run(["sample", "-m", weights, "-o", "\(dir)/x.png", "--steps", "1"] + bad)
            XCTAssertEqual(e.status, 1, bad.joined(separator: " "))
            XCTAssertTrue(e.stderr.contains(bad[0]), e.stderr)
        }
    }

    /// `--seed -1` draws a seed, prints it and records it: sampling again with it gives the same images.
    func testRandomSeedIsPrintedAndRecorded() throws {
        let r = try DyDiTProcess.run(["sample", "-m", weights, "-o", "\(dir)/r.safetensors", "--seed", "-1", "--steps", "2", "--cfg", "1",
                                      "--classes", "3", "--threads", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let recorded = try XCTUnwrap(try SafeTensorsFile(path: "\(dir)/r.safetensors").metadata["seed"])
        XCTAssertTrue(r.stderr.contains("seed: \(recorded) (random"), r.stderr)
        let again = try DyDiTProcess.run(["sample", "-m", weights, "-o", "\(dir)/again.safetensors", "--seed", recorded, "--steps", "2",
                                          "--cfg", "1", "--classes", "3", "--threads", "1"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try SafeTensorsFile(path: "\(dir)/r.safetensors").tensor("samples").floats(),
                       try SafeTensorsFile(path: "\(dir)/again.safetensors").tensor("samples").floats())
        let bad = try DyDiTProcess.run(["sample", "-m", weights, "-o", "\(dir)/b.safetensors", "--seed", "-2"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("-1 for a random one"), bad.stderr)
    }

    /// A scheduler config and --sampler: the config wins, and the command says which flags it ignored.
    func testSchedulerConfigWinsAndSaysSo() throws {
        let config = "\(dir)/scheduler_config.json"
        try #"{"_class_name": "DDIMScheduler", "num_train_timesteps": 1000, "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let r = try DyDiTProcess.run(["sample", "-m", weights, "-o", "\(dir)/s.safetensors", "--scheduler-config", config, "--sampler", "ddpm",
                                      "--steps", "2", "--cfg", "1", "--classes", "0", "--threads", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("ignoring --sampler ddpm"), r.stderr)
        XCTAssertEqual(try SafeTensorsFile(path: "\(dir)/s.safetensors").metadata["sampler"]?.lowercased().contains("ddim"), true)
    }

    /// A scheduler_config.json saved by diffusers for another scheduler carries keys this one
    /// does not take: ignored, as diffusers ignores them, and named.
    func testSchedulerConfigIgnoresKeysDiffusersIgnores() throws {
        let config = "\(dir)/scheduler_config.json"
        try #"{"_class_name": "DPMSolverMultistepScheduler", "_diffusers_version": "0.42.1", "num_train_timesteps": 1000, "beta_schedule": "linear", "skip_prk_steps": true, "clip_sample": false, "set_alpha_to_one": false, "solver_order": 2}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let r = try DyDiTProcess.run(["sample", "-m", weights, "-o", "\(dir)/d.safetensors", "--scheduler-config", config,
                                      "--steps", "2", "--cfg", "1", "--classes", "0", "--threads", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("does not take skip_prk_steps, clip_sample, set_alpha_to_one"), r.stderr)
        // A typo in an option we are given directly is still an error.
        let typo = try DyDiTProcess.run(["sample", "-m", weights, "-o", "\(dir)/t.safetensors", "--option", "solver_ordr=2", "--steps", "2"])
        XCTAssertNotEqual(typo.status, 0)
        XCTAssertTrue(typo.stderr.contains("solver_order"), typo.stderr)
    }

    /// `dydit --version` names the version and the commit (the tests run in a checkout).
    func testVersionNamesTheCommit() throws {
        let r = try DyDiTProcess.run(["--version"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("dydit 0.") && r.stdout.contains("(commit "), r.stdout)
        // CITATION.cff cites the version the binary reports.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let citation = try String(contentsOf: root.appendingPathComponent("CITATION.cff"), encoding: .utf8)
        let version = r.stdout.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
        XCTAssertTrue(citation.contains("\nversion: \"\(version)\"\n"), "CITATION.cff does not cite version \(version)")
    }

    /// `dydit doctor --json`: every field a bug report needs, consistent with itself.
    func testDoctorReportsTheMachine() throws {
        let r = try DyDiTProcess.run(["doctor", "--json", "--no-peak"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let v = try JSONParser.parse(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        for key in ["dydit_version", "git_commit", "cpu", "cpu_features", "isa_builds", "isa_supported", "isa_chosen", "cpu_budget",
                    "threads", "memory_bytes", "libraries", "fashion_mnist", "classifier", "int8_path", "bf16_path"] {
            XCTAssertNotNil(v[key], "missing \(key) in \(r.stdout)")
        }
        let supported = v["isa_supported"]?.arrayValue?.compactMap(\.stringValue) ?? []
        XCTAssertTrue(supported.contains(v["isa_chosen"]?.stringValue ?? "?"), r.stdout)
        XCTAssertEqual(v["peak_gflops"], .null)
        for lib in ["json-c", "libpng", "zlib"] {
            XCTAssertFalse(v["libraries"]?[lib]?.stringValue?.isEmpty ?? true, "\(lib): \(r.stdout)")
        }
        let forced = try DyDiTProcess.run(["doctor", "--json", "--no-peak"], env: ["DYDIT_ISA": "portable"])
        XCTAssertEqual(try JSONParser.parse(forced.stdout)["isa_chosen"]?.stringValue, "portable", forced.stderr)
    }
}
