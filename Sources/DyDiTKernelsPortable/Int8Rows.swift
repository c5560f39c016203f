import DyDiTKernelABI

// The vector parts of the int8 product around its integer tiles, shared by every ISA build:
// quantizing activation rows, and turning a tile's int32 sums back into floats.

extension ISAKernels {
    /// Quantizes `k` floats to int8 (`x ≈ scale·q`, q in ±127, round to nearest even), zeros
    /// up to `kPadded`; returns the scale (0 for a zero row).
    public static func quantizeRow(_ x: UnsafePointer<Float>, k: Int, kPadded: Int, into q: UnsafeMutablePointer<Int8>) -> Float {
        let w = V.scalarCount
        var top = V()
        var i = 0
        while i + w <= k {
            let v = load(x + i)
            top = vmax(top, vmax(v, -v))
            i += w
        }
        var peak = horizontalMax(top)
        while i < k { peak = max(peak, abs(x[i])); i += 1 }
        let inverse: Float = peak > 0 ? 127 / peak : 0
        let lo = V(repeating: -127), hi = V(repeating: 127), scale = V(repeating: inverse)
        // Adding 1.5·2²³ rounds to an integer (nearest, ties to even: the FPU's own rounding)
        // and leaves it in the low mantissa bits; the standard library's float → int SIMD
        // conversion is a lane-by-lane generic call.
        let magic = V(repeating: 12_582_912), bias = VInt(repeating: 0x4B40_0000)
        i = 0
        while i + w <= k {
            let r = vmin(vmax(load(x + i) * scale, lo), hi) + magic
            let ints = unsafeBitCast(r, to: VInt.self) &- bias
            for l in 0..<w { q[i + l] = Int8(truncatingIfNeeded: ints[l]) }
            i += w
        }
        while i < k { q[i] = Int8(max(-127, min(127, (x[i] * inverse).rounded(.toNearestOrEven)))); i += 1 }
        while i < kPadded { q[i] = 0; i += 1 }
        return peak / 127
    }

    /// `out[r, c] (+)= Float(acc[r, c] − shift·sums[c])·scaleA[r]·scaleW[c]` for a tile of
    /// `rows` × `cols`, then bias and activation.
    public static func dequantize(_ acc: UnsafePointer<Int32>, ldAcc: Int, rows: Int, cols: Int, shift: Int32,
                                  sums: UnsafePointer<Int32>, scaleA: UnsafePointer<Float>, scaleW: UnsafePointer<Float>,
                                  into out: UnsafeMutablePointer<Float>, ldo: Int, accumulate: Bool,
                                  bias: UnsafePointer<Float>?, activation: Activation) {
        withConstant(activation) {
            dequantizeRows(acc, ldAcc: ldAcc, rows: rows, cols: cols, shift: shift, sums: sums, scaleA: scaleA, scaleW: scaleW,
                           into: out, ldo: ldo, accumulate: accumulate, bias: bias, activation: $0)
        }
    }

    @inline(__always)
    static func dequantizeRows(_ acc: UnsafePointer<Int32>, ldAcc: Int, rows: Int, cols: Int, shift: Int32,
                               sums: UnsafePointer<Int32>, scaleA: UnsafePointer<Float>, scaleW: UnsafePointer<Float>,
                               into out: UnsafeMutablePointer<Float>, ldo: Int, accumulate: Bool,
                               bias: UnsafePointer<Float>?, activation: Activation) {
        let w = V.scalarCount, whole = cols / w * w
        let shiftV = VInt(repeating: shift)
        // Whole vectors take bias and activation while in registers (the epilogue's own order,
        // so the result is the same as a separate pass); the tail gets the pass. Columns
        // outside, rows inside: each column vector's correction, weight scales and bias are
        // loaded once for the tile, not once per row.
        var c = 0
        while c < whole {
            let correction = shiftV &* UnsafeRawPointer(sums + c).loadUnaligned(as: VInt.self)
            let sw = load(scaleW + c), b = bias.map { load($0 + c) }
            for r in 0..<rows {
                let row = out + r * ldo
                let raw = UnsafeRawPointer(acc + r * ldAcc + c).loadUnaligned(as: VInt.self) &- correction
                var v = toFloat(raw) * (sw * scaleA[r])
                if accumulate { v += load(row + c) }
                if let b { v += b }
                store(vactivate(v, activation), row + c)
            }
            c += w
        }
        for r in 0..<rows {
            let a = acc + r * ldAcc, row = out + r * ldo, sa = scaleA[r]
            var c = whole
            while c < cols {
                var v = Float(a[c] &- shift &* sums[c]) * (sa * scaleW[c])
                if accumulate { v += row[c] }
                row[c] = v
                c += 1
            }
        }
        if whole < cols {
            epilogue(out + whole, ldc: ldo, rows: rows, cols: cols - whole, bias: bias.map { $0 + whole }, activation: activation)
        }
    }
}
