import DyDiTEvaluation
import DyDiTIO
import DyDiTModels

extension ExperimentSpec.Eval {
    /// The `eval` section: what a run samples and measures. `routed`: the run has routers, so a
    /// dense baseline is on by default.
    /// `runSampler`: the run's resolved `sampler`, which `eval.dense_sampler` defaults to.
    static func decode(_ value: JSONValue?, _ d: SpecDecoder, config: DiTConfig, modelKnown: Bool, routed: Bool, files: SpecFiles,
                       runSampler: JSONValue)
        -> (ExperimentSpec.Eval, JSONValue) {
        let ePath = "$.eval"
        let e = d.object(value, ePath, allowed: ["metrics", "samples", "classes", "batch", "dense_baseline", "dense_checkpoint", "dense_sampler", "timing",
                                                        "test", "reference", "classifier", "seeds"])
        let metrics = d.stringArray(e, "metrics", ePath, default: Registry.defaultMetrics, allowed: Registry.metrics.map { $0.name })
        let samples = d.int(e, "samples", ePath, default: 8, range: 1...100_000)
        let maxLabel = config.numClasses - 1
        var classes = d.intArray(e, "classes", ePath, default: nil) ?? Array(0..<min(samples, config.numClasses))
        if classes.isEmpty { d.error(JSONLocator.child(ePath, "classes"), "is empty; give at least one class"); classes = [0] }
        for (i, label) in classes.enumerated() where label < 0 || label > maxLabel {
            d.error(JSONLocator.element(JSONLocator.child(ePath, "classes"), i), "class \(label) is outside 0…\(maxLabel)")
        }
        let batch = d.int(e, "batch", ePath, default: min(samples, 8), range: 1...4096)
        // `dense_sampler`: the dense baseline's own sampler — a fewer-steps run is timed against
        // the sampler it replaces (and so has a baseline by default). Equal to the run's it
        // changes nothing, and is dropped from the resolved spec.
        let denseSampler = e?["dense_sampler"].map {
            ExperimentSpec.decodeSampler($0, d, config: config, path: JSONLocator.child(ePath, "dense_sampler"))
        }.flatMap { $0.json == runSampler ? nil : $0 }
        let dense = d.bool(e, "dense_baseline", ePath, default: routed || denseSampler != nil)
        let denseCheckpoint = d.optionalString(e, "dense_checkpoint", ePath)
        if let denseCheckpoint {
            if !dense {
                d.error(JSONLocator.child(ePath, "dense_checkpoint"), "needs a dense baseline: routers and eval.dense_baseline true")
            } else if files.check && !FileReader.exists(files.resolve(denseCheckpoint)) {
                d.error(JSONLocator.child(ePath, "dense_checkpoint"), "\(files.resolve(denseCheckpoint)) does not exist: give the dense base model's weights (.safetensors), or leave it out to run the run's own weights dense")
            }
        }
        if denseSampler != nil && !dense {
            d.error(JSONLocator.child(ePath, "dense_sampler"), "samples the dense baseline, which eval.dense_baseline false turns off; drop one of them")
        }
        let timingPath = JSONLocator.child(ePath, "timing")
        let timingObject = d.object(e?["timing"], timingPath, allowed: ["rounds", "images"])
        let timingRounds = d.int(timingObject, "rounds", timingPath, default: 5, range: 1...1000)
        let timingImages: Int? = timingObject?["images"].flatMap { $0 == .null ? nil : d.int(timingObject, "images", timingPath, default: samples, range: 1...100_000) }
        let tPath = JSONLocator.child(ePath, "test")
        let tObj = d.object(e?["test"], tPath, allowed: ["dataset", "images", "timesteps"])
        let testData = DatasetChoice.decode(tObj?["dataset"], JSONLocator.child(tPath, "dataset"), d, split: "test",
                                            pathNeeded: metrics.contains("test-loss"))
        let testImages = d.int(tObj, "images", tPath, default: 256, range: 1...1_000_000)
        let testSteps = d.int(tObj, "timesteps", tPath, default: 10, range: 1...999)
        let test = ExperimentSpec.TestSet(dataset: testData, images: testImages, timesteps: testSteps)
        let featureMetrics = metrics.filter { FeatureMetrics.named($0) != nil }
        let reference = d.string(e, "reference", ePath, default: "fashion-mnist:test")
        let classifier = d.optionalString(e, "classifier", ePath) ?? ClassifierLocation.defaultPath(specDirectory: files.baseDirectory)
        let seeds = d.int(e, "seeds", ePath, default: 1, range: 1...100)
        if !featureMetrics.isEmpty && files.check {
            if !FileReader.exists(files.resolve(classifier)) {
                d.error(JSONLocator.child(ePath, "classifier"), "\(files.resolve(classifier)) does not exist: \(featureMetrics.joined(separator: ", ")) need the Fashion-MNIST classifier (Experiments/checkpoints/fashion-mnist-classifier.safetensors, or `dydit classifier train`)")
            }
            if !reference.hasPrefix("fashion-mnist:") && !FileReader.exists(files.resolve(reference)) {
                d.error(JSONLocator.child(ePath, "reference"), "\(files.resolve(reference)) does not exist; a reference is \(ImageSource.forms)")
            }
            if modelKnown && (config.inChannels != 1 || (config.inputSize != 28 && config.inputSize != 32)) {
                d.error(JSONLocator.child(ePath, "metrics"), "\(featureMetrics.joined(separator: ", ")) score 28×28 or 32×32 gray images with the Fashion-MNIST classifier; this model draws \(config.inputSize)×\(config.inputSize)×\(config.inChannels)")
            }
        }
        var timingJSON = JSONObject([("rounds", JSONValue.int(Int64(timingRounds)))])
        // `images` and `dense_checkpoint` only when given: earlier runs keep their keys.
        if let timingImages { timingJSON["images"] = .int(Int64(timingImages)) }
        var evalJSON = JSONObject([("metrics", .array(metrics.map { .string($0) })), ("samples", .int(Int64(samples))),
                                   ("classes", .array(classes.map { .int(Int64($0)) })), ("batch", .int(Int64(batch))),
                                   ("dense_baseline", .bool(dense))])
        if let denseCheckpoint { evalJSON["dense_checkpoint"] = .string(denseCheckpoint) }
        if let denseSampler { evalJSON["dense_sampler"] = denseSampler.json }
        evalJSON["timing"] = .object(timingJSON)
        evalJSON["test"] = .object(JSONObject([
            ("dataset", testData.resolvedJSON),
            ("images", .int(Int64(testImages))), ("timesteps", .int(Int64(testSteps)))]))
        evalJSON["reference"] = .string(reference)
        evalJSON["classifier"] = .string(classifier)
        evalJSON["seeds"] = .int(Int64(seeds))
        return (ExperimentSpec.Eval(metrics: metrics, samples: samples, classes: classes, batch: batch, denseBaseline: dense,
                     timingRounds: timingRounds, timingImages: timingImages, denseCheckpoint: denseCheckpoint,
                     denseSampler: denseSampler?.choice,
                     test: test,
                     reference: reference, classifier: classifier, seeds: seeds), .object(evalJSON))

    }
}
