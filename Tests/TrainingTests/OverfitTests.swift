import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTTraining
import ReferenceSupport
import XCTest

/// Training learns: gradient parity shows one step's gradients are right, not that the loop
/// around them (loss → clip → AdamW → EMA, batches, generator) makes a model better. A tiny
/// DiT trained by the real `Trainer` on one fixed batch must fit it.
final class OverfitTests: XCTestCase {
    /// Four 8×8 gray images, and the same timesteps and noise at every step: the trainer's
    /// generator and the loader's position are put back before each `trainStep`, so the loss
    /// is a function of the weights alone and must fall by 10× or more (from ~1, the MSE of a
    /// zero eps prediction under DiT's zero-initialised final layer). learn_sigma on, so the
    /// VLB term and the variance channels train too.
    func testTinyModelOverfitsAFixedBatch() throws {
        let losses = try Self.fitFixedBatch().losses
        let first = losses[0], last = losses.suffix(5).reduce(0, +) / 5
        print(String(format: "overfitting one batch: loss %.4f → %.4f (mean of the last 5) after %d steps, %.1f× lower",
                     first, last, Self.steps, first / last))
        XCTAssertTrue(first.isFinite && last.isFinite, "losses \(first), \(last)")
        XCTAssertGreaterThanOrEqual(first / last, 10, "the loss on a fixed batch fell only from \(first) to \(last)")
    }

    static let steps = 300

    /// `steps` steps of the real `Trainer` on the fixed batch (the generator and the loader put
    /// back before each), with the linear layers' products in `products`: the losses, and the
    /// model as it ends.
    static func fitFixedBatch(products: TrainingProducts = .fp32) throws -> (losses: [Double], model: TrainableDiT) {
        let config = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 1, hiddenSize: 32, depth: 2, numHeads: 2,
                               numClasses: 2, learnSigma: true)
        let ctx = try ComputeContext(threads: 2)
        let model = try TrainableDiT(DiTParameters.initialized(config, seed: 4), ctx: ctx)
        var rng = RandomGenerator(seed: 5)
        let pixels = (0..<(4 * 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let data = ImageDataset(name: "fixed batch", width: 8, height: 8, channels: 1, pixels: pixels, labels: [0, 1, 0, 1],
                                classNames: ["a", "b"])
        var settings = TrainingSettings()
        settings.batch = 4
        settings.labelDropout = 0
        settings.adam.learningRate = 3e-3
        settings.seed = 6
        settings.products = products
        let trainer = try Trainer(model: model, loader: try BatchLoader(dataset: data, batch: 4, inputSize: 8, channels: 1,
                                                                         flip: false, seed: 7), settings: settings)
        XCTAssertEqual(model.products, products)
        let start = trainer.rng
        var losses: [Double] = []
        for _ in 0..<steps {
            trainer.rng = start
            trainer.loader.seek(epoch: 0, batch: 0)
            losses.append(try trainer.trainStep().loss)
        }
        return (losses, model)
    }
}
