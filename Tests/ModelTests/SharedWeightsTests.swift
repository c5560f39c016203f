import DyDiTIO
import DyDiTKernels
import DyDiTModels
import Foundation
import XCTest

/// The packed weights are immutable and shared; run state is per runner. Two runners around
/// one `DiTWeights`, each on its own context and thread, sampling at the same time, give
/// bit for bit what one runner gives alone (dense, masked and fast DyDiT paths).
final class SharedWeightsTests: XCTestCase {
    func testRunnersShareWeightsAcrossThreads() throws {
        let c = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 4, hiddenSize: 64, depth: 2, numHeads: 4, numClasses: 5)
        let params = DiTParameters.initialized(c, seed: 4, .random)
        let isa = try ComputeContext(threads: 1).isa
        let weights = DiTWeights(params, isa: isa)
        var rng = RandomGenerator(seed: 8)
        let x = rng.normals(3 * c.imageSize), t: [Float] = [10, 500, 990], y = [0, 3, 5]
        let routers = RouterParameters.initialized(c, seed: 1, widthBias: 0, tokenBias: 0)
        func routing(_ ctx: ComputeContext, fast: Bool) -> Routing {
            Routing(width: LearnedWidthRouter(routers, isa: ctx.isa), token: LearnedTokenRouter(routers), fast: fast)
        }
        func outputs(_ model: DiT) throws -> [[Float]] {
            try [Routing(), routing(model.ctx, fast: false), routing(model.ctx, fast: true)].map {
                try model.forward(x: x, t: t, y: y, routing: $0)
            }
        }
        let alone = try outputs(DiT(weights: weights, ctx: try ComputeContext(threads: 1)))
        XCTAssertFalse(alone.joined().contains { !$0.isFinite })
        XCTAssertNotEqual(alone[0], alone[1], "the routers change the output")

        let runners = try (0..<2).map { _ in DiT(weights: weights, ctx: try ComputeContext(threads: 1)) }
        var results = [[[Float]]](repeating: [], count: 2)
        var failures = [String](repeating: "", count: 2)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            var mine: [[Float]] = []
            var failure = ""
            for _ in 0..<5 {
                do { mine = try outputs(runners[i]) } catch { failure = "\(error)" }
            }
            lock.lock()
            results[i] = mine
            failures[i] = failure
            lock.unlock()
        }
        XCTAssertEqual(failures, ["", ""])
        for r in results { XCTAssertEqual(r, alone) }
        // Packed once, referenced by every runner.
        XCTAssertTrue(runners[0].weights === runners[1].weights)
        XCTAssertEqual(runners[0].weightBytes, weights.byteCount)
    }
}
