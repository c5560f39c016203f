import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTTraining
import XCTest

/// Static depth pruning: the pruned model is the original with the dropped blocks skipped; the
/// criterion measures each block's removal and keeps the costliest; bad lists are refused.
final class BlockPruningTests: XCTestCase {
    var config: DiTConfig {
        DiTConfig(inputSize: 8, patchSize: 2, inChannels: 1, hiddenSize: 32, depth: 3, numHeads: 2, numClasses: 3)
    }

    func forward(_ model: DiT, _ residual: ResidualCaching? = nil) -> [Float] {
        let c = model.config
        var rng = RandomGenerator(seed: 3)
        let x = rng.normals(2 * c.imageSize)
        var out = [Float](repeating: 0, count: 2 * c.outChannels * c.inputSize * c.inputSize)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { model.forward(x: xp.baseAddress!, t: [400, 20], y: [0, 2], out: $0.baseAddress!, residual: residual) }
        }
        return out
    }

    func testPrunedModelIsTheOriginalWithoutTheBlocks() throws {
        let c = config
        let params = DiTParameters.initialized(c, seed: 4, .random)
        let ctx = try ComputeContext(threads: 1)
        let original = DiT(params, ctx: ctx)
        let skipped = forward(original, ResidualCaching(cache: ResidualCache(config: c), blocks: 1..<2, mode: .skip))
        let pruned = try BlockPruning.keep([0, 2], of: params)
        XCTAssertEqual(pruned.config.depth, 2)
        XCTAssertEqual(pruned["blocks.1.attn.qkv.weight"], params["blocks.2.attn.qkv.weight"])
        let got = forward(DiT(pruned, ctx: ctx))
        let scale = skipped.map(abs).max()!
        for (a, b) in zip(got, skipped) { XCTAssertEqual(a, b, accuracy: 1e-6 * scale) }
        XCTAssertNotEqual(skipped, forward(original), "block 1 did something")
        for bad in [[], [2, 0], [0, 0], [0, 3]] {
            XCTAssertThrowsError(try BlockPruning.keep(bad, of: params)) { XCTAssertTrue("\($0)".contains("distinct, ascending"), "\($0)") }
        }
    }

    func testCriterionKeepsTheCostliestBlocks() throws {
        let c = config
        var rng = RandomGenerator(seed: 8)
        let pixels = (0..<(12 * 6 * 6)).map { _ in UInt8(rng.below(256)) }
        let data = ImageDataset(name: "synthetic", width: 6, height: 6, channels: 1, pixels: pixels, labels: (0..<12).map { $0 % 3 },
                                classNames: ["a", "b", "c"])
        let model = DiT(DiTParameters.initialized(c, seed: 5, .random), ctx: try ComputeContext(threads: 2))
        let result = try BlockImportance.measure(model: model, dataset: data, images: 10, batch: 5, seed: 1)
        XCTAssertEqual(result.images, 10)
        XCTAssertEqual(result.skippedMSE.count, 3)
        XCTAssertTrue(([result.fullMSE] + result.skippedMSE).allSatisfy { $0.isFinite && $0 > 0 })
        let order = result.skippedMSE.indices.sorted { result.skippedMSE[$0] > result.skippedMSE[$1] }
        XCTAssertEqual(result.keep(2), Array(order.prefix(2)).sorted())
        // The same seed measures the same numbers.
        XCTAssertEqual(try BlockImportance.measure(model: model, dataset: data, images: 10, batch: 5, seed: 1).skippedMSE, result.skippedMSE)
    }
}
