import DyDiTKernels

/// A linear layer's `[out, in]` weights as the loaded file holds them: fp32 (any float file,
/// widened), or still in the precision `dydit quantize` stored them in, so a quantized file
/// is packed from its own values and no fp32 copy is ever built.
public enum LinearWeight: Sendable {
    case float([Float])
    case fp16([Float16])
    /// Symmetric per output row: `w ≈ scales[row] · values[row, column]`, values in ±127.
    case int8(values: [Int8], scales: [Float])

    public var precision: WeightPrecision {
        switch self {
        case .float: return .fp32
        case .fp16: return .fp16
        case .int8: return .int8
        }
    }

    public var count: Int {
        switch self {
        case let .float(w): return w.count
        case let .fp16(w): return w.count
        case let .int8(values, _): return values.count
        }
    }

    /// Several layers' rows stacked in order (DiT's adaLN modulations run as one GEMM); all
    /// parts must be stored alike, which `PrecisionPlan.linearLayers` guarantees.
    static func stacked(_ parts: [LinearWeight]) -> LinearWeight {
        guard parts.count > 1 else { return parts[0] }
        switch parts[0] {
        case .float:
            return .float(parts.flatMap { part -> [Float] in
                guard case let .float(w) = part else { preconditionFailure("stacked layers stored in different precisions") }
                return w
            })
        case .fp16:
            return .fp16(parts.flatMap { part -> [Float16] in
                guard case let .fp16(w) = part else { preconditionFailure("stacked layers stored in different precisions") }
                return w
            })
        case .int8:
            var values: [Int8] = [], scales: [Float] = []
            for part in parts {
                guard case let .int8(v, s) = part else { preconditionFailure("stacked layers stored in different precisions") }
                values += v
                scales += s
            }
            return .int8(values: values, scales: scales)
        }
    }
}
