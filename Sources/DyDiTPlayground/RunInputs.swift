import DyDiTIO
import DyDiTTraining
#if canImport(Glibc)
import Glibc
#endif

/// Every file a run reads, by role, for its `RunKey`: the weights (the backbone's checkpoint,
/// or for a spec with a `train` section what `dydit train` exported), static router masks,
/// and with `test-loss` the held-out images. Sampler settings live in the spec itself (there is
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
        if spec.eval.metrics.contains("test-loss") {
            for path in try Self.datasetFiles(spec.eval.test.dataset) { files.append(("eval.test.dataset", path)) }
        }
        return files
    }

    /// The run's key: its resolved spec and the SHA-256 of every input file.
    public func key(for run: SpecFile.Run) throws -> RunKey {
        try RunKey(resolved: run.spec.resolved, files: inputFiles(for: run))
    }

    /// The files a dataset is read from, found the way its loader finds them: Fashion-MNIST's
    /// image and label files of the split (`.gz` first), an image folder's PNGs by class.
    static func datasetFiles(_ d: TrainSpec.Dataset) throws -> [String] {
        switch d.type {
        case "fashion-mnist":
            let prefix = d.split == "test" ? "t10k" : "train"
            return try ["images-idx3-ubyte", "labels-idx1-ubyte"].map { stem in
                let candidates = ["\(d.path)/\(prefix)-\(stem).gz", "\(d.path)/\(prefix)-\(stem)"]
                guard let found = candidates.first(where: FileReader.exists) else {
                    throw IOError(candidates[0], "not found: eval.test.dataset names the Fashion-MNIST \(d.split) split in \(d.path)")
                }
                return found
            }
        default:
            var files: [String] = []
            for cls in try listing(d.path) where FileReader.isDirectory("\(d.path)/\(cls)") {
                files += try listing("\(d.path)/\(cls)").filter { $0.lowercased().hasSuffix(".png") }.map { "\(d.path)/\(cls)/\($0)" }
            }
            return files
        }
    }

    /// Visible names in a folder, sorted.
    private static func listing(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw IOError(path, "cannot be listed: \(String(cString: strerror(errno)))") }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix(".") { names.append(name) }
        }
        return names.sorted()
    }
}
