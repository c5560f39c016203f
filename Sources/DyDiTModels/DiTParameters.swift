import DyDiTIO

/// The weights of a DiT under their official state-dict names and shapes (`[out, in]`
/// linears), in fp32. This is what checkpoints hold and what training updates; `DiT`
/// packs it for inference.
public struct DiTParameters: Sendable {
    public let config: DiTConfig
    public var tensors: [String: [Float]]
    /// Whether the label table has DiT's extra "null" row (index `numClasses`) used for
    /// classifier-free guidance; it exists when the model was trained with label dropout.
    public let hasNullClass: Bool
    /// Linear weights a quantized file keeps in fp16 or int8, by weight name; `tensors` then
    /// lacks them. Such parameters can be run, not trained or saved as floats.
    public let stored: [String: LinearWeight]
    /// The plan the stored weights were quantized with (nil for float parameters).
    public let storedPlan: PrecisionPlan?

    /// Every parameter of `config`, in state-dict order, with its shape.
    public static func shapes(_ c: DiTConfig, nullClass: Bool = true) -> [(name: String, shape: [Int])] {
        let d = c.hiddenSize
        typealias L = DiTLayerNames
        /// A linear layer's weight and bias.
        func linear(_ name: String, _ weight: [Int]) -> [(String, [Int])] { [(name + ".weight", weight), (name + ".bias", [weight[0]])] }
        var s = linear(L.patchEmbed, [d, c.inChannels, c.patchSize, c.patchSize])
            + linear(L.timeIn, [d, DiTConfig.frequencyDim]) + linear(L.timeOut, [d, d])
            + [(L.labelTable, [c.numClasses + (nullClass ? 1 : 0), d]), (L.posEmbed, [1, c.tokens, d])]
        for i in 0..<c.depth {
            let b = L.block(i)
            s += linear(b.qkv, [3 * d, d]) + linear(b.proj, [d, d]) + linear(b.fc1, [c.mlpHidden, d])
                + linear(b.fc2, [d, c.mlpHidden]) + linear(b.adaLN, [6 * d, d])
        }
        return s + linear(L.finalAdaLN, [2 * d, d]) + linear(L.finalLinear, [c.finalDim, d])
    }

    public var parameterCount: Int { tensors.values.reduce(0) { $0 + $1.count } + stored.values.reduce(0) { $0 + $1.count } }

    public init(config: DiTConfig, tensors: [String: [Float]], hasNullClass: Bool = true,
                stored: [String: LinearWeight] = [:], storedPlan: PrecisionPlan? = nil) {
        self.config = config
        self.tensors = tensors
        self.hasNullClass = hasNullClass
        self.stored = stored
        self.storedPlan = storedPlan
    }

    /// The weights of the linear layers `names` (official prefixes), stacked.
    public func linearWeight(_ names: [String]) -> LinearWeight {
        .stacked(names.map { stored[$0 + ".weight"] ?? .float(self[$0 + ".weight"]) })
    }

    /// Loads every DiT parameter from `file`, checking each shape against `config`.
    /// - Parameter ignoring: extra tensors that are fine to leave unused (a DyDiT
    ///   checkpoint's routers when the DiT alone is wanted); any other extra tensor is an
    ///   error, since it means the file is not the model the config describes.
    public static func load(_ file: SafeTensorsFile, config: DiTConfig,
                            ignoring: (String) -> Bool = { _ in false }) throws -> DiTParameters {
        let tableName = DiTLayerNames.labelTable
        let tableRows = file.entries[tableName]?.shape.first
        let nullClass = tableRows != config.numClasses
        let plan = try QuantizedFormat.plan(of: file)
        let (stored, scaleNames) = try plan.map { try QuantizedFormat.readLinears(file, config: config, plan: $0) } ?? ([:], [])
        var tensors: [String: [Float]] = [:]
        for (name, shape) in shapes(config, nullClass: nullClass) where stored[name] == nil {
            guard let entry = file.entries[name] else { throw ModelError.missingTensor(file: file.path, name: name) }
            guard entry.shape == shape else {
                throw ModelError.shapeMismatch(file: file.path, name: name, expected: shape, actual: entry.shape)
            }
            guard entry.dtype.isFloatingPoint else {
                throw ModelError.badConfig(file.path, "tensor '\(name)' is \(entry.dtype.rawValue), expected a floating-point type")
            }
            let values = try file.tensor(name).floats()
            try FiniteCheck.require(values, "\(file.path): tensor '\(name)'",
                                    hint: "the weights are damaged (a diverged training run, or a bad conversion)")
            tensors[name] = values
        }
        let extra = file.names.filter { tensors[$0] == nil && stored[$0] == nil && !scaleNames.contains($0) && !ignoring($0) }
        if !extra.isEmpty { throw ModelError.unexpectedTensors(file: file.path, names: extra) }
        return DiTParameters(config: config, tensors: tensors, hasNullClass: nullClass, stored: stored, storedPlan: plan)
    }

    /// The tensors as safetensors entries, in state-dict order.
    public func namedTensors() -> [(name: String, tensor: Tensor)] {
        precondition(stored.isEmpty, "quantized parameters have no fp32 tensors to save")
        return Self.shapes(config, nullClass: hasNullClass).map { ($0.name, Tensor(tensors[$0.name]!, shape: $0.shape)) }
    }

    /// `halves`: store F16 (lossless for weights that came from an F16 file).
    public func save(to path: String, metadata: [String: String] = [:], halves: Bool = false) throws {
        var meta = metadata
        meta["config"] = config.json.serialized()
        var tensors = namedTensors()
        if halves { tensors = tensors.map { ($0.name, Tensor($0.tensor.floats().map { Float16($0) }, shape: $0.tensor.shape)) } }
        try SafeTensorsWriter.write(tensors, metadata: meta, to: path)
    }

    public subscript(name: String) -> [Float] {
        guard let t = tensors[name] else { preconditionFailure("no parameter '\(name)'") }
        return t
    }
}
