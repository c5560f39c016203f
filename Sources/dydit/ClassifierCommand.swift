import ArgumentParser
import DyDiTEvaluation
import DyDiTIO
import DyDiTTraining
import Foundation

/// `dydit classifier train`: the Fashion-MNIST feature extractor that the quality metrics
/// (FD, KID, precision/recall, class accuracy) stand on.
struct ClassifierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classifier",
        abstract: "The Fashion-MNIST classifier behind the quality metrics.",
        subcommands: [ClassifierTrainCommand.self])
}

struct ClassifierTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the Fashion-MNIST classifier (a small CNN) on the train split; report test accuracy per epoch.",
        discussion: """
        Writes the weights (F32 safetensors in PyTorch's layout, architecture and training settings \
        in metadata) and a CSV log beside them (<out without .safetensors>.csv). The shipped \
        classifier, Experiments/checkpoints/fashion-mnist-classifier.safetensors, was made by the \
        defaults: dydit classifier train --out Experiments/checkpoints/fashion-mnist-classifier.safetensors
        """)

    @Option(help: "Weights file to write.")
    var out: String
    @Option(help: "Folder of the Fashion-MNIST IDX files.")
    var data = ImageDataset.fashionMNISTDirectory
    @Option(help: "Epochs over the 60k training images.")
    var epochs = 15
    @Option(help: "Images per optimiser step.")
    var batch = 128
    @Option(help: "Peak learning rate (AdamW; linear warm-up, then cosine decay to 0).")
    var lr = 1e-3
    @Option(help: "Random shift augmentation, in pixels.")
    var shift = 2
    @Option(help: "Seed (weights, shuffles, shifts).")
    var seed: UInt64 = 0
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        try reportingErrors {
            guard epochs >= 1, batch >= 1, lr > 0, lr.isFinite, (0...8).contains(shift) else {
                throw ValidationError("need --epochs ≥ 1, --batch ≥ 1, a finite --lr > 0 and --shift in 0...8")
            }
            let ctx = try compute.context()
            var settings = ClassifierTraining()
            settings.epochs = epochs
            settings.batch = batch
            settings.learningRate = lr
            settings.shift = shift
            settings.seed = seed
            let train = try ImageDataset.fashionMNIST(directory: data, split: "train")
            let test = try ImageDataset.fashionMNIST(directory: data, split: "test")
            let csvPath = (out.hasSuffix(".safetensors") ? String(out.dropLast(".safetensors".count)) : out) + ".csv"
            var rows = [ClassifierEpoch.csvHeader]
            printError("classifier: \(ClassifierArchitecture().macs / 1_000_000) M MACs per image; \(train.count) train, \(test.count) test images; \(ctx.threadCount) thread(s) on \(ctx.isa)")
            var progress: ProgressLine?
            let model = try ClassifierTrainer.train(settings, train: train, test: test, ctx: ctx, progress: { e in
                rows.append(e.csvRow)
                printError(String(format: "epoch %d: train loss %.4f, train accuracy %.4f, test accuracy %.4f (%.0f s)",
                                  e.epoch, e.trainLoss, e.trainAccuracy, e.testAccuracy, e.seconds))
                try? AtomicFile.write(rows.joined(separator: "\n") + "\n", to: csvPath)
            }, stepProgress: { step, total, loss in
                if progress == nil { progress = ProgressLine(label: "classifier", total: total) }
                progress?.update(step, detail: String(format: "loss %.4f", loss))
            })
            let accuracy = rows.last.flatMap { $0.split(separator: ",").dropFirst(4).first }.map(String.init) ?? "?"
            try model.save(to: out, metadata: ["training": settings.json.serialized(), "test_accuracy": accuracy,
                                               "dataset": "fashion-mnist (\(data))"])
            print("wrote \(out) (test accuracy \(accuracy)) and \(csvPath)")
        }
    }
}
