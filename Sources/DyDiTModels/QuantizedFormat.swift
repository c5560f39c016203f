import DyDiTIO
import DyDiTKernels

/// The weights file `dydit quantize` writes: an ordinary safetensors file (any safetensors
/// tool lists it) whose linear layers are stored in the precision the model runs them in.
///
/// - Metadata: `dydit.quantized` = `"1"` (the format version), `dydit.precision` = `"fp16"` or
///   `"int8"`, `dydit.fp32_layers` = the layer names kept in fp32, comma-separated (may be
///   empty), plus the source file's own metadata (`config`).
/// - Each linear layer's `<layer>.weight` in the official shape (`[out, in]`; the patch
///   embedding `[D, C, p, p]`): `F16` under fp16; under int8 `I8` values `q` in -127…127 and
///   `<layer>.weight_scale`, `F32 [out]`, with `w[o, …] ≈ weight_scale[o] · q[o, …]`. Layers
///   named in `dydit.fp32_layers` stay `F32`; the adaLN modulations of all blocks and of the
///   final layer share one precision (the model stacks them into one GEMM).
/// - Everything else (biases, embeddings, `pos_embed`, DyDiT routers) `F32`.
///
/// The values are exactly what quantizing at load time gives (`Int8Matrix.quantizeRows`,
/// `Float16(_:)`), so a quantized file and its fp32 source run bit-identically.
public enum QuantizedFormat {
    public static let versionKey = "dydit.quantized"
    public static let version = "1"
    public static let precisionKey = "dydit.precision"
    public static let fp32LayersKey = "dydit.fp32_layers"
    public static let scaleSuffix = "_scale"

    /// The plan `file` was quantized with, or nil for a plain float file.
    public static func plan(of file: SafeTensorsFile) throws -> PrecisionPlan? {
        func fail(_ message: String) -> ModelError { .badConfig(file.path, message) }
        guard let name = file.metadata[precisionKey] else {
            if let q = file.names.first(where: { file.entries[$0]!.dtype == .i8 }) {
                throw fail("tensor '\(q)' is I8 but the metadata has no '\(precisionKey)': int8 weights are read only from files written by `dydit quantize`, which records how they were quantized")
            }
            return nil
        }
        guard let v = file.metadata[versionKey] else {
            throw fail("the metadata has '\(precisionKey)' but no '\(versionKey)'; write quantized files with `dydit quantize`")
        }
        guard v == version else {
            throw fail("'\(versionKey)' is '\(v)'; this dydit reads quantized files of version \(version) (was it written by a newer dydit?)")
        }
        guard let base = WeightPrecision(rawValue: name), base != .fp32 else {
            throw fail("'\(precisionKey)' is '\(name)'; a quantized file holds fp16 or int8 weights")
        }
        let layers = (file.metadata[fp32LayersKey] ?? "").split(separator: ",").map(String.init)
        if let bad = layers.first(where: { !PrecisionPlan.layerNames.contains($0) }) {
            throw fail("'\(fp32LayersKey)' names '\(bad)', which is not a layer; known: \(PrecisionPlan.layerNames.joined(separator: ", "))")
        }
        return PrecisionPlan(base, fp32Layers: layers)
    }

