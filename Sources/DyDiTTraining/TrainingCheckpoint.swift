import DyDiTIO
import DyDiTModels

/// A training run's whole state in one safetensors file, written atomically: the weights
/// (`model/<name>`), the EMA (`ema/<name>`), AdamW's moments (`adam.m/`, `adam.v/`, trainable
/// tensors only), and in the metadata the step, the optimiser's step, the generator's state,
/// the data position, the model config and the resolved spec. Restoring it into a trainer
/// built from the same spec continues the run bit-identically.
public enum TrainingCheckpoint {
    public static let format = "dydit.swift/train-1"

    /// `extra` metadata is stored as it is (the runner keeps its log window there).
    public static func save(_ trainer: Trainer, spec: String, extra: [String: String] = [:], to path: String) throws {
        let m = trainer.model
        var tensors = m.parameters.namedTensors(prefix: "model/") + trainer.ema.namedTensors(prefix: "ema/")
        for e in m.parameters.entries where e.trainable {
            tensors.append(("adam.m/" + e.name, Tensor(trainer.optimizer.firstMoment[e.name], shape: e.shape)))
            tensors.append(("adam.v/" + e.name, Tensor(trainer.optimizer.secondMoment[e.name], shape: e.shape)))
        }
        let metadata = extra.merging([
            "format": format,
            "config": m.config.json.serialized(),
            "router_format": m.routerFormat?.rawValue ?? "none",
            "step": "\(trainer.step)",
            "adam_step": "\(trainer.optimizer.step)",
            "rng": trainer.rng.savedState.map { String($0, radix: 16) }.joined(separator: ","),
            "epoch": "\(trainer.loader.epoch)",
            "batch_in_epoch": "\(trainer.loader.batchInEpoch)",
            "spec": spec,
        ]) { _, own in own }
        try SafeTensorsWriter.write(tensors, metadata: metadata, to: path)
    }

    /// The step, spec and metadata a checkpoint holds, without loading its tensors.
    public static func peek(_ path: String) throws -> (step: Int, spec: String, metadata: [String: String]) {
        let file = try SafeTensorsFile(path: path)
        guard file.metadata["format"] == format, let step = file.metadata["step"].flatMap(Int.init) else {
            throw TrainingError.checkpoint(path: path, "is not a training checkpoint of this tool (metadata format '\(file.metadata["format"] ?? "none")', expected '\(format)')")
        }
        return (step, file.metadata["spec"] ?? "", file.metadata)
    }

    /// Loads the state into `trainer`, which must have the same model layout.
    public static func restore(_ trainer: Trainer, from path: String) throws {
        let file = try SafeTensorsFile(path: path)
        func fail(_ message: String) -> TrainingError { .checkpoint(path: path, message) }
        guard file.metadata["format"] == format else { throw fail("is not a training checkpoint (format '\(file.metadata["format"] ?? "none")')") }
        let m = trainer.model
        guard file.metadata["config"] == m.config.json.serialized() else {
            throw fail("was written for the model \(file.metadata["config"] ?? "?"), not \(m.config.json.serialized())")
        }
        guard file.metadata["router_format"] == (m.routerFormat?.rawValue ?? "none") else {
            throw fail("has routers '\(file.metadata["router_format"] ?? "?")', the model '\(m.routerFormat?.rawValue ?? "none")'")
        }
        func int(_ key: String) throws -> Int {
            guard let v = file.metadata[key].flatMap(Int.init) else { throw fail("metadata '\(key)' is missing or not an integer") }
            return v
        }
        let words = (file.metadata["rng"] ?? "").split(separator: ",").compactMap { UInt64($0, radix: 16) }
        guard words.count == 6 else { throw fail("metadata 'rng' does not hold the generator's 6 words") }
        for e in m.parameters.entries {
            m.parameters[e.name] = try file.floats("model/" + e.name, shape: e.shape)
            trainer.ema[e.name] = try file.floats("ema/" + e.name, shape: e.shape)
            if e.trainable {
                trainer.optimizer.firstMoment[e.name] = try file.floats("adam.m/" + e.name, shape: e.shape)
                trainer.optimizer.secondMoment[e.name] = try file.floats("adam.v/" + e.name, shape: e.shape)
            }
        }
        trainer.step = try int("step")
        trainer.optimizer.step = try int("adam_step")
        trainer.rng = RandomGenerator(savedState: words)
        trainer.loader.seek(epoch: try int("epoch"), batch: try int("batch_in_epoch"))
    }

    /// The SHA-256 of the trainer's EMA weights (fp32, every tensor in layout order). A
    /// checkpoint records it (`ema_sha256`) and so does every EMA file exported from it, so
    /// a restart can tell whether `ema.safetensors` is the checkpoint's EMA or an older one
    /// left by a kill between the two writes.
    public static func emaDigest(_ trainer: Trainer) -> String {
        var h = SHA256()
        let ema = trainer.ema
        for e in ema.entries {
            h.update(Array(e.name.utf8) + [0])
            h.update(UnsafeRawBufferPointer(start: ema.pointer(e.name), count: e.count * MemoryLayout<Float>.size))
        }
        return h.finalizeHex()
    }

    /// The EMA weights as an ordinary model file (official names, config in the metadata),
    /// which `dydit run`, `sample` and `forward` load; with routers for a DyDiT.
    public static func exportEMA(_ trainer: Trainer, to path: String, dtype: DType = .f32, metadata: [String: String] = [:]) throws {
        let m = trainer.model
        var tensors = TrainableDiT.ditParameters(from: trainer.ema, config: m.config, hasNullClass: m.hasNullClass).namedTensors()
        if let routers = TrainableDiT.routerParameters(from: trainer.ema, config: m.config, format: m.routerFormat) {
            tensors += routers.namedTensors()
        }
        if dtype == .f16 {
            tensors = tensors.map { ($0.name, Tensor($0.tensor.floats().map { Float16($0) }, shape: $0.tensor.shape)) }
        }
        var meta = metadata
        meta["config"] = m.config.json.serialized()
        meta["step"] = "\(trainer.step)"
        try SafeTensorsWriter.write(tensors, metadata: meta, to: path)
    }
}
