import DyDiTIO
import DyDiTKernels
import DyDiTTraining
import Foundation

/// Trains the classifier on a labelled image set: AdamW with a linear warm-up then cosine
/// decay to zero, random shifts of up to `shift` pixels (black fill) as the only
/// augmentation. No flips: Fashion-MNIST's shoes all face left, and features blind to
/// mirroring would let a generator that mirrors shoes go unnoticed.
public struct ClassifierTraining: Sendable {
    public var epochs = 15
    public var batch = 128
    public var learningRate = 1e-3
    public var weightDecay = 5e-4
    public var warmupSteps = 200
    public var shift = 2
    public var seed: UInt64 = 0
    public init() {}

    public var json: JSONValue {
        .object(JSONObject([("epochs", .int(Int64(epochs))), ("batch", .int(Int64(batch))), ("lr", .double(learningRate)),
                            ("weight_decay", .double(weightDecay)), ("warmup_steps", .int(Int64(warmupSteps))),
                            ("shift", .int(Int64(shift))), ("seed", .int(Int64(seed)))]))
    }

    /// The learning rate of optimiser step `step` of `total`.
    public func rate(step: Int, total: Int) -> Double {
        if step < warmupSteps { return learningRate * Double(step + 1) / Double(warmupSteps) }
        let progress = Double(step - warmupSteps) / Double(max(1, total - warmupSteps))
        return learningRate * 0.5 * (1 + cos(Double.pi * min(1, progress)))
    }
}

/// One epoch's record.
public struct ClassifierEpoch: Sendable {
    public let epoch: Int
    public let step: Int
    public let trainLoss: Double
    public let trainAccuracy: Double
    public let testAccuracy: Double
    public let learningRate: Double
    public let seconds: Double

    public static let csvHeader = "epoch,step,train_loss,train_accuracy,test_accuracy,lr,elapsed_s"
    public var csvRow: String {
        String(format: "%d,%d,%.6f,%.5f,%.5f,%.6g,%.1f", epoch, step, trainLoss, trainAccuracy, testAccuracy, learningRate, seconds)
    }
}

public enum ClassifierTrainer {
    /// Trains a new classifier on `train` and reports test accuracy on `test` after each epoch.
    public static func train(_ settings: ClassifierTraining, train: ImageDataset, test: ImageDataset, ctx: ComputeContext,
                             progress: (ClassifierEpoch) -> Void = { _ in }, stepProgress: (Int, Int, Double) -> Void = { _, _, _ in })
        throws -> FashionClassifier
    {
        let model = FashionClassifier.initialized(seed: settings.seed, ctx: ctx)
        let a = model.architecture
        try ClassifierInput.check(train, a)
        try ClassifierInput.check(test, a)
        let grads = model.parameters.zerosLike()
        var adam = AdamW.Settings()
        adam.weightDecay = settings.weightDecay
        let optimizer = AdamW(like: model.parameters, settings: adam)
        let ws = ClassifierWorkspace(a, capacity: settings.batch)
        let perEpoch = train.count / settings.batch
        let total = perEpoch * settings.epochs
        var rng = RandomGenerator(seed: settings.seed &+ 1)
        let testImages = ClassifierInput.images(test, a)
        let start = ContinuousClock.now
        var step = 0
        var images = [Float](repeating: -1, count: settings.batch * a.inputSize * a.inputSize)
        for epoch in 1...settings.epochs {
            var order = Array(0..<train.count)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
            var lossSum = 0.0, correct = 0
            for b in 0..<perEpoch {
                let indices = Array(order[(b * settings.batch)..<((b + 1) * settings.batch)])
                ClassifierInput.shiftedBatch(train, indices: indices, maxShift: settings.shift, rng: &rng, a, into: &images)
                let labels = indices.map { train.labels[$0] }
                images.withUnsafeBufferPointer { model.forward($0.baseAddress!, batch: settings.batch, ws) }
                let (loss, ok) = model.backward(labels: labels, ws, grads: grads)
                guard loss.isFinite else {
                    throw TrainingError.data("the classifier's loss became \(loss) at step \(step + 1): lower the learning rate")
                }
                let lr = settings.rate(step: step, total: total)
                optimizer.update(model.parameters, gradients: grads, learningRate: lr, ctx: ctx)
                lossSum += loss
                correct += ok
                step += 1
                stepProgress(step, total, loss)
            }
            let logits = model.evaluate(testImages, count: test.count).logits
            let testCorrect = zip(model.predictions(logits), test.labels).filter { $0 == $1 }.count
            let elapsed = ContinuousClock.now - start
            progress(ClassifierEpoch(epoch: epoch, step: step, trainLoss: lossSum / Double(perEpoch),
                                     trainAccuracy: Double(correct) / Double(perEpoch * settings.batch),
                                     testAccuracy: Double(testCorrect) / Double(test.count),
                                     learningRate: settings.rate(step: step - 1, total: total),
                                     seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18))
        }
        return model
    }
}
