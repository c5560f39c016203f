import DyDiTDiffusion
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import XCTest

/// Δ-DiT (no official code exists; the paper's rule): the stage-adaptive schedule of full and
/// cached steps, interval 1 equal to the dense model, cached steps counting only the blocks
/// they ran, and bad options refused.
final class DeltaDiTTests: XCTestCase {
    /// Full steps at multiples of the interval and where the range changes at the boundary;
    /// the rear blocks before it, the front blocks after.
    func testSchedule() throws {
        let policy = try DeltaDiTPolicy(interval: 3, blocks: 2, boundary: 0.5)
        let session = try policy.session(steps: 10, depth: 5)
        var plans: [String] = []
        for k in 0..<10 {
            switch session.plan(step: k) {
            case let .fillResidual(r): plans.append("F\(r.lowerBound)-\(r.upperBound)")
            case let .reuseResidual(r): plans.append("R\(r.lowerBound)-\(r.upperBound)")
            default: XCTFail("step \(k): not a residual plan")
            }
        }
        XCTAssertEqual(plans, ["F3-5", "R3-5", "R3-5", "F3-5", "R3-5", "F0-2", "F0-2", "R0-2", "R0-2", "F0-2"])
        // Default: half the depth; boundary 1 caches the rear blocks throughout, 0 the front ones.
        XCTAssertEqual(try DeltaDiTPolicy(interval: 2, blocks: nil, boundary: 1).range(step: 9, of: 10, depth: 6), 3..<6)
        XCTAssertEqual(try DeltaDiTPolicy(interval: 2, blocks: nil, boundary: 0).range(step: 0, of: 10, depth: 6), 0..<3)
    }

    func testIntervalOneIsDenseAndCachedStepsCountWhatRuns() throws {
        var c = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 32, depth: 4, numHeads: 2, numClasses: 4)
        c.learnSigma = false
        let model = DiT(DiTParameters.initialized(c, seed: 6, .random), ctx: try ComputeContext(threads: 1))
        var rng = RandomGenerator(seed: 2)
        let xT = rng.normals(2 * c.imageSize), labels = [0, 2]
        func sample(_ caching: StepCachePolicy?) throws -> (samples: [Float], ratios: [Double], bytes: Int) {
            let loop = SamplingLoop(model: model, sampler: try SamplerRegistry.make("ddim", steps: 8, config: c), caching: caching)
            var ratios: [Double] = []
            let samples = try loop.run(xT: xT, labels: labels, noise: .seeded(3)) { ratios.append($0.flopsRatio) }
            return (samples, ratios, loop.cacheBytes)
        }
        let dense = try sample(nil)
        XCTAssertEqual(try sample(try DeltaDiTPolicy(interval: 1, blocks: 2, boundary: 0.5)).samples, dense.samples)
        let delta = try sample(try DeltaDiTPolicy(interval: 2, blocks: 1, boundary: 0.5))
        XCTAssertEqual(delta.ratios, [1, 0.75, 1, 0.75, 1, 0.75, 1, 0.75])
        XCTAssertNotEqual(delta.samples, dense.samples)
        XCTAssertTrue(delta.samples.allSatisfy(\.isFinite))
        XCTAssertEqual(delta.bytes, 2 * 2 * c.tokens * c.hiddenSize * MemoryLayout<Float>.stride)
    }

    func testBadOptionsAreClearErrors() throws {
        func expect(_ fragments: [String], _ body: () throws -> Void) {
            XCTAssertThrowsError(try body()) { error in
                for f in fragments { XCTAssertTrue("\(error)".contains(f), "'\(f)' missing in: \(error)") }
            }
        }
        expect(["delta-dit", "interval 0"]) { _ = try StepCacheRegistry.make("delta-dit", options: JSONObject([("interval", .int(0))])) }
        expect(["blocks 0", "≥ 1 block"]) { _ = try StepCacheRegistry.make("delta-dit", options: JSONObject([("blocks", .int(0))])) }
        expect(["blocks", "not an integer"]) { _ = try StepCacheRegistry.make("delta-dit", options: JSONObject([("blocks", .double(1.5))])) }
        expect(["boundary", "outside [0, 1]"]) { _ = try StepCacheRegistry.make("delta-dit", options: JSONObject([("boundary", .double(1.5))])) }
        let policy = try XCTUnwrap(try StepCacheRegistry.make("delta-dit", options: JSONObject([("blocks", .int(9))])))
        expect(["blocks 9", "model's 4 blocks"]) { _ = try policy.session(steps: 10, depth: 4) }
    }
}
