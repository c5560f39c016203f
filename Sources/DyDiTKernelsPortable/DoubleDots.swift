// Dot products in Double between the rows of two matrices (shared template, compiled once per
// ISA): the inner loop of the distribution metrics (KID's kernel sums, precision/recall's
// nearest-neighbour distances), which subtract large sums or compare distances with radii,
// where float rounding would show in the reported digits.

import DyDiTKernelABI

extension ISAKernels {
    /// `out[(i − rows.lowerBound)·ldo + j] = x_i · y_j` for `i` in `rows`, `j` in `0..<n`, rows
    /// of `d` Doubles. Four by four rows at a time, eight lanes along `d`, each product's sum
    /// in a fixed order (lanes, then the tail), so the result does not depend on the block.
    public static func dotProductsF64(_ x: UnsafePointer<Double>, rows: Range<Int>, _ y: UnsafePointer<Double>, n: Int, d: Int,
                                      into out: UnsafeMutablePointer<Double>, ldo: Int) {
        typealias D = SIMD8<Double>
        let vd = d / 8 * 8
        @inline(__always) func load(_ p: UnsafePointer<Double>) -> D { UnsafeRawPointer(p).loadUnaligned(as: D.self) }
        @inline(__always) func finish(_ acc: D, _ i: Int, _ j: Int) {
            var s = acc.sum()
            for t in vd..<d { s += x[i * d + t] * y[j * d + t] }
            out[(i - rows.lowerBound) * ldo + j] = s
        }
        var i = rows.lowerBound
        while i < rows.upperBound {
            let ri = min(4, rows.upperBound - i)
            var j = 0
            while j < n {
                if ri == 4 && n - j >= 4 {
                    let x0 = x + i * d, x1 = x0 + d, x2 = x1 + d, x3 = x2 + d
                    let y0 = y + j * d, y1 = y0 + d, y2 = y1 + d, y3 = y2 + d
                    var a00 = D(), a01 = D(), a02 = D(), a03 = D(), a10 = D(), a11 = D(), a12 = D(), a13 = D()
                    var a20 = D(), a21 = D(), a22 = D(), a23 = D(), a30 = D(), a31 = D(), a32 = D(), a33 = D()
                    var k = 0
                    while k < vd {
                        let b0 = load(y0 + k), b1 = load(y1 + k), b2 = load(y2 + k), b3 = load(y3 + k)
                        var a = load(x0 + k)
                        a00 += a * b0; a01 += a * b1; a02 += a * b2; a03 += a * b3
                        a = load(x1 + k)
                        a10 += a * b0; a11 += a * b1; a12 += a * b2; a13 += a * b3
                        a = load(x2 + k)
                        a20 += a * b0; a21 += a * b1; a22 += a * b2; a23 += a * b3
                        a = load(x3 + k)
                        a30 += a * b0; a31 += a * b1; a32 += a * b2; a33 += a * b3
                        k += 8
                    }
                    finish(a00, i, j); finish(a01, i, j + 1); finish(a02, i, j + 2); finish(a03, i, j + 3)
                    finish(a10, i + 1, j); finish(a11, i + 1, j + 1); finish(a12, i + 1, j + 2); finish(a13, i + 1, j + 3)
                    finish(a20, i + 2, j); finish(a21, i + 2, j + 1); finish(a22, i + 2, j + 2); finish(a23, i + 2, j + 3)
                    finish(a30, i + 3, j); finish(a31, i + 3, j + 1); finish(a32, i + 3, j + 2); finish(a33, i + 3, j + 3)
                    j += 4
                } else {
                    // Edges: one product at a time, with the same lane-then-tail order.
                    for r in i..<(i + ri) {
                        var acc = D()
                        var k = 0
                        while k < vd { acc += load(x + r * d + k) * load(y + j * d + k); k += 8 }
                        finish(acc, r, j)
                    }
                    j += 1
                }
            }
            i += ri
        }
    }
}
