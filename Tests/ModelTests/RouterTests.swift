import DyDiTIO
import DyDiTKernels
import DyDiTModels
import XCTest

final class RouterTests: XCTestCase {
    let config = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 4, hiddenSize: 64, depth: 2, numHeads: 4, numClasses: 10)

    func temporary(_ name: String) -> String { NSTemporaryDirectory() + "dydit-router-\(UUID().uuidString)-\(name)" }

    /// Masks exported for every timestep and read back as a static router reproduce the
    /// learned TDW router exactly.
    func testExportedMasksAsStaticRouterEqualLearnedOnes() throws {
        let ctx = try ComputeContext(threads: 1)
        let model = DiT(DiTParameters.initialized(config, seed: 1, .random), ctx: ctx)
        let learned = LearnedWidthRouter(RouterParameters.mixed(config, seed: 3), isa: ctx.isa)
        let (attn, mlp) = WidthMaskExport.masks(router: learned, model: model, timesteps: (0..<1000).map(Double.init))
        XCTAssertTrue(attn.contains(0) && attn.contains(1), "the random routers should switch some heads off")
        let path = temporary("masks.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let shape = [1000, config.depth, config.numHeads]
        try SafeTensorsWriter.write([("attn_masks_all_t", Tensor(attn, shape: shape)), ("mlp_masks_all_t", Tensor(mlp, shape: shape))], to: path)
        let fixed = try StaticWidthRouter(file: try SafeTensorsFile(path: path), config: config)
        var rng = RandomGenerator(seed: 4)
        let x = rng.normals(3 * config.imageSize), t: [Float] = [17, 500, 999], y = [1, 2, 10]
        XCTAssertEqual(try model.forward(x: x, t: t, y: y, routing: Routing(width: fixed)),
                       try model.forward(x: x, t: t, y: y, routing: Routing(width: learned)))
        let csv = WidthMaskExport.csv(timesteps: [999, 0], attn: Array(attn[(999 * 8)..<(1000 * 8)] + attn[0..<8]),
                                      mlp: Array(mlp[(999 * 8)..<(1000 * 8)] + mlp[0..<8]), depth: 2, heads: 4)
        XCTAssertEqual(csv.split(separator: "\n").count, 1 + 2 * 2 * 2)
    }

    func testStaticMasksOfTheWrongShapeNameTheDifference() throws {
        let path = temporary("bad.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensorsWriter.write([("attn_masks_all_t", Tensor([Float](repeating: 1, count: 1000 * 2 * 6), shape: [1000, 2, 6])),
                                     ("mlp_masks_all_t", Tensor([Float](repeating: 1, count: 1000 * 2 * 6), shape: [1000, 2, 6])),
                                     ("token_masks", Tensor([Float](repeating: 1, count: 2 * 15), shape: [2, 15]))], to: path)
        let file = try SafeTensorsFile(path: path)
        XCTAssertThrowsError(try StaticWidthRouter(file: file, config: config)) {
            XCTAssertTrue("\($0)".contains("[1000, 2, 6]") && "\($0)".contains("[timesteps, 2, 4]"), "\($0)")
        }
        XCTAssertThrowsError(try StaticTokenRouter(file: file, config: config)) {
            XCTAssertTrue("\($0)".contains("[2, 15]") && "\($0)".contains("[2, 16]"), "\($0)")
        }
    }

    func testLayerSkipIsAllOrNothingAndRandomKeepsExactCounts() throws {
        let ctx = try ComputeContext(threads: 1)
        let tokens = config.tokens, rows = 3 * tokens
        let h = AlignedBuffer<Float>(count: rows * config.hiddenSize)
        var mask = [Float](repeating: -1, count: rows)
        let random = try RandomTokenRouter(keep: 0.4, seed: 1)
        mask.withUnsafeMutableBufferPointer {
            random.select(block: 0, h: h.pointer, rows: rows, tokens: tokens, mask: $0.baseAddress!, logits: nil, ctx: ctx)
        }
        for s in 0..<3 { XCTAssertEqual(mask[(s * tokens)..<((s + 1) * tokens)].reduce(0, +), Float((0.4 * Double(tokens)).rounded())) }
        let skip = try LayerSkipRouter(inner: try RandomTokenRouter(keep: 0.4, seed: 1), threshold: 0.5)
        mask.withUnsafeMutableBufferPointer {
            skip.select(block: 0, h: h.pointer, rows: rows, tokens: tokens, mask: $0.baseAddress!, logits: nil, ctx: ctx)
        }
        XCTAssertEqual(mask, [Float](repeating: 0, count: rows), "40% of tokens is under the 50% threshold: every layer skipped")
        XCTAssertThrowsError(try RandomWidthRouter(config: config, keep: 0, seed: 1)) { XCTAssertTrue("\($0)".contains("outside (0, 1]")) }
        XCTAssertThrowsError(try RandomTokenRouter(keep: 1.5, seed: 1))
    }

    func testPlainDiTGetsRoutersAtFineTuningInit() {
        let p = RouterParameters.initialized(config, seed: 2)
        XCTAssertEqual(Set(p["blocks.0.attn_rate.router.bias"]), [15])
        XCTAssertEqual(Set(p["blocks.1.mlp_rate.router.bias"]), [15])
        XCTAssertEqual(p["blocks.0.token_selection.mlp_head.2.bias"], [35])
        XCTAssertEqual(p["blocks.0.attn_rate.router.weight"].count, (config.numHeads - 1) * config.hiddenSize)
    }

    /// The early release's routers have NH outputs and no forced unit; other shapes are refused.
    func testEarlyFormatIsRecognisedAndBadShapesRefused() throws {
        let params = DiTParameters.initialized(config, seed: 1, .random)
        var early = RouterParameters.initialized(config, seed: 5, format: .early)
        for l in 0..<config.depth {
            // Strongly negative biases: every unit off, including unit 0 (no forced 1 here).
            early.tensors["blocks.\(l).attn_rate.router.bias"] = [Float](repeating: -50, count: config.numHeads)
            early.tensors["blocks.\(l).attn_rate.router.weight"] = [Float](repeating: 0, count: config.numHeads * config.hiddenSize)
        }
        let path = temporary("early.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensorsWriter.write(params.namedTensors() + early.namedTensors(), metadata: ["config": config.json.serialized()], to: path)
        let ckpt = try Checkpoint(path: path)
        XCTAssertEqual(ckpt.routers?.format, .early)
        let model = DiT(ckpt.parameters, ctx: try ComputeContext(threads: 1))
        let router = LearnedWidthRouter(ckpt.routers!, isa: model.ctx.isa)
        let (attn, _) = WidthMaskExport.masks(router: router, model: model, timesteps: [10, 900])
        XCTAssertEqual(attn, [Float](repeating: 0, count: 2 * config.depth * config.numHeads))

        var wrong = early.namedTensors()
        let i = wrong.firstIndex { $0.name == "blocks.0.attn_rate.router.weight" }!
        wrong[i].tensor = Tensor([Float](repeating: 0, count: 2 * config.hiddenSize), shape: [2, config.hiddenSize])
        let bad = temporary("bad-router.safetensors")
        defer { try? FileManager.default.removeItem(atPath: bad) }
        try SafeTensorsWriter.write(params.namedTensors() + wrong, metadata: ["config": config.json.serialized()], to: bad)
        XCTAssertThrowsError(try Checkpoint(path: bad)) {
            let text = "\($0)"
            XCTAssertTrue(text.contains("[2, 64]") && text.contains("[3, 64] (current release)") && text.contains("[4, 64] (early release)"), text)
        }
    }
}
