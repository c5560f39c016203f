import DyDiTDiffusion
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTTraining
import ReferenceSupport
import XCTest

/// Learning-to-Cache against its official code (`scripts/reference/make_l2c_cases.py`,
/// `horseee/learning-to-cache` d6cc781): one router-training step (the DDIM step, the target,
/// the blended output, the loss and the logits' gradient) and a whole sampling loop of the
/// thresholded routers (which steps refill the cache, which layers a routed step reuses).
final class LearningToCacheTests: XCTestCase {
    struct Case {
        let file: SafeTensorsFile
        let params: DiTParameters
        let steps: Int, r: Int, l1: Double, threshold: Double
        var config: DiTConfig { params.config }
        func floats(_ name: String) throws -> [Float] { try file.tensor(name).floats() }
    }

    func cases() throws -> [Case] {
        let files = try ReferenceVectors.files(prefix: "l2c")
        XCTAssertFalse(files.isEmpty, "no l2c*.safetensors in \(ReferenceVectors.extraDirectory)")
        return try files.map { path in
            let file = try SafeTensorsFile(path: path)
            let config = try DiTConfig(json: try JSONParser.parse(file.metadata["config"] ?? "", path: path), source: path)
            let meta = try XCTUnwrap(try JSONParser.parse(file.metadata["case"] ?? "", path: path).objectValue)
            let tensors = try file.floats(under: "weights/")
            return Case(file: file, params: DiTParameters(config: config, tensors: tensors, hasNullClass: true),
                        steps: Int(try XCTUnwrap(meta["steps"]?.intValue)), r: Int(try XCTUnwrap(meta["r"]?.intValue)),
                        l1: try XCTUnwrap(meta["l1"]?.doubleValue), threshold: try XCTUnwrap(meta["threshold"]?.doubleValue))
        }
    }

    func testRouterTrainingStepMatchesOfficialCode() throws {
        for k in try cases() {
            let c = k.config
            let y = try k.file.tensor("train/y").integers().map { Int($0) }
            let t = try k.file.tensor("train/timesteps").doubles()
            let logits = try k.floats("train/logits"), width = 2 * c.depth
            let diffusion = try DiTDiffusion(respacing: "1000", varianceType: .learnedRange)
            let a = diffusion.alphasCumprod[Int(t[0])], aPrev = diffusion.alphasCumprod[Int(t[1])]
            // q_sample as the official code ran it.
            let x0 = try k.floats("train/x_start"), xt = try k.floats("train/x_t")
            let noise = try XCTUnwrap(k.file.tensor("train/x_t").floats().indices.map { i -> Float in
                (xt[i] - Float(a.squareRoot()) * x0[i]) / Float((1 - a).squareRoot()) })
            assertAllClose(L2CTrainer.noisy(x0: x0, noise: noise, alphaBar: a), xt, absolute: 1e-5, "q_sample")
            for threads in [1, 2] {
                let model = try TrainableDiT(k.params, ctx: try ComputeContext(threads: threads))
                let blend = BranchBlend(config: c, batch: y.count)
                let got = L2CTrainer.evaluate(model: model, blend: blend, xt: xt, y: y, timesteps: (t[0], t[1]), alphaBars: (a, aPrev),
                                              logits: Array(logits[((k.r - 1) * width)..<(k.r * width)]), l1: k.l1)
                var worst = Worst()
                worst.record(assertClose(got.first, try k.floats("train/first"), tolerance: 1e-5, "model output at r"))
                worst.record(assertClose(got.xPrev, try k.floats("train/x_next"), tolerance: 1e-5, "ddim_sample"))
                worst.record(assertClose(got.target, try k.floats("train/target"), tolerance: 1e-5, "complete model at r − 1"))
                worst.record(assertClose(got.blended, try k.floats("train/blended"), tolerance: 1e-5, "blended output at r − 1"))
                assertClose(got.mse, Double(try k.floats("train/mse")[0]), relative: 1e-4, "mse")
                assertClose(got.l1, Double(try k.floats("train/l1")[0]), relative: 1e-6, "Σ w")
                let want = try k.floats("train/logit_grad")
                let gradError = assertClose(got.logitGradients, Array(want[((k.r - 1) * width)..<(k.r * width)]), tolerance: 1e-4, "d loss / d logits")
                print(String(format: "l2c training step, %d thread(s): outputs max|a-b|/max|b| = %.3e, logit gradient %.3e", threads, worst.value, gradError))
                // Only the routed step's row has a gradient (the others are not in the graph).
                for row in 0..<k.steps where row != k.r - 1 {
                    XCTAssertEqual(Array(want[(row * width)..<((row + 1) * width)]), [Float](repeating: 0, count: width), "row \(row)")
                }
                // A blend with every w = 1 is the complete model: the blend is not a no-op by accident.
                let ones = L2CTrainer.evaluate(model: model, blend: blend, xt: xt, y: y, timesteps: (t[0], t[1]), alphaBars: (a, aPrev),
                                               logits: [Float](repeating: 80, count: width), l1: 0)
                assertClose(ones.blended, ones.target, tolerance: 1e-6, "w = 1")
                XCTAssertGreaterThan(Closeness(got.blended, got.target).relative, 1e-3, "the reference's blend differs from the target")
            }
        }
    }