    /// The linear weights `plan` stores in fp16 or int8, read and checked as the file holds
    /// them, and the names of the scale tensors they used.
    static func readLinears(_ file: SafeTensorsFile, config: DiTConfig,
                            plan: PrecisionPlan) throws -> (stored: [String: LinearWeight], scales: Set<String>) {
        func fail(_ message: String) -> ModelError { .badConfig(file.path, message) }
        let shapes = Dictionary(uniqueKeysWithValues: DiTParameters.shapes(config).map { ($0.name, $0.shape) })
        var stored: [String: LinearWeight] = [:], scaleNames = Set<String>()
        for (layers, precision) in plan.linearLayers(config) {
            for layer in layers {
                let name = layer + ".weight", shape = shapes[name]!
                guard let entry = file.entries[name] else { throw ModelError.missingTensor(file: file.path, name: name) }
                guard entry.shape == shape else {
                    throw ModelError.shapeMismatch(file: file.path, name: name, expected: shape, actual: entry.shape)
                }
                let expected: DType = precision == .fp16 ? .f16 : precision == .int8 ? .i8 : .f32
                guard entry.dtype == expected || ([.fp32, .bf16].contains(precision) && entry.dtype.isFloatingPoint) else {
                    throw fail("tensor '\(name)' is \(entry.dtype.rawValue), but the file's plan (\(plan)) stores layer '\(layer)' in \(precision) (\(expected.rawValue))")
                }
                switch precision {
                case .fp32, .bf16:
                    // bf16 layers are stored as floats and rounded at load (exactly, when the
                    // file holds bf16 values).
                    continue
                case .fp16:
                    stored[name] = .fp16(try file.tensor(name).halves())
                case .int8:
                    let scaleName = name + scaleSuffix, rows = shape[0]
                    guard let scaleEntry = file.entries[scaleName] else {
                        throw fail("missing scales: '\(name)' is I8 but the file has no '\(scaleName)' (F32 [\(rows)], one scale per output row)")
                    }
                    guard scaleEntry.dtype == .f32, scaleEntry.shape == [rows] else {
                        throw fail("scales '\(scaleName)' are \(scaleEntry.dtype.rawValue) \(scaleEntry.shape); '\(name)' has \(rows) output rows, so they must be F32 [\(rows)]")
                    }
                    let scales = try file.tensor(scaleName).floats()
                    if let i = scales.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
                        throw fail("scale \(i) of '\(name)' is \(scales[i]); scales are finite and not negative")
                    }
                    let values = try file.tensor(name).int8s()
                    if let i = values.firstIndex(of: -128) {
                        let columns = values.count / rows
                        throw fail("'\(name)' holds -128 at row \(i / columns), element \(i % columns); int8 weights are symmetric, in -127…127 (the AVX2 kernel negates them)")
                    }
                    stored[name] = .int8(values: values, scales: scales)
                    scaleNames.insert(scaleName)
                }
            }
        }
        return (stored, scaleNames)
    }

    /// The tensors of `p` with its linear layers stored as `plan` says, in state-dict order.
    public static func tensors(_ p: DiTParameters, plan: PrecisionPlan) -> [(name: String, tensor: Tensor)] {
        precondition(p.stored.isEmpty, "the parameters are quantized already")
        var precisionOf: [String: WeightPrecision] = [:]
        for (layers, precision) in plan.linearLayers(p.config) { for layer in layers { precisionOf[layer + ".weight"] = precision } }
        var out: [(name: String, tensor: Tensor)] = []
        for (name, shape) in DiTParameters.shapes(p.config, nullClass: p.hasNullClass) {
            let w = p[name]
            switch precisionOf[name] ?? .fp32 {
            case .fp32:
                out.append((name, Tensor(w, shape: shape)))
            case .bf16:
                out.append((name, Tensor(w.map(BFloat16.rounded), shape: shape)))
            case .fp16:
                out.append((name, Tensor(w.map { Float16($0) }, shape: shape)))
            case .int8:
                let rows = shape[0], columns = w.count / rows
                let (q, scales) = w.withUnsafeBufferPointer { Int8Matrix.quantizeRows($0.baseAddress!, n: rows, k: columns, ld: columns) }
                out.append((name, Tensor(q, shape: shape)))
                out.append((name + scaleSuffix, Tensor(scales, shape: [rows])))
            }
        }
        return out
    }

    /// The metadata keys that describe `plan`.
    public static func metadata(_ plan: PrecisionPlan) -> [String: String] {
        [versionKey: version, precisionKey: plan.base.rawValue, fp32LayersKey: plan.fp32Layers.joined(separator: ",")]
    }
}
