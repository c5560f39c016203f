import ArgumentParser
import DyDiTEvaluation
import DyDiTIO
import DyDiTKernels

/// `dydit bench metrics`: what scoring a set of samples costs — the classifier's features
/// of N images, then FD against a reference set's features (moments and the eigensolver),
/// KID and precision/recall; and the eigensolver alone at one size.
struct BenchMetrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Time the quality metrics: features of N images, FD (moments + eigendecompositions), KID, precision/recall, the eigensolver at D.")

    @Option(help: "Images scored (the first N of the Fashion-MNIST test split; the reference is the whole test split).")
    var images: Int = 10_000
    @Option(help: "Size of the symmetric matrix for the eigensolver alone.")
    var eigenSize: Int = 256
    @Flag(help: "Also time KID (100 subsets) and precision/recall.")
    var all = false
    @OptionGroup var classifierOptions: ClassifierOptions
    @OptionGroup var compute: ComputeOptions
    @OptionGroup var repetitions: RepetitionOptions

    func run() throws {
        try reportingErrors {
            guard (2...10_000).contains(images), (1...2048).contains(eigenSize) else {
                throw ValidationError("--images must be in 2…10000 and --eigen-size in 1…2048")
            }
            let ctx = try compute.context()
            let classifier = try classifierOptions.load(ctx: ctx)
            let set = try ImageSource.load("fashion-mnist:test:\(images)", classifier.architecture, dataDirectory: classifierOptions.data)
            let reference = try ImageSource.load("fashion-mnist:test", classifier.architecture, dataDirectory: classifierOptions.data)
            let d = classifier.architecture.featureSize
            let referenceFeatures = FeatureSet(classifier.evaluate(reference.images, count: reference.count).features, dim: d)
            let referenceGaussian = FrechetDistance.Gaussian(referenceFeatures)
            var fd = 0.0
            // Features and FD together: what scoring N new samples against a cached reference costs.
            let scoring = repetitions.measure {
                let features = FeatureSet(classifier.evaluate(set.images, count: set.count).features, dim: d)
                fd = FrechetDistance.distance(FrechetDistance.Gaussian(features), referenceGaussian)
            }
            let features = FeatureSet(classifier.evaluate(set.images, count: set.count).features, dim: d)
            let fdOnly = repetitions.measure {
                fd = FrechetDistance.distance(FrechetDistance.Gaussian(features), referenceGaussian)
            }
            var rng = RandomGenerator(seed: 1)
            let g = (0..<(eigenSize * eigenSize)).map { _ in Double(rng.normal()) }
            var sym = [Double](repeating: 0, count: eigenSize * eigenSize)
            for i in 0..<eigenSize { for j in 0..<eigenSize { sym[i * eigenSize + j] = g[i * eigenSize + j] + g[j * eigenSize + i] } }
            let eigen = repetitions.measure { _ = SymmetricEigen(sym, n: eigenSize) }
            var kid: [Double] = [], pr: [Double] = []
            if all {
                kid = repetitions.measure { _ = KernelDistance.compute(referenceFeatures, features, ctx: ctx) }
                pr = repetitions.measure { _ = PrecisionRecall.compute(real: referenceFeatures, fake: features, ctx: ctx) }
            }
            let macs = Double(classifier.architecture.macs) * Double(images)
            if repetitions.json {
                var pairs: [(String, JSONValue)] = [
                    ("images", .int(Int64(images))), ("features_and_fd_ms", .double(median(scoring))), ("fd_ms", .double(median(fdOnly))),
                    ("eigen_size", .int(Int64(eigenSize))), ("eigen_ms", .double(median(eigen))), ("fd", .double(fd)),
                    ("features_gmac_per_s", .double(macs / ((median(scoring) - median(fdOnly)) * 1e6))),
                    ("isa", .string(ctx.isa.rawValue)), ("threads", .int(Int64(ctx.threadCount))),
                ]
                if all { pairs += [("kid_ms", .double(median(kid))), ("precision_recall_ms", .double(median(pr)))] }
                print(jsonLine(pairs))
            } else {
                print(String(format: "%d images on %@, %d thread(s): features + FD %.0f ms (FD alone %.0f ms), eigensolver D=%d %.1f ms%@; FD %.4f",
                             images, ctx.isa.rawValue, ctx.threadCount, median(scoring), median(fdOnly), eigenSize, median(eigen),
                             all ? String(format: ", KID %.0f ms, precision/recall %.0f ms", median(kid), median(pr)) : "", fd))
            }
        }
    }
}
