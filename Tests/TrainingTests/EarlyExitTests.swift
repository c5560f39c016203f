import DyDiTDiffusion
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTTraining
import XCTest

/// Early exit (ASE-style adaptive depth): training with the first k blocks is training the
/// k-block model (same loss, same gradients; the other blocks get none); the trainer draws one
/// interval per batch with timesteps inside it; sampling runs each step's interval depth and
/// counts only those blocks; schedules that do not fit are named.
final class EarlyExitTests: XCTestCase {
    let config = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 32, depth: 3, numHeads: 2, numClasses: 3,
                           learnSigma: false)

    func testTrainingTheFirstBlocksIsTrainingTheShallowModel() throws {
        let c = config
        let params = DiTParameters.initialized(c, seed: 2, .random)
        let objective = TrainingObjective(loss: try HybridLoss(learnSigma: false))
        var rng = RandomGenerator(seed: 5)
        let batch = 3
        let x0 = rng.normals(batch * c.imageSize), noise = rng.normals(batch * c.imageSize)
        let t = [10, 500, 900], y = [0, 1, 3]
        let full = try TrainableDiT(params, ctx: try ComputeContext(threads: 1))
        full.activeBlocks = 2
        full.gradients.zero()
        let exited = objective.accumulate(model: full, x0: x0, t: t, noise: noise, y: y).diffusion
        let shallow = try TrainableDiT(try BlockPruning.keep([0, 1], of: params), ctx: try ComputeContext(threads: 1))
        shallow.gradients.zero()
        let pruned = objective.accumulate(model: shallow, x0: x0, t: t, noise: noise, y: y).diffusion
        XCTAssertEqual(exited, pruned, accuracy: 1e-6 * abs(pruned))
        for e in shallow.parameters.entries where e.trainable {
            let want = shallow.gradients[e.name], got = full.gradients[e.name]
            let scale = max(1e-12, want.map(abs).max() ?? 0)
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1e-4 * scale, e.name)
        }
        for e in full.parameters.entries where e.name.hasPrefix("blocks.2.") {
            XCTAssertTrue(full.gradients[e.name].allSatisfy { $0 == 0 }, "\(e.name): a block past the exit gets no gradient")
        }
        XCTAssertNotEqual(full.gradients["final_layer.linear.weight"], [Float](repeating: 0, count: full.gradients["final_layer.linear.weight"].count))
    }

    func testTrainerDrawsOneIntervalPerBatch() throws {
        let c = config
        var settings = TrainingSettings()
        settings.batch = 4
        settings.steps = 6
        settings.earlyExit = EarlyExitSchedule(boundaries: [300, 700], depths: [3, 2, 1])
        var rng = RandomGenerator(seed: 3)
        let pixels = (0..<(8 * 6 * 6)).map { _ in UInt8(rng.below(256)) }
        let data = ImageDataset(name: "synthetic", width: 6, height: 6, channels: 1, pixels: pixels, labels: (0..<8).map { $0 % 3 },
                                classNames: ["a", "b", "c"])
        let loader = try BatchLoader(dataset: data, batch: 4, inputSize: c.inputSize, channels: c.inChannels, flip: false, seed: 1)
        let model = try TrainableDiT(DiTParameters.initialized(c, seed: 4, .random), ctx: try ComputeContext(threads: 1))
        let trainer = try Trainer(model: model, loader: loader, settings: settings)
        var depths = Set<Int>()
        for _ in 0..<6 {
            let record = try trainer.trainStep()
            XCTAssertTrue(record.loss.isFinite)
            depths.insert(try XCTUnwrap(model.activeBlocks))
        }
        XCTAssertTrue(depths.isSubset(of: [1, 2, 3]) && !depths.isEmpty, "\(depths)")
        settings.earlyExit = EarlyExitSchedule(boundaries: [300], depths: [3, 4])
        XCTAssertThrowsError(try Trainer(model: model, loader: loader, settings: settings)) {
            XCTAssertTrue("\($0)".contains("outside 1…3"), "\($0)")
        }
    }

    func testSamplingRunsEachIntervalsBlocks() throws {
        let c = config
        let model = DiT(DiTParameters.initialized(c, seed: 6, .random), ctx: try ComputeContext(threads: 1))
        var rng = RandomGenerator(seed: 2)
        let xT = rng.normals(2 * c.imageSize)
        func sample(_ caching: StepCachePolicy?) throws -> (samples: [Float], ratios: [Double]) {
            let loop = SamplingLoop(model: model, sampler: try SamplerRegistry.make("ddim", steps: 5, config: c), caching: caching)
            var ratios: [Double] = []
            let samples = try loop.run(xT: xT, labels: [0, 2], noise: .seeded(3)) { ratios.append($0.flopsRatio) }
            XCTAssertEqual(loop.cacheBytes, 0, "early exit keeps nothing")
            return (samples, ratios)
        }
        let dense = try sample(nil)
        XCTAssertEqual(try sample(EarlyExitPolicy(schedule: EarlyExitSchedule(boundaries: [500], depths: [3, 3]))).samples, dense.samples)
        // Steps at timesteps ≥ 500 run one block of three, the others all three.
        let timesteps = try SamplerRegistry.make("ddim", steps: 5, config: c).modelTimesteps
        let exit = try sample(EarlyExitPolicy(schedule: EarlyExitSchedule(boundaries: [500], depths: [3, 1])))
        XCTAssertEqual(exit.ratios.map { ($0 * 3).rounded() }, timesteps.map { $0 >= 500 ? 1 : 3 })
        XCTAssertTrue(timesteps.contains { $0 >= 500 } && timesteps.contains { $0 < 500 }, "\(timesteps)")
        XCTAssertNotEqual(exit.samples, dense.samples)
        XCTAssertTrue(exit.samples.allSatisfy(\.isFinite))
    }

    func testSchedulesThatDoNotFit() throws {
        XCTAssertTrue(EarlyExitSchedule(boundaries: [500], depths: [3]).problem(depth: 3)?.contains("one per interval") == true)
        XCTAssertTrue(EarlyExitSchedule(boundaries: [600, 400], depths: [3, 2, 1]).problem(depth: 3)?.contains("ascending") == true)
        XCTAssertTrue(EarlyExitSchedule(boundaries: [1000], depths: [3, 2]).problem(depth: 3)?.contains("inside (0, 1000)") == true)
        XCTAssertNil(EarlyExitSchedule(boundaries: [250, 600], depths: [6, 3, 1]).problem(depth: 6))
        XCTAssertThrowsError(try StepCacheRegistry.make("early-exit")) { XCTAssertTrue("\($0)".contains("give depths"), "\($0)") }
        XCTAssertThrowsError(try StepCacheRegistry.make("early-exit", options: JSONObject([("depths", .array([.double(2.5), .int(1)]))]))) {
            XCTAssertTrue("\($0)".contains("not a list of integers"), "\($0)")
        }
        let policy = try XCTUnwrap(try StepCacheRegistry.make("early-exit", options: JSONObject([("depths", .array([.int(3), .int(9)]))])))
        XCTAssertThrowsError(try policy.session(timesteps: [900, 100], depth: 3)) { XCTAssertTrue("\($0)".contains("outside 1…3"), "\($0)") }
    }
}
