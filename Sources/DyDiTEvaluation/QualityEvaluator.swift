import DyDiTIO
import DyDiTKernels
import Foundation

/// Scores image sets with the classifier and computes the metrics asked for. Reference sets'
/// features are cached on disk (`cacheDirectory`), keyed by the classifier's weights and the
/// reference images, so a sweep computes them once.
public final class QualityEvaluator {
    public let classifier: FashionClassifier
    public let cacheDirectory: String?
    public var settings = MetricSettings()

    public init(classifier: FashionClassifier, cacheDirectory: String? = QualityEvaluator.defaultCacheDirectory) {
        self.classifier = classifier
        self.cacheDirectory = cacheDirectory
    }

    /// The shipped classifier's path, relative to the repository root.
    public static let shippedClassifier = "Experiments/checkpoints/fashion-mnist-classifier.safetensors"

    /// `DYDIT_CACHE_DIR`, else `$XDG_CACHE_HOME/dydit`, else `~/.cache/dydit` (nil: no cache).
    public static var defaultCacheDirectory: String? {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["DYDIT_CACHE_DIR"], !dir.isEmpty { return dir }
        if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty { return "\(xdg)/dydit" }
        if let home = env["HOME"], !home.isEmpty { return "\(home)/.cache/dydit" }
        return nil
    }

    /// Features, logits and predictions of `set`.
    public func score(_ set: ImageSet) -> ScoredSet {
        let (features, logits) = classifier.evaluate(set.images, count: set.count)
        return ScoredSet(name: set.name, features: FeatureSet(features, dim: classifier.architecture.featureSize),
                         predictions: classifier.predictions(logits), classes: set.classes)
    }

    /// `score`, through the on-disk cache. Returns the scored set and whether it was cached.
    public func scoreReference(_ set: ImageSet) throws -> (ScoredSet, cached: Bool) {
        guard let dir = cacheDirectory else { return (score(set), false) }
        let key = Array((classifier.fingerprint + set.fingerprint).utf8).withUnsafeBytes { ContentHash.hex(of: $0) }
        let path = "\(dir)/reference-features-\(key).safetensors"
        let d = classifier.architecture.featureSize
        if FileReader.exists(path), let file = try? SafeTensorsFile(path: path), file.metadata["key"] == key,
           let f = try? file.floats("features", shape: [set.count, d]), let p = try? file.tensor("predictions"), p.shape == [set.count] {
            return (ScoredSet(name: set.name, features: FeatureSet(f, dim: d), predictions: p.integers().map { Int($0) },
                              classes: set.classes), true)
        }
        let scored = score(set)
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // A cache that cannot be written is not an error: the next run computes them again.
        try? SafeTensorsWriter.write([("features", Tensor(scored.features.values.map { Float($0) }, shape: [set.count, d])),
                                      ("predictions", Tensor(scored.predictions.map(Int64.init), shape: [set.count]))],
                                     metadata: ["key": key, "reference": set.name, "classifier": classifier.fingerprint], to: path)
        return (scored, false)
    }

    /// The metrics `names` (see `FeatureMetrics`) of `samples` against `reference`, which is
    /// loaded and scored only if a metric needs it. Values in the order of `names`.
    public func evaluate(_ samples: ImageSet, metrics names: [String], reference: @escaping () throws -> ImageSet) throws -> [(key: String, value: Double)] {
        let plugins = try names.map { name -> Metric.Type in
            guard let m = FeatureMetrics.named(name) else {
                throw MetricError("unknown metric '\(name)'; the classifier metrics are \(FeatureMetrics.names.joined(separator: ", "))")
            }
            return m
        }
        let context = MetricContext(samples: score(samples), settings: settings, ctx: classifier.ctx) { [self] in
            try scoreReference(try reference()).0
        }
        var out: [(key: String, value: Double)] = []
        for m in plugins { out += try m.evaluate(context) }
        return out
    }
}
