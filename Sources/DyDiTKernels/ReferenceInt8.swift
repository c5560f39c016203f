extension Reference {
    /// One activation row quantized to int8 the way every ISA build's `quantizeRow` must do it,
    /// written one element at a time: `scale = max|x| / 127`, `q = x · (127 / max|x|)` in
    /// float32, rounded to nearest with ties to even, clamped to ±127; an all-zero row has
    /// scale 0 and q 0. The vector builds must give these bytes and this scale exactly (the
    /// tests compare them on every K, tails included), so the int8 product's expectation can
    /// be built from this quantizer rather than from the kernel's own output.
    public static func quantizeRow(_ x: ArraySlice<Float>) -> (q: [Int8], scale: Float) {
        var peak: Float = 0
        for v in x where abs(v) > peak { peak = abs(v) }
        let inverse: Float = peak > 0 ? 127 / peak : 0
        let q = x.map { v -> Int8 in
            let r = (v * inverse).rounded(.toNearestOrEven)
            return Int8(min(127, max(-127, r)))
        }
        return (q, peak / 127)
    }

    /// Activations `[rows, k]` quantized as `Int8Activations` quantizes them: one scale per
    /// row over all of K (`perRow`), or per row and block of 32 along K (`block32`, ggml's
    /// q8_0; the last block holds what is left of K). Returns `q [rows, k]` and
    /// `scales[row][block]`.
    public static func quantizeActivations(_ a: [Float], rows: Int, k: Int, scheme: Int8ActivationScheme)
        -> (q: [Int8], scales: [[Float]]) {
        precondition(a.count == rows * k)
        let block = scheme == .perRow ? max(k, 1) : Int8ActivationScheme.blockSize
        var q = [Int8](), scales = [[Float]]()
        q.reserveCapacity(rows * k)
        for r in 0..<rows {
            var rowScales: [Float] = []
            for k0 in stride(from: 0, to: k, by: block) {
                let (values, scale) = quantizeRow(a[(r * k + k0)..<(r * k + min(k, k0 + block))])
                q += values
                rowScales.append(scale)
            }
            scales.append(rowScales)
        }
        return (q, scales)
    }
}
