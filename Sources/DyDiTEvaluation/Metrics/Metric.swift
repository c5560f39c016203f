import DyDiTIO
import DyDiTKernels

/// A set of images as the classifier sees it: features, logits, predicted classes, and the
/// classes the images were asked for (generated) or carry (real), when known.
public struct ScoredSet: Sendable {
    public let name: String
    public let features: FeatureSet
    public let predictions: [Int]
    public let classes: [Int]?
    public var count: Int { features.count }

    public init(name: String, features: FeatureSet, predictions: [Int], classes: [Int]?) {
        self.name = name
        self.features = features
        self.predictions = predictions
        self.classes = classes
    }
}

/// Settings of the distribution metrics (torch-fidelity's and NVlabs' defaults).
public struct MetricSettings: Sendable {
    public var kid = KernelDistance.Settings()
    /// Nearest neighbours of the precision/recall manifolds.
    public var neighbours = 3
    public init() {}
}

/// What a metric reads: the samples, the reference set (computed on first use), shared
/// results (precision and recall come from one computation), and the threads to use.
public final class MetricContext {
    public let samples: ScoredSet
    public let settings: MetricSettings
    public let ctx: ComputeContext
    private let loadReference: () throws -> ScoredSet
    private var cachedReference: ScoredSet?
    var precisionRecall: PrecisionRecall.Result?

    public init(samples: ScoredSet, settings: MetricSettings = MetricSettings(), ctx: ComputeContext,
                reference: @escaping () throws -> ScoredSet) {
        self.samples = samples
        self.settings = settings
        self.ctx = ctx
        loadReference = reference
    }

    public func reference() throws -> ScoredSet {
        if let r = cachedReference { return r }
        let r = try loadReference()
        cachedReference = r
        return r
    }
}

/// A quality metric on the Fashion-MNIST classifier's view of a set of images: a plug-in
/// chosen by name in `eval.metrics` and `dydit metrics --metrics`, listed by `dydit list`.
public protocol Metric: NamedPlugin {
    /// The values it reports, by their keys in `metrics.json` and `--json` (e.g. `kid`, `kid_std`).
    static func evaluate(_ c: MetricContext) throws -> [(key: String, value: Double)]
}

extension Metric {
    /// Their settings are the run's (`eval.reference`, `eval.classifier`, `eval.seeds`).
    public static var options: [PluginOption] { [] }
}

/// Every metric on classifier features, in the order they are reported.
public enum FeatureMetrics {
    public static let all: [Metric.Type] = [FDMetric.self, KIDMetric.self, PrecisionMetric.self, RecallMetric.self, ClassAccuracyMetric.self]
    public static var names: [String] { all.map { $0.name } }
    public static func named(_ name: String) -> Metric.Type? { all.first { $0.name == name } }
}

public enum FDMetric: Metric {
    public static let name = "fd"
    public static let summary = "FD (Fashion-MNIST classifier features): the Fréchet distance between Gaussians fitted to the penultimate features of the samples and of the reference set (eval.reference; default the Fashion-MNIST test split)"
    public static func evaluate(_ c: MetricContext) throws -> [(key: String, value: Double)] {
        let r = try c.reference()
        guard c.samples.count >= 2, r.count >= 2 else { throw MetricError("fd needs at least 2 images in each set (samples \(c.samples.count), reference \(r.count))") }
        let d = FrechetDistance.distance(FrechetDistance.Gaussian(c.samples.features), FrechetDistance.Gaussian(r.features))
        return [("fd", d)]
    }
}

public enum KIDMetric: Metric {
    public static let name = "kid"
    public static let summary = "KID on the same features: unbiased MMD² with the kernel (xᵀy/d + 1)³, mean and std over 100 random subsets of 1000 (or the smaller set's size), seeded"
    public static func evaluate(_ c: MetricContext) throws -> [(key: String, value: Double)] {
        let r = try c.reference()
        guard c.samples.count >= 2, r.count >= 2 else { throw MetricError("kid needs at least 2 images in each set (samples \(c.samples.count), reference \(r.count))") }
        let k = KernelDistance.compute(r.features, c.samples.features, c.settings.kid, ctx: c.ctx)
        return [("kid", k.mean), ("kid_std", k.std)]
    }
}

enum PrecisionRecallShared {
    static func result(_ c: MetricContext) throws -> PrecisionRecall.Result {
        if let pr = c.precisionRecall { return pr }
        let r = try c.reference()
        let k = c.settings.neighbours
        guard c.samples.count > k, r.count > k else {
            throw MetricError("precision and recall with k = \(k) need more than \(k) images in each set (samples \(c.samples.count), reference \(r.count))")
        }
        let pr = PrecisionRecall.compute(real: r.features, fake: c.samples.features, k: k, ctx: c.ctx)
        c.precisionRecall = pr
        return pr
    }
}

public enum PrecisionMetric: Metric {
    public static let name = "precision"
    public static let summary = "improved precision (Kynkäänniemi et al. 2019, k = 3): the share of samples inside the reference set's manifold"
    public static func evaluate(_ c: MetricContext) throws -> [(key: String, value: Double)] {
        [("precision", try PrecisionRecallShared.result(c).precision)]
    }
}

public enum RecallMetric: Metric {
    public static let name = "recall"
    public static let summary = "improved recall (k = 3): the share of reference images inside the samples' manifold"
    public static func evaluate(_ c: MetricContext) throws -> [(key: String, value: Double)] {
        [("recall", try PrecisionRecallShared.result(c).recall)]
    }
}

public enum ClassAccuracyMetric: Metric {
    public static let name = "class-accuracy"
    public static let summary = "the share of class-conditional samples the classifier assigns to the class they were asked for (on real images: the classifier's accuracy)"
    public static func evaluate(_ c: MetricContext) throws -> [(key: String, value: Double)] {
        guard let classes = c.samples.classes else {
            throw MetricError("class-accuracy needs the classes the images were asked for (a samples file's `classes` tensor, or a labelled dataset); \(c.samples.name) has none")
        }
        let right = zip(c.samples.predictions, classes).filter { $0 == $1 }.count
        return [("class_accuracy", Double(right) / Double(max(1, classes.count)))]
    }
}

public struct MetricError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
