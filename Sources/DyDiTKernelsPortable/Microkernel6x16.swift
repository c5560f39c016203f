// The SGEMM register tile of the AVX2 and portable builds (this file is symlinked into
// DyDiTKernelsAVX2, where V is one ymm register).

extension ISAKernels {
    /// `C[6, 16] (+)= A[6, k] · B[k, 16]` with A strided (see below) and B packed
    /// k-major (16 floats, or halves, per k). 12 accumulators, 2 loads and 6 broadcasts per k: the
    /// classic 6×16 Haswell tile (16 ymm registers).
    @inline(never)
    static func microkernel<B: PanelElement>(_ k: Int, _ a: UnsafePointer<Float>, rowStride rs: Int, kStride ks: Int,
                                             _ b: UnsafePointer<B>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
                                             _ accumulate: Bool) {
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        // A(r, k) is at a[r·rs + k·ks]: packed panels (rs 1, ks 6) or rows in place (rs lda, ks 1).
        let o1 = rs, o2 = 2 &* rs, o3 = 3 &* rs, o4 = 4 &* rs, o5 = 5 &* rs
        var pa = a, pb = b
        for _ in 0..<k {
            let b0 = B.vector(pb), b1 = B.vector(pb + 8)
            var x = V(repeating: pa[0]); c00 = madd(x, b0, c00); c01 = madd(x, b1, c01)
            x = V(repeating: pa[o1]); c10 = madd(x, b0, c10); c11 = madd(x, b1, c11)
            x = V(repeating: pa[o2]); c20 = madd(x, b0, c20); c21 = madd(x, b1, c21)
            x = V(repeating: pa[o3]); c30 = madd(x, b0, c30); c31 = madd(x, b1, c31)
            x = V(repeating: pa[o4]); c40 = madd(x, b0, c40); c41 = madd(x, b1, c41)
            x = V(repeating: pa[o5]); c50 = madd(x, b0, c50); c51 = madd(x, b1, c51)
            pa += ks; pb += 16
        }
        storeRow(c, accumulate, c00, c01)
        storeRow(c + ldc, accumulate, c10, c11)
        storeRow(c + 2 * ldc, accumulate, c20, c21)
        storeRow(c + 3 * ldc, accumulate, c30, c31)
        storeRow(c + 4 * ldc, accumulate, c40, c41)
        storeRow(c + 5 * ldc, accumulate, c50, c51)
    }

    @inline(__always)
    static func storeRow(_ p: UnsafeMutablePointer<Float>, _ accumulate: Bool, _ v0: V, _ v1: V) {
        if accumulate {
            store(v0 + load(p), p); store(v1 + load(p + 8), p + 8)
        } else {
            store(v0, p); store(v1, p + 8)
        }
    }

    /// The edge tile's product (a panel's first `cols` columns): the whole 16-column tile here,
    /// where a panel is at most 15 columns wider than needed (the AVX-512 build narrows its
    /// 64-column tile instead).
    @inline(__always)
    static func edgeMicrokernel<B: PanelElement>(_ k: Int, _ a: UnsafePointer<Float>, rowStride rs: Int, kStride ks: Int,
                                                 _ b: UnsafePointer<B>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
                                                 _ accumulate: Bool, cols: Int) {
        microkernel(k, a, rowStride: rs, kStride: ks, b, c, ldc, accumulate)
    }
}
