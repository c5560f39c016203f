/// Non-finite numbers (NaN, ±Inf) found where a model's weights or outputs should be. NaN
/// weights or a NaN guidance scale used to give all-NaN samples, a black PNG and exit 0;
/// every producer of outputs checks them with this and stops with an error instead.
public enum FiniteCheck {
    /// How many values are not finite, and the first of them; nil when all are finite.
    public static func scan<C: Collection>(_ values: C) -> (count: Int, firstIndex: Int, first: Float)? where C.Element == Float {
        var count = 0, firstIndex = -1
        var first: Float = 0
        for (i, v) in values.enumerated() where !v.isFinite {
            if count == 0 { firstIndex = i; first = v }
            count += 1
        }
        return count == 0 ? nil : (count, firstIndex, first)
    }

    /// Throws when `values` hold a non-finite number. `what` names them ("the samples",
    /// "tensor 'blocks.0.attn.qkv.weight' of w.safetensors"), `hint` says what to look at.
    public static func require<C: Collection>(_ values: C, _ what: String, hint: String) throws where C.Element == Float {
        guard let bad = scan(values) else { return }
        throw ModelError.nonFinite("\(what): \(bad.count) of \(values.count) values are not finite (NaN or ±Inf; the first, \(bad.first), at index \(bad.firstIndex)); \(hint)")
    }
}
