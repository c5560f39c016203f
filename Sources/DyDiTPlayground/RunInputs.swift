import DyDiTDiffusion
import DyDiTIO

/// Every file a run reads, by role, for its `RunKey`: the weights (the backbone's checkpoint,
/// or for a spec with a `train` section what `dydit train` exported), static router masks,
/// TeaCache's fitted coefficients, L2C's trained routers, and with `test-loss` the held-out images. Sampler settings live in the spec itself (there is
/// no scheduler-config file in a spec), so the resolved spec covers them.
extension ExperimentRunner {
    public func inputFiles(for run: SpecFile.Run) throws -> [(role: String, path: String)] {
        let spec = run.spec
        var files: [(role: String, path: String)] = []
        if let weights = try weights(for: run) {
            files.append((spec.train == nil ? "backbone.checkpoint" : "train: ema.safetensors", weights))
        }
        if let dense = spec.eval.denseCheckpoint { files.append(("eval.dense_checkpoint", spec.resolvePath(dense))) }
        for (role, choice) in [("routers.width.file", spec.width), ("routers.token.file", spec.token)] {
            if let file = choice.options.string("file") { files.append((role, spec.resolvePath(file))) }
        }
        if spec.cache.type == TeaCachePlugin.name,
           let file = TeaCachePlugin.coefficientsFile(spec.cache.options.values, context: spec.stepCacheContext(weights: try weights(for: run))) {
            files.append(("cache.coefficients", file))
        }
        if spec.cache.type == LearningToCachePlugin.name,
           let file = LearningToCachePlugin.routersFile(spec.cache.options.values, context: spec.stepCacheContext(weights: try weights(for: run))) {
            files.append(("cache.routers", file))
        }
        if spec.eval.metrics.contains("test-loss") {
            for path in try Registry.dataset(spec.eval.test.dataset.type)!.files(spec.eval.test.dataset) { files.append(("eval.test.dataset", path)) }
        }
        return files
    }

    /// The run's key: its resolved spec and the SHA-256 of every input file.
    public func key(for run: SpecFile.Run) throws -> RunKey {
        try RunKey(resolved: run.spec.resolved, files: inputFiles(for: run))
    }
}
