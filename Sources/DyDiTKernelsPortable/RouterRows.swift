// Shared by every ISA build (symlinked into DyDiTKernelsAVX2 and DyDiTKernelsAVX512).
//
// DyDiT's token router is `Linear(D, D/16) → ReLU → Linear(D/16, 1)` on every token of every
// block. As two GEMMs its 16 hidden columns fill a quarter of a 64-column register tile and its
// one output a 64th, and the rows are packed for a product that is over before the packing
// pays: 4% of a λ = 0.5 sampling run went there (`dydit sample --profile`). Here the hidden
// layer is one (or a few) vectors wide: each row's hidden units accumulate in registers,
// weights stay in L1, and the output is a dot product of those registers.

extension ISAKernels {
    /// `out[r] = w2 · relu(W1·x[r] + b1) + b2` for `rows` rows of width `d` (row stride `ldx`).
    /// `w1t` is W1 transposed, `[d, hiddenPadded]` row-major; `b1` and `w2` have
    /// `hiddenPadded` entries; `hiddenPadded` is a multiple of 16 (any build's lanes) and the
    /// padding is zero, so padded units add relu(0)·0. Each hidden unit sums its products in
    /// order of `d`, then adds its bias, as the GEMM + epilogue it replaces does.
    ///
    /// Eight rows at a time: each weight vector loaded serves eight independent FMA chains,
    /// enough to cover the FMA latency on two FMA ports.
    public static func routerLogits(_ x: UnsafePointer<Float>, ldx: Int, rows: Int, d: Int,
                                    w1t: UnsafePointer<Float>, hiddenPadded: Int, b1: UnsafePointer<Float>,
                                    w2: UnsafePointer<Float>, b2: Float, into out: UnsafeMutablePointer<Float>) {
        let w = V.scalarCount
        var r = 0
        while r < rows {
            // A short last tile repeats its last row: the loads stay in bounds and only the
            // valid rows are stored.
            let valid = min(8, rows - r)
            @inline(__always) func row(_ i: Int) -> UnsafePointer<Float> { x + (r + min(i, valid - 1)) * ldx }
            let x0 = row(0), x1 = row(1), x2 = row(2), x3 = row(3), x4 = row(4), x5 = row(5), x6 = row(6), x7 = row(7)
            var l0 = V(repeating: 0), l1 = l0, l2 = l0, l3 = l0, l4 = l0, l5 = l0, l6 = l0, l7 = l0
            var j = 0
            while j < hiddenPadded {
                var a0 = V(repeating: 0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
                var wk = w1t + j
                for k in 0..<d {
                    let wv = load(wk)
                    a0 = madd(V(repeating: x0[k]), wv, a0)
                    a1 = madd(V(repeating: x1[k]), wv, a1)
                    a2 = madd(V(repeating: x2[k]), wv, a2)
                    a3 = madd(V(repeating: x3[k]), wv, a3)
                    a4 = madd(V(repeating: x4[k]), wv, a4)
                    a5 = madd(V(repeating: x5[k]), wv, a5)
                    a6 = madd(V(repeating: x6[k]), wv, a6)
                    a7 = madd(V(repeating: x7[k]), wv, a7)
                    wk += hiddenPadded
                }
                let bias = load(b1 + j), w2v = load(w2 + j)
                l0 = madd(relu(a0 + bias), w2v, l0)
                l1 = madd(relu(a1 + bias), w2v, l1)
                l2 = madd(relu(a2 + bias), w2v, l2)
                l3 = madd(relu(a3 + bias), w2v, l3)
                l4 = madd(relu(a4 + bias), w2v, l4)
                l5 = madd(relu(a5 + bias), w2v, l5)
                l6 = madd(relu(a6 + bias), w2v, l6)
                l7 = madd(relu(a7 + bias), w2v, l7)
                j += w
            }
            out[r] = l0.sum() + b2
            if valid > 1 { out[r + 1] = l1.sum() + b2 }
            if valid > 2 { out[r + 2] = l2.sum() + b2 }
            if valid > 3 { out[r + 3] = l3.sum() + b2 }
            if valid > 4 { out[r + 4] = l4.sum() + b2 }
            if valid > 5 { out[r + 5] = l5.sum() + b2 }
            if valid > 6 { out[r + 6] = l6.sum() + b2 }
            if valid > 7 { out[r + 7] = l7.sum() + b2 }
            r += valid
        }
    }

    /// ReLU that keeps NaN (as the epilogue's): a NaN router input stays visible.
    @inline(__always)
    static func relu(_ v: V) -> V { v.replacing(with: 0, where: v .< 0) }
}
