import DyDiTEvaluation
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import Foundation

/// A run's classifier metrics (`fd`, `kid`, `precision`, `recall`, `class-accuracy`): each
/// sampling seed's images scored against `eval.reference`, then the mean over the seeds and,
/// with several, their standard deviation (ddof 1) and the values per seed.
final class RunQuality {
    private var cached: (path: String, evaluator: QualityEvaluator)?

    /// The start noise and the noise seed of sampling seed `index` (0 is the run's own).
    static func noise(spec: ExperimentSpec, index: Int, values: Int) -> (xT: [Float], noiseSeed: UInt64) {
        var rng = RandomGenerator(seed: index == 0 ? spec.seed : spec.seed ^ (0x9E37_79B9_7F4A_7C15 &* UInt64(index)))
        let xT = rng.normals(values)
        return (xT, rng.next())
    }

    func evaluate(_ spec: ExperimentSpec, sets: [[Float]], labels: [Int], config c: DiTConfig, ctx: ComputeContext,
                  say: (String) -> Void) throws -> JSONObject {
        let names = spec.eval.metrics.filter { FeatureMetrics.named($0) != nil }
        let path = spec.resolvePath(spec.eval.classifier)
        if cached?.path != path { cached = (path, QualityEvaluator(classifier: try FashionClassifier.load(path, ctx: ctx))) }
        let evaluator = cached!.evaluator
        let a = evaluator.classifier.architecture
        var referenceImages = 0
        let reference = spec.eval.reference.hasPrefix("fashion-mnist:") ? spec.eval.reference : spec.resolvePath(spec.eval.reference)
        var perSeed: [String: [Double]] = [:], order: [String] = []
        let clock = ContinuousClock(), start = clock.now
        for (s, samples) in sets.enumerated() {
            let set = ImageSet(name: "seed \(s)", count: labels.count,
                               images: try ClassifierInput.images(samples: samples, count: labels.count, channels: c.inChannels,
                                                                  side: c.inputSize, a, source: "the run's samples (seed \(s))"),
                               classes: labels.allSatisfy { $0 < a.numClasses } ? labels : nil)
            for (key, value) in try evaluator.evaluate(set, metrics: names, reference: {
                let r = try ImageSource.load(reference, a)
                referenceImages = r.count
                return r
            }) {
                if perSeed[key] == nil { order.append(key) }
                perSeed[key, default: []].append(value)
            }
        }
        var out = JSONObject()
        out["classifier_metrics_images"] = .int(Int64(labels.count))
        out["classifier_metrics_seeds"] = .int(Int64(sets.count))
        out["reference"] = .string(spec.eval.reference)
        if referenceImages > 0 { out["reference_images"] = .int(Int64(referenceImages)) }
        out["classifier"] = .string(evaluator.classifier.fingerprint)
        if perSeed["fd"] != nil { out["fd_name"] = .string("FD (Fashion-MNIST classifier features)") }
        var line: [String] = []
        for key in order {
            let v = perSeed[key]!
            let mean = v.reduce(0, +) / Double(v.count)
            out[key] = .double(mean)
            var text = String(format: "%@ %.5g", key, mean)
            // A within-seed spread (kid_std, over KID's subsets) is averaged, not spread again.
            if v.count > 1 && !key.hasSuffix("_std") {
                let std = (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count - 1)).squareRoot()
                out["\(key)_seed_std"] = .double(std)
                out["\(key)_per_seed"] = .array(v.map { .double($0) })
                text += String(format: " ± %.2g", std)
            }
            line.append(text)
        }
        say("classifier metrics (\(labels.count) images × \(sets.count) seed(s) against \(spec.eval.reference), \(String(format: "%.1f", DyDiTIO.seconds(clock.now - start))) s): " + line.joined(separator: ", "))
        return out
    }
}
