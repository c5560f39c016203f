import DyDiTIO
import DyDiTKernels
import DyDiTModels
import ReferenceSupport
import XCTest

final class DiTLoadingTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dydit-model-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    static let tiny = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 4, hiddenSize: 32, depth: 2, numHeads: 2,
                                numClasses: 5, learnSigma: true)

    func write(_ tensors: [(String, Tensor)], config: DiTConfig = tiny, name: String = "w.safetensors") throws -> String {
        let path = "\(dir)/\(name)"
        try SafeTensorsWriter.write(tensors, metadata: ["config": config.json.serialized()], to: path)
        return path
    }

    func testSaveLoadRoundTrip() throws {
        let p = DiTParameters.initialized(Self.tiny, seed: 3, .random)
        let path = "\(dir)/rt.safetensors"
        try p.save(to: path)
        let back = try Checkpoint(path: path)
        XCTAssertEqual(back.config, Self.tiny)
        XCTAssertEqual(back.parameters.tensors, p.tensors)
        XCTAssertFalse(back.isDyDiT)
    }

    func testMissingExtraAndMisshapenTensorsAreNamed() throws {
        var tensors = DiTParameters.initialized(Self.tiny, seed: 1).namedTensors().map { ($0.name, $0.tensor) }
        let withoutQKV = tensors.filter { $0.0 != "blocks.1.attn.qkv.weight" }
        XCTAssertThrowsError(try Checkpoint(path: try write(withoutQKV))) {
            XCTAssertTrue("\($0)".contains("missing tensor 'blocks.1.attn.qkv.weight'"), "\($0)")
        }
        let extra = tensors + [("blocks.2.attn.qkv.weight", Tensor([Float(0)], shape: [1]))]
        XCTAssertThrowsError(try Checkpoint(path: try write(extra, name: "x.safetensors"))) {
            XCTAssertTrue("\($0)".contains("does not use: blocks.2.attn.qkv.weight"), "\($0)")
        }
        let i = tensors.firstIndex { $0.0 == "final_layer.linear.weight" }!
        tensors[i].1 = Tensor([Float](repeating: 0, count: 16 * 32), shape: [16, 32])
        XCTAssertThrowsError(try Checkpoint(path: try write(tensors, name: "s.safetensors"))) {
            XCTAssertTrue("\($0)".contains("'final_layer.linear.weight' has shape [16, 32], expected [32, 32]"), "\($0)")
        }
    }

    func testNoConfigMetadata() throws {
        let path = "\(dir)/n.safetensors"
        try SafeTensorsWriter.write([("a", Tensor([Float(1)], shape: [1]))], to: path)
        XCTAssertThrowsError(try Checkpoint(path: path)) {
            XCTAssertTrue("\($0)".contains("no 'config' in the metadata") && "\($0)".contains("convert_checkpoint.py"), "\($0)")
        }
    }

    func testInputValidation() throws {
        let model = DiT(DiTParameters.initialized(Self.tiny, seed: 2, .random), ctx: try ComputeContext(threads: 1))
        let image = [Float](repeating: 0, count: Self.tiny.imageSize)
        XCTAssertThrowsError(try model.forward(x: image + [0], t: [1], y: [0])) { XCTAssertTrue("\($0)".contains("x holds 257")) }
        XCTAssertThrowsError(try model.forward(x: image, t: [1], y: [0, 1])) { XCTAssertTrue("\($0)".contains("y holds 2")) }
        XCTAssertThrowsError(try model.forward(x: image, t: [1], y: [6])) { XCTAssertTrue("\($0)".contains("outside 0...5")) }
        XCTAssertThrowsError(try model.forward(x: image, t: [.nan], y: [0])) { XCTAssertTrue("\($0)".contains("not finite")) }
        XCTAssertThrowsError(try model.forwardWithCFG(x: image, t: [1], y: [0], scale: 2)) { XCTAssertTrue("\($0)".contains("even batch")) }
        XCTAssertNoThrow(try model.forward(x: image, t: [1], y: [5]), "the null class is a valid label")
    }

    /// Same inputs, same bits: across repeated calls, thread counts and batch composition.
    func testForwardIsDeterministic() throws {
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        let p = DiTParameters.initialized(DiTConfig(inputSize: 16, patchSize: 2, inChannels: 3, hiddenSize: 96, depth: 2,
                                                    numHeads: 3, numClasses: 7), seed: 5, .random)
        var rng = RandomGenerator(seed: 9)
        let x = rng.normals(3 * p.config.imageSize), t: [Float] = [3, 500, 999], y = [0, 6, 7]
        for isa in CPUFeatures.current.supported {
            coverage.ran(isa.rawValue)
            let outs = try [1, 2, 3].map { try DiT(p, ctx: try ComputeContext(threads: $0, isa: isa)).forward(x: x, t: t, y: y) }
            XCTAssertEqual(outs[0], outs[1], "\(isa) 1 vs 2 threads")
            XCTAssertEqual(outs[0], outs[2], "\(isa) 1 vs 3 threads")
            let model = DiT(p, ctx: try ComputeContext(threads: 2, isa: isa))
            XCTAssertEqual(try model.forward(x: x, t: t, y: y), try model.forward(x: x, t: t, y: y), "\(isa) repeated call")
        }
    }

    /// DiT's 3-channel guidance versus the all-eps-channels form on a model with 8 output channels.
    func testGuidanceChannels() throws {
        let c = Self.tiny
        let model = DiT(DiTParameters.initialized(c, seed: 4, .random), ctx: try ComputeContext(threads: 1))
        var rng = RandomGenerator(seed: 1)
        let x = rng.normals(2 * c.imageSize), t: [Float] = [10, 10], y = [1, 5]
        let raw = try model.forward(x: Array(x[..<c.imageSize] + x[..<c.imageSize]), t: t, y: y)
        let plane = c.inputSize * c.inputSize, per = c.outChannels * plane
        for (mode, guided) in [(GuidanceChannels.dit, 3), (.eps, 4)] {
            let out = try model.forwardWithCFG(x: x, t: t, y: y, scale: 4, channels: mode)
            for ch in 0..<c.outChannels {
                for i in stride(from: 0, to: plane, by: 7) {
                    let cond = raw[ch * plane + i], uncond = raw[per + ch * plane + i]
                    let want0 = ch < guided ? uncond + 4 * (cond - uncond) : cond
                    let want1 = ch < guided ? want0 : uncond
                    assertClose(Double(out[ch * plane + i]), Double(want0), absolute: 1e-5, "\(mode) channel \(ch)")
                    assertClose(Double(out[per + ch * plane + i]), Double(want1), absolute: 1e-5, "\(mode) channel \(ch)")
                }
            }
        }
    }
}