    func testSamplingLoopMatchesOfficialCode() throws {
        for k in try cases() {
            let c = k.config
            let y = try k.file.tensor("infer/y").integers().map { Int($0) }
            let timesteps = try k.file.tensor("infer/timesteps").doubles()
            let logits = try k.floats("train/logits"), width = 2 * c.depth
            let routers = LearningToCacheRouters(logits: (0..<k.steps).map { Array(logits[($0 * width)..<(($0 + 1) * width)]) },
                                                 timesteps: timesteps)
            let policy = try LearningToCachePolicy(routers: routers, threshold: k.threshold)
            let xs = try k.floats("infer/x"), want = try k.floats("infer/out")
            let per = y.count * c.imageSize, outPer = y.count * c.outChannels * c.inputSize * c.inputSize
            for isa in CPUFeatures.current.supported {
                let model = DiT(k.params, ctx: try ComputeContext(threads: 2, isa: isa))
                let session = try policy.session(timesteps: timesteps, depth: c.depth)
                let cache = BlockCache(config: c)
                var selected = 0, worst = Worst()
                for step in 0..<k.steps {
                    let plan = session.plan(step: step)
                    let mode: BlockCaching.Mode
                    switch plan {
                    case .fillBranches: mode = .compute
                    case let .selectBranches(computes):
                        mode = .select(computes: computes)
                        selected += 1
                        XCTAssertEqual(computes, policy.computes(respacedIndex: k.steps - 1 - step))
                    default: return XCTFail("step \(step): plan \(plan)")
                    }
                    // Full steps: the first, and every odd respaced index.
                    let r = k.steps - 1 - step
                    XCTAssertEqual(mode == .compute, step == 0 || r % 2 == 1 || policy.computes(respacedIndex: r).allSatisfy { $0 }, "step \(step)")
                    var out = [Float](repeating: 0, count: outPer)
                    Array(xs[(step * per)..<((step + 1) * per)]).withUnsafeBufferPointer { xp in
                        out.withUnsafeMutableBufferPointer { op in
                            model.forward(x: xp.baseAddress!, t: [Float](repeating: Float(timesteps[step]), count: y.count), y: y,
                                          out: op.baseAddress!, routing: Routing(), caching: BlockCaching(cache: cache, mode: mode))
                        }
                    }
                    worst.record(assertClose(out, Array(want[(step * outPer)..<((step + 1) * outPer)]), tolerance: 1e-5, "\(isa) step \(step)"))
                }
                XCTAssertGreaterThan(selected, 0, "no routed step reused a layer: the case does not test reuse")
                print(String(format: "l2c sampling loop, %@: every step's output max|a-b|/max|b| ≤ %.3e", isa.rawValue, worst.value))
            }
        }
    }

    /// The routers file round-trips, and a sampler with other timesteps is refused.
    func testRoutersFileAndScheduleCheck() throws {
        let path = NSTemporaryDirectory() + "l2c-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let routers = LearningToCacheRouters(logits: [[0.5, -1, 2, 3], [1, 1, -4, 0.25]], timesteps: [999, 500])
        try routers.write(to: path)
        XCTAssertEqual(try LearningToCacheRouters(path: path), routers)
        let policy = try LearningToCachePolicy(routers: routers, threshold: 0.1)
        XCTAssertThrowsError(try policy.session(timesteps: [999, 499], depth: 2))
        XCTAssertThrowsError(try policy.session(timesteps: [999, 500], depth: 3))
        XCTAssertNoThrow(try policy.session(timesteps: [999, 500], depth: 2))
    }
}
