import DyDiTDiffusion
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import XCTest

/// FORA's defining invariants (whole loops against the official code: `FORAParityTests`):
/// the schedule of compute and reuse steps as `prathebaselva/FORA` decides it, a reuse pass
/// that adds the kept branches with its own gates, interval 1 equal to the dense model, and
/// bad options refused.
final class StepCacheTests: XCTestCase {
    var config: DiTConfig {
        var c = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 32, depth: 2, numHeads: 2, numClasses: 4)
        c.learnSigma = false
        return c
    }

    /// `should_cache = step == numstep − 1 or step % N == 0`, with DiT's index counting down.
    func testFORASchedule() throws {
        let fora = try FORAPolicy(interval: 3)
        XCTAssertEqual((0..<10).filter { !fora.reuses(step: $0, of: 10) }, [0, 3, 6, 9])
        XCTAssertEqual((0..<8).filter { !fora.reuses(step: $0, of: 8) }, [0, 1, 4, 7], "i = 7, 6, 3, 0")
        XCTAssertFalse((0..<5).contains { try! FORAPolicy(interval: 1).reuses(step: $0, of: 5) })
    }

    /// A reuse pass adds the cached branches with its own gates: with the inputs of the pass
    /// that filled the cache it reproduces that pass bit for bit; at another timestep it differs
    /// from a full forward there (it really skipped the blocks) but keeps the new gates.
    func testReusePassAddsTheCachedBranches() throws {
        let c = config
        let model = DiT(DiTParameters.initialized(c, seed: 5, .random), ctx: try ComputeContext(threads: 2))
        var rng = RandomGenerator(seed: 1)
        let x = rng.normals(2 * c.imageSize), y = [1, 3]
        func run(_ t: Float, _ caching: BlockCaching?) -> [Float] {
            var out = [Float](repeating: 0, count: 2 * c.outChannels * c.inputSize * c.inputSize)
            x.withUnsafeBufferPointer { xp in
                out.withUnsafeMutableBufferPointer { model.forward(x: xp.baseAddress!, t: [t, t], y: y, out: $0.baseAddress!, caching: caching) }
            }
            return out
        }
        let cache = BlockCache(config: c)
        let computed = run(500, BlockCaching(cache: cache, mode: .compute))
        XCTAssertEqual(computed, run(500, nil), "the compute pass is the plain forward")
        XCTAssertTrue(cache.isFilled)
        XCTAssertEqual(run(500, BlockCaching(cache: cache, mode: .reuse)), computed)
        let reused = run(100, BlockCaching(cache: cache, mode: .reuse)), full = run(100, nil)
        XCTAssertNotEqual(reused, full)
        XCTAssertNotEqual(reused, computed, "the gates and the final layer follow the new timestep")
        XCTAssertTrue(reused.allSatisfy(\.isFinite))
    }

    /// Interval 1 computes every step: the samples are the dense model's, bit for bit; a longer
    /// interval computes fewer steps (its FLOPs ratio is the share of compute steps) and stays
    /// close to them on this random model.
    func testIntervalOneIsDenseAndReportsCountWhatRuns() throws {
        let c = config
        let model = DiT(DiTParameters.initialized(c, seed: 6, .random), ctx: try ComputeContext(threads: 1))
        var rng = RandomGenerator(seed: 2)
        let xT = rng.normals(2 * c.imageSize), labels = [0, 2]
        func sample(_ caching: StepCachePolicy?) throws -> (samples: [Float], ratios: [Double]) {
            let loop = SamplingLoop(model: model, sampler: try SamplerRegistry.make("ddim", steps: 10, config: c), caching: caching)
            var ratios: [Double] = []
            let samples = try loop.run(xT: xT, labels: labels, noise: .seeded(3)) { ratios.append($0.flopsRatio) }
            return (samples, ratios)
        }
        let dense = try sample(nil)
        XCTAssertEqual(try sample(try FORAPolicy(interval: 1)).samples, dense.samples)
        let fora = try sample(try FORAPolicy(interval: 3))
        XCTAssertEqual(fora.ratios, [1, 0, 0, 1, 0, 0, 1, 0, 0, 1])
        XCTAssertNotEqual(fora.samples, dense.samples)
        XCTAssertTrue(fora.samples.allSatisfy(\.isFinite))
    }

    func testBadOptionsAreClearErrors() throws {
        func expect(_ fragments: [String], _ body: () throws -> Void) {
            XCTAssertThrowsError(try body()) { error in
                for f in fragments { XCTAssertTrue("\(error)".contains(f), "'\(f)' missing in: \(error)") }
            }
        }
        expect(["fora", "interval 0", "≥ 1"]) { _ = try StepCacheRegistry.make("fora", options: JSONObject([("interval", .int(0))])) }
        expect(["interval", "not an integer"]) { _ = try StepCacheRegistry.make("fora", options: JSONObject([("interval", .double(2.5))])) }
        expect(["unknown option 'intervall'", "interval"]) { _ = try StepCacheRegistry.make("fora", options: JSONObject([("intervall", .int(2))])) }
        expect(["unknown cache 'froa'", "did you mean 'fora'"]) { _ = try StepCacheRegistry.make("froa") }
        XCTAssertNil(try StepCacheRegistry.make("none"))
        expect(["l2c", "routers", "dydit train"]) { _ = try StepCacheRegistry.make("l2c") }
        expect(["l2c", "no routers at /nonexistent/r.safetensors"]) {
            _ = try StepCacheRegistry.make("l2c", options: JSONObject([("routers", .string("/nonexistent/r.safetensors"))]))
        }
        expect(["l2c", "threshold 1.5", "[0, 1]"]) {
            _ = try LearningToCachePolicy(routers: LearningToCacheRouters(logits: [[0, 0]], timesteps: nil), threshold: 1.5)
        }
        expect(["threshold", "≥ 0"]) { _ = try StepCacheRegistry.make("l2c", options: JSONObject([("threshold", .double(-1))])) }
        // With routers on the masked reference path: refused before any work.
        let c = config
        let model = DiT(DiTParameters.initialized(c, seed: 7, .random), ctx: try ComputeContext(threads: 1))
        let loop = SamplingLoop(model: model, sampler: try SamplerRegistry.make("ddim", steps: 4, config: c),
                                routing: Routing(width: try RandomWidthRouter(config: c, keep: 0.5, seed: 1), fast: false),
                                caching: try FORAPolicy(interval: 2))
        expect(["fora", "fast path", "masked"]) { try loop.validate(images: 1, labels: [0], noise: .seeded(1)) }
        // L2C's per-layer reuse: the dense model only, refused with routers before any work.
        let l2c = try LearningToCachePolicy(routers: LearningToCacheRouters(logits: [[Float]](repeating: [Float](repeating: 0, count: 2 * c.depth), count: 4), timesteps: nil), threshold: 0.5)
        let routed = SamplingLoop(model: model, sampler: try SamplerRegistry.make("ddim", steps: 4, config: c),
                                  routing: Routing(width: try RandomWidthRouter(config: c, keep: 0.5, seed: 1)), caching: l2c)
        expect(["l2c", "dense model", "routers"]) { try routed.validate(images: 1, labels: [0], noise: .seeded(1)) }
    }

    /// FORA stacked on DyDiT (the fast path, learned-shape random routers): interval 1 is DyDiT
    /// without the cache bit for bit; at the pass's own inputs a reuse reproduces the compute
    /// pass, the skipped tokens' MLP branch kept as zero; a longer interval changes the samples
    /// and counts only the compute steps' (routed) FLOPs.
    func testFORAStacksOnDyDiT() throws {
        let c = config
        let model = DiT(DiTParameters.initialized(c, seed: 8, .random), ctx: try ComputeContext(threads: 2))
        func routing() throws -> Routing {
            Routing(width: try RandomWidthRouter(config: c, keep: 0.5, seed: 3), token: try RandomTokenRouter(keep: 0.5, seed: 4))
        }
        var rng = RandomGenerator(seed: 9)
        let xT = rng.normals(2 * c.imageSize), labels = [1, 3]
        func sample(_ caching: StepCachePolicy?) throws -> (samples: [Float], ratios: [Double]) {
            let loop = SamplingLoop(model: model, sampler: try SamplerRegistry.make("ddim", steps: 6, config: c), routing: try routing(),
                                    caching: caching)
            var ratios: [Double] = []
            let samples = try loop.run(xT: xT, labels: labels, noise: .seeded(5)) { ratios.append($0.flopsRatio) }
            return (samples, ratios)
        }
        let dydit = try sample(nil)
        XCTAssertEqual(try sample(try FORAPolicy(interval: 1)).samples, dydit.samples)
        let stacked = try sample(try FORAPolicy(interval: 2))
        XCTAssertNotEqual(stacked.samples, dydit.samples)
        XCTAssertTrue(stacked.samples.allSatisfy(\.isFinite))
        // DiT's index 5…0 computes at 5, 4, 2, 0: steps 0, 1, 3, 5, each at its routers' ratio.
        XCTAssertEqual(stacked.ratios.enumerated().filter { $0.element == 0 }.map(\.offset), [2, 4])
        XCTAssertTrue(stacked.ratios.enumerated().allSatisfy { $0.element == 0 || abs($0.element - dydit.ratios[$0.offset]) < 1e-12 },
                      "\(stacked.ratios) against \(dydit.ratios)")

        let x = rng.normals(2 * c.imageSize)
        func forward(_ caching: BlockCaching?) throws -> [Float] {
            var out = [Float](repeating: 0, count: 2 * c.outChannels * c.inputSize * c.inputSize)
            let r = try routing()
            x.withUnsafeBufferPointer { xp in
                out.withUnsafeMutableBufferPointer {
                    model.forward(x: xp.baseAddress!, t: [300, 300], y: labels, out: $0.baseAddress!, routing: r, caching: caching)
                }
            }
            return out
        }
        let cache = BlockCache(config: c)
        let computed = try forward(BlockCaching(cache: cache, mode: .compute))
        XCTAssertEqual(computed, try forward(nil))
        XCTAssertEqual(try forward(BlockCaching(cache: cache, mode: .reuse)), computed)
    }
}
