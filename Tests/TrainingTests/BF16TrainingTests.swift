import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTTraining
import ReferenceSupport
import XCTest

/// Training with bf16 products (`train.products: "bf16"`): its accuracy contract against the
/// official fp32 training step, and that the loop around it still learns, deterministically.
final class BF16TrainingTests: XCTestCase {
    /// Gradients and losses with bf16 operands (8 significant bits: each product's operands
    /// off by up to 2⁻⁹ relatively) against the official fp32 step, as max|a−b| / max|b| per
    /// tensor: the inference contract of the bf16 models (`PrecisionTests.bf16Contract`).
    static let contract: Float = 2e-2

    /// The official code's training step (the reference pairs of `GradientParityTests`) with
    /// the products in bf16, on every ISA build and tile this CPU runs. Dense DiT pairs only:
    /// a DyDiT's router decisions are thresholds, and a logit near one can flip under bf16,
    /// after which the masks, not the arithmetic, decide the difference.
    func testGradientsStayWithinTheBF16ContractOfTheOfficialStep() throws {
        let pairs = try ReferenceVectors.pairs()
        XCTAssertFalse(pairs.isEmpty, "no reference pairs in \(ReferenceVectors.directory)")
        var checked = 0
        for pair in pairs {
            let ckpt = try Checkpoint(path: pair.weights)
            let io = try SafeTensorsFile(path: pair.io)
            guard !ckpt.isDyDiT, io.contains("train/x0") else { continue }
            let batch = try ReferenceTrainingBatch(io)
            let objective = TrainingObjective(loss: try HybridLoss(learnSigma: ckpt.config.learnSigma))
            for isa in CPUFeatures.current.supported {
                let ctx = try ComputeContext(threads: 2, isa: isa)
                let model = try TrainableDiT(ckpt.parameters, ctx: ctx)
                model.products = .bf16
                let label = "\(pair.name) [\(isa), bf16 products]"
                let losses = objective.accumulate(model: model, x0: batch.x0, t: batch.t, noise: batch.noise, y: batch.y)
                var worst = Worst()
                let lossError = Closeness([Float(losses.diffusion)], try io.tensor("train/loss").floats()).relative
                worst.record(lossError)
                XCTAssert(lossError <= Double(Self.contract), "\(label) loss: \(losses.diffusion), relative error \(lossError)")
                var fp32Differs = false
                for key in io.names where key.hasPrefix("grad/") {
                    let name = String(key.dropFirst("grad/".count))
                    let want = try io.tensor(key).floats()
                    let error = assertClose(model.gradients[name], want, tolerance: Double(Self.contract), "\(label) \(key)")
                    worst.record(error)
                    // Not the fp32 arithmetic by accident: somewhere the error is above fp32's.
                    if error > 1e-4 { fp32Differs = true }
                }
                print(String(format: "%@: worst max|a-b|/max|b| over the loss and %d gradients = %.3e", label, worst.count - 1,
                             worst.value))
                XCTAssertTrue(fp32Differs, "\(label): every gradient within fp32's 1e-4 — the products did not run in bf16")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 0, "no dense DiT pair with a training batch")
    }

    /// A tiny DiT overfits one batch with bf16 products as with fp32 (`OverfitTests`), and
    /// two runs are bit-identical.
    func testBF16TrainingLearnsAndIsDeterministic() throws {
        func run(_ products: TrainingProducts) throws -> (losses: [Double], weights: [UInt32]) {
            let (losses, model) = try OverfitTests.fitFixedBatch(products: products)
            return (losses, model.parameters.entries.flatMap { model.parameters[$0.name].map(\.bitPattern) })
        }
        let bf16 = try run(.bf16), again = try run(.bf16), fp32 = try run(.fp32)
        XCTAssertEqual(bf16.weights, again.weights, "two bf16 runs differ")
        XCTAssertNotEqual(bf16.weights, fp32.weights, "bf16 products trained exactly as fp32 ones: they did not run")
        func fit(_ losses: [Double]) -> Double { losses[0] / (losses.suffix(5).reduce(0, +) / 5) }
        print(String(format: "overfitting one batch: fp32 %.1f× lower, bf16 %.1f× lower", fit(fp32.losses), fit(bf16.losses)))
        XCTAssertTrue(bf16.losses.allSatisfy(\.isFinite))
        XCTAssertGreaterThanOrEqual(fit(bf16.losses), 10, "bf16: the loss on a fixed batch fell only \(fit(bf16.losses))×")
    }

    /// DyDiT fine-tuning (routers, FLOPs loss, complete-model loss) with bf16 products: finite,
    /// the routers cut work, bit-identical twice, and not the fp32 arithmetic.
    func testDyDiTFineTuningRunsInBF16() throws {
        let (_, data, routers, params) = RouterAblationTrainingTests.tinyFineTune()
        func run(_ products: TrainingProducts) throws -> (ratios: [Double], losses: [Double], weights: [UInt32]) {
            let model = try TrainableDiT(params, routers: routers, ctx: try ComputeContext(threads: 2))
            var settings = TrainingSettings()
            settings.batch = 4
            settings.adam.learningRate = 1e-2
            settings.products = products
            settings.dydit = TrainingSettings.FineTuning(lambda: LambdaSchedule(target: 0.3, holdSteps: 0, rampSteps: 1), completeModelSteps: 1)
            let trainer = try Trainer(model: model, loader: try BatchLoader(dataset: data, batch: 4, inputSize: 8, channels: 1, flip: false,
                                                                            seed: 4), settings: settings)
            var ratios: [Double] = [], losses: [Double] = []
            for _ in 0..<5 {
                let record = try trainer.trainStep()
                ratios.append(try XCTUnwrap(record.flopsRatio))
                losses.append(record.loss)
            }
            return (ratios, losses, model.parameters.entries.flatMap { model.parameters[$0.name].map(\.bitPattern) })
        }
        let bf16 = try run(.bf16), again = try run(.bf16), fp32 = try run(.fp32)
        XCTAssertTrue(bf16.losses.allSatisfy(\.isFinite), "\(bf16.losses)")
        XCTAssertTrue(bf16.ratios.allSatisfy { $0.isFinite && $0 > 0 && $0 <= 1 }, "\(bf16.ratios)")
        XCTAssertLessThan(bf16.ratios.min()!, 1, "the routers never cut any work: \(bf16.ratios)")
        XCTAssertEqual(bf16.weights, again.weights, "two bf16 fine-tunes differ")
        XCTAssertNotEqual(bf16.weights, fp32.weights, "bf16 products fine-tuned exactly as fp32 ones: they did not run")
    }
}
