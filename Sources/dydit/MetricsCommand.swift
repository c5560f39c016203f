import ArgumentParser
import DyDiTEvaluation
import DyDiTIO
import DyDiTKernels
import DyDiTTraining
import Foundation

/// Options shared by `dydit metrics` and `dydit features`: the classifier and the data folder.
struct ClassifierOptions: ParsableArguments {
    @Option(help: "Classifier weights (default: DYDIT_CLASSIFIER, else Experiments/checkpoints/fashion-mnist-classifier.safetensors).")
    var classifier: String?
    @Option(help: "Folder of the Fashion-MNIST IDX files, for fashion-mnist:… image sets.")
    var data = ImageDataset.fashionMNISTDirectory

    var path: String {
        if let classifier { return classifier }
        if let env = ProcessInfo.processInfo.environment["DYDIT_CLASSIFIER"], !env.isEmpty { return env }
        return QualityEvaluator.shippedClassifier
    }

    func load(ctx: ComputeContext) throws -> FashionClassifier {
        let p = path
        guard FileReader.exists(p) else {
            throw IOError(p, "not found: the metrics need the Fashion-MNIST classifier; run from the repository root, pass --classifier, or train one with `dydit classifier train --out \(p)`")
        }
        return try FashionClassifier.load(p, ctx: ctx)
    }
}

struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Score a set of images: FD, KID, precision/recall and class accuracy on the Fashion-MNIST classifier's features.",
        discussion: """
        INPUT and --reference are \(ImageSource.forms). Images are 28×28, or 32×32 (the DiT's \
        canvas: the centre 28×28 is used); float samples are clamped to [-1, 1] and rounded to \
        8 bits as a PNG stores them. With a dataset as INPUT, class-accuracy is the classifier's \
        accuracy on real images. The Fréchet distance is FID's formula on this classifier's \
        features — "FD (Fashion-MNIST classifier features)", not comparable with FID. Reference \
        features are cached (DYDIT_CACHE_DIR, else ~/.cache/dydit).
        """)

    @Argument(help: "The images to score.")
    var input: String
    @Option(help: "The reference set for fd, kid, precision and recall.")
    var reference = "fashion-mnist:test"
    @Option(help: "Comma-separated: \(FeatureMetrics.names.joined(separator: ","))")
    var metrics = FeatureMetrics.names.joined(separator: ",")
    @Option(help: "KID: random subsets.")
    var kidSubsets = 100
    @Option(help: "KID: images per subset (capped at the smaller set's size).")
    var kidSubsetSize = 1000
    @Option(help: "Seed of KID's subsets.")
    var seed: UInt64 = 0
    @Flag(help: "Print one JSON object: n and one key per metric (fd, kid and kid_std, precision, recall, class_accuracy).")
    var json = false
    @OptionGroup var classifierOptions: ClassifierOptions
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        try reportingErrors {
            let names = metrics.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !names.isEmpty else { throw ValidationError("--metrics is empty; choose from \(FeatureMetrics.names.joined(separator: ", "))") }
            for n in names where FeatureMetrics.named(n) == nil {
                let hint = closest(to: n, in: FeatureMetrics.names).map { " (did you mean '\($0)'?)" } ?? ""
                throw ValidationError("unknown metric '\(n)'\(hint); valid: \(FeatureMetrics.names.joined(separator: ", "))")
            }
            guard kidSubsets >= 1, kidSubsetSize >= 2 else { throw ValidationError("--kid-subsets must be ≥ 1 and --kid-subset-size ≥ 2") }
            let ctx = try compute.context()
            let evaluator = QualityEvaluator(classifier: try classifierOptions.load(ctx: ctx))
            evaluator.settings.kid.subsets = kidSubsets
            evaluator.settings.kid.subsetSize = kidSubsetSize
            evaluator.settings.kid.seed = seed
            let a = evaluator.classifier.architecture
            let samples = try ImageSource.load(input, a, dataDirectory: classifierOptions.data)
            var referenceCount: Int?
            let values = try evaluator.evaluate(samples, metrics: names) {
                let r = try ImageSource.load(reference, a, dataDirectory: classifierOptions.data)
                referenceCount = r.count
                return r
            }
            if json {
                print(jsonLine([("n", .int(Int64(samples.count)))] + values.map { ($0.key, .double($0.value)) }))
                return
            }
            print("\(samples.name): \(samples.count) images" + (referenceCount.map { "; reference \(reference): \($0) images" } ?? ""))
            print("classifier \(classifierOptions.path) (\(evaluator.classifier.fingerprint.prefix(12)))")
            for (key, value) in values { print("  " + Self.label(key, evaluator.settings).padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: "%.6g", value)) }
        }
    }

    static func label(_ key: String, _ s: MetricSettings) -> String {
        switch key {
        case "fd": return "FD (Fashion-MNIST classifier features)"
        case "kid": return "KID (mean of \(s.kid.subsets) subsets)"
        case "kid_std": return "KID standard deviation"
        case "precision": return "precision (k = \(s.neighbours))"
        case "recall": return "recall (k = \(s.neighbours))"
        case "class_accuracy": return "class accuracy"
        default: return key
        }
    }
}

struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Write the classifier's penultimate features of a set of images (F32 [N, D] under `features`).",
        discussion: """
        INPUT is \(ImageSource.forms). The file also holds `logits` (F32 [N, classes]) and, when \
        known, `classes` (I64 [N]), so the metrics can be recomputed anywhere (numpy/scipy: \
        scripts/metrics_reference.py).
        """)

    @Argument(help: "The images.")
    var input: String
    @Option(help: "Output safetensors file.")
    var out: String
    @OptionGroup var classifierOptions: ClassifierOptions
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        try reportingErrors {
            let ctx = try compute.context()
            let classifier = try classifierOptions.load(ctx: ctx)
            let set = try ImageSource.load(input, classifier.architecture, dataDirectory: classifierOptions.data)
            let (features, logits) = classifier.evaluate(set.images, count: set.count)
            var tensors = [("features", Tensor(features, shape: [set.count, classifier.architecture.featureSize])),
                           ("logits", Tensor(logits, shape: [set.count, classifier.architecture.numClasses]))]
            if let c = set.classes { tensors.append(("classes", Tensor(c.map(Int64.init), shape: [set.count]))) }
            try SafeTensorsWriter.write(tensors, metadata: ["source": set.name, "classifier": classifierOptions.path,
                                                            "classifier_fingerprint": classifier.fingerprint,
                                                            "features": "fc1 after ReLU"], to: out)
            print("wrote \(out): \(set.count) × \(classifier.architecture.featureSize) features of \(set.name)")
        }
    }
}
