/// Dot products in Double between the rows of two matrices, on the context's ISA build (see
/// `ISAKernels.dotProductsF64`); `Reference.dotProductsF64` is the scalar check.
public enum DoubleProducts {
    /// `out[(i − rows.lowerBound)·ldo + j] = x_i · y_j` for `i` in `rows`, `j < n` (rows of `d`).
    public static func rows(_ x: UnsafePointer<Double>, _ rows: Range<Int>, _ y: UnsafePointer<Double>, n: Int, d: Int,
                            into out: UnsafeMutablePointer<Double>, ldo: Int, isa: ISA) {
        Dispatch.kernels(isa).dotProductsF64(x, rows: rows, y, n: n, d: d, into: out, ldo: ldo)
    }
}

extension Reference {
    /// The scalar form of `DoubleProducts.rows`: one running sum per product, in index order.
    public static func dotProductsF64(_ x: UnsafePointer<Double>, _ rows: Range<Int>, _ y: UnsafePointer<Double>, n: Int, d: Int,
                                      into out: UnsafeMutablePointer<Double>, ldo: Int) {
        for i in rows {
            for j in 0..<n {
                var s = 0.0
                for t in 0..<d { s += x[i * d + t] * y[j * d + t] }
                out[(i - rows.lowerBound) * ldo + j] = s
            }
        }
    }
}
