// The AVX-512 SGEMM register tile.

import CSupport
import DyDiTKernelABI

extension ISAKernels {
    /// `C[6, 64] (+)= A[6, k] · B[k, 64]` with A strided (see below) and B packed
    /// k-major (64 floats or halves per k, 64-byte aligned: split cache-line loads cost ~30%).
    /// 24 zmm accumulators; per k, 4 loads, 6 broadcasts and 24 FMAs (12 cycles on 2 ports).
    @inline(never)
    static func microkernel<B: PanelElement>(_ k: Int, _ a: UnsafePointer<Float>, rowStride rs: Int, kStride ks: Int,
                                             _ b: UnsafePointer<B>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
                                             _ accumulate: Bool) {
        var c00 = V(), c01 = V(), c02 = V(), c03 = V()
        var c10 = V(), c11 = V(), c12 = V(), c13 = V()
        var c20 = V(), c21 = V(), c22 = V(), c23 = V()
        var c30 = V(), c31 = V(), c32 = V(), c33 = V()
        var c40 = V(), c41 = V(), c42 = V(), c43 = V()
        var c50 = V(), c51 = V(), c52 = V(), c53 = V()
        // A(r, k) is at a[r·rs + k·ks]: packed panels (rs 1, ks 6) or rows in place (rs lda, ks 1).
        let o1 = rs, o2 = 2 &* rs, o3 = 3 &* rs, o4 = 4 &* rs, o5 = 5 &* rs
        var pa = a, pb = b
        // C is touched only at the end: start its cache lines on their way now.
        var pc = UnsafeRawPointer(c)
        for _ in 0..<6 {
            dydit_prefetch_write(pc); dydit_prefetch_write(pc + 64)
            dydit_prefetch_write(pc + 128); dydit_prefetch_write(pc + 192)
            pc += ldc &* 4
        }
        for _ in 0..<k {
            // B streams from L2 when the panel outgrows L1: fetch 8 rows ahead (4 of halves).
            let ahead = UnsafeRawPointer(pb) + 2048
            dydit_prefetch_read(ahead); dydit_prefetch_read(ahead + 64)
            dydit_prefetch_read(ahead + 128); dydit_prefetch_read(ahead + 192)
            let b0 = B.vector(pb), b1 = B.vector(pb + 16), b2 = B.vector(pb + 32), b3 = B.vector(pb + 48)
            var x = V(repeating: pa[0])
            c00 = madd(x, b0, c00); c01 = madd(x, b1, c01); c02 = madd(x, b2, c02); c03 = madd(x, b3, c03)
            x = V(repeating: pa[o1])
            c10 = madd(x, b0, c10); c11 = madd(x, b1, c11); c12 = madd(x, b2, c12); c13 = madd(x, b3, c13)
            x = V(repeating: pa[o2])
            c20 = madd(x, b0, c20); c21 = madd(x, b1, c21); c22 = madd(x, b2, c22); c23 = madd(x, b3, c23)
            x = V(repeating: pa[o3])
            c30 = madd(x, b0, c30); c31 = madd(x, b1, c31); c32 = madd(x, b2, c32); c33 = madd(x, b3, c33)
            x = V(repeating: pa[o4])
            c40 = madd(x, b0, c40); c41 = madd(x, b1, c41); c42 = madd(x, b2, c42); c43 = madd(x, b3, c43)
            x = V(repeating: pa[o5])
            c50 = madd(x, b0, c50); c51 = madd(x, b1, c51); c52 = madd(x, b2, c52); c53 = madd(x, b3, c53)
            pa += ks; pb += 64
        }
        storeRow(c, accumulate, c00, c01, c02, c03)
        storeRow(c + ldc, accumulate, c10, c11, c12, c13)
        storeRow(c + 2 * ldc, accumulate, c20, c21, c22, c23)
        storeRow(c + 3 * ldc, accumulate, c30, c31, c32, c33)
        storeRow(c + 4 * ldc, accumulate, c40, c41, c42, c43)
        storeRow(c + 5 * ldc, accumulate, c50, c51, c52, c53)
    }

    @inline(__always)
    static func storeRow(_ p: UnsafeMutablePointer<Float>, _ accumulate: Bool, _ v0: V, _ v1: V, _ v2: V, _ v3: V) {
        if accumulate {
            store(v0 + load(p), p); store(v1 + load(p + 16), p + 16)
            store(v2 + load(p + 32), p + 32); store(v3 + load(p + 48), p + 48)
        } else {
            store(v0, p); store(v1, p + 16); store(v2, p + 32); store(v3, p + 48)
        }
    }

    /// The edge tile's product: `C[6, cols] (+)= A[6, k] · B[k, cols]` for a panel's first
    /// `cols` columns, on one or two vectors per row when `cols` ≤ 16 or ≤ 32 instead of four,
    /// so a narrow last panel — DiT-XL/2's 72-wide heads leave 8 columns in PV, a 32-wide final
    /// layer half a panel — does not cost a whole 64-column tile. Columns past `cols` (up to the
    /// vector) hold whatever the arithmetic gives; the caller copies out only `cols`.
    @inline(__always)
    static func edgeMicrokernel<B: PanelElement>(_ k: Int, _ a: UnsafePointer<Float>, rowStride rs: Int, kStride ks: Int,
                                                 _ b: UnsafePointer<B>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
                                                 _ accumulate: Bool, cols: Int) {
        if cols <= 16 {
            microkernel6x16(k, a, rowStride: rs, kStride: ks, b, c, ldc, accumulate)
        } else if cols <= 32 {
            microkernel6x32(k, a, rowStride: rs, kStride: ks, b, c, ldc, accumulate)
        } else {
            microkernel(k, a, rowStride: rs, kStride: ks, b, c, ldc, accumulate)
        }
    }

    /// `C[6, 16] (+)= A[6, k] · B[k, 0..<16]` on a 64-wide packed panel (6 accumulators).
    @inline(never)
    static func microkernel6x16<B: PanelElement>(_ k: Int, _ a: UnsafePointer<Float>, rowStride rs: Int, kStride ks: Int,
                                                 _ b: UnsafePointer<B>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
                                                 _ accumulate: Bool) {
        var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V()
        let o1 = rs, o2 = 2 &* rs, o3 = 3 &* rs, o4 = 4 &* rs, o5 = 5 &* rs
        var pa = a, pb = b
        for _ in 0..<k {
            let b0 = B.vector(pb)
            c0 = madd(V(repeating: pa[0]), b0, c0); c1 = madd(V(repeating: pa[o1]), b0, c1)
            c2 = madd(V(repeating: pa[o2]), b0, c2); c3 = madd(V(repeating: pa[o3]), b0, c3)
            c4 = madd(V(repeating: pa[o4]), b0, c4); c5 = madd(V(repeating: pa[o5]), b0, c5)
            pa += ks; pb += 64
        }
        storeVector(c, accumulate, c0); storeVector(c + ldc, accumulate, c1)
        storeVector(c + 2 * ldc, accumulate, c2); storeVector(c + 3 * ldc, accumulate, c3)
        storeVector(c + 4 * ldc, accumulate, c4); storeVector(c + 5 * ldc, accumulate, c5)
    }

    /// `C[6, 32] (+)= A[6, k] · B[k, 0..<32]` on a 64-wide packed panel (12 accumulators).
    @inline(never)
    static func microkernel6x32<B: PanelElement>(_ k: Int, _ a: UnsafePointer<Float>, rowStride rs: Int, kStride ks: Int,
                                                 _ b: UnsafePointer<B>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
                                                 _ accumulate: Bool) {
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        let o1 = rs, o2 = 2 &* rs, o3 = 3 &* rs, o4 = 4 &* rs, o5 = 5 &* rs
        var pa = a, pb = b
        for _ in 0..<k {
            let b0 = B.vector(pb), b1 = B.vector(pb + 16)
            var x = V(repeating: pa[0]); c00 = madd(x, b0, c00); c01 = madd(x, b1, c01)
            x = V(repeating: pa[o1]); c10 = madd(x, b0, c10); c11 = madd(x, b1, c11)
            x = V(repeating: pa[o2]); c20 = madd(x, b0, c20); c21 = madd(x, b1, c21)
            x = V(repeating: pa[o3]); c30 = madd(x, b0, c30); c31 = madd(x, b1, c31)
            x = V(repeating: pa[o4]); c40 = madd(x, b0, c40); c41 = madd(x, b1, c41)
            x = V(repeating: pa[o5]); c50 = madd(x, b0, c50); c51 = madd(x, b1, c51)
            pa += ks; pb += 64
        }
        storeVector(c, accumulate, c00); storeVector(c + 16, accumulate, c01)
        storeVector(c + ldc, accumulate, c10); storeVector(c + ldc + 16, accumulate, c11)
        storeVector(c + 2 * ldc, accumulate, c20); storeVector(c + 2 * ldc + 16, accumulate, c21)
        storeVector(c + 3 * ldc, accumulate, c30); storeVector(c + 3 * ldc + 16, accumulate, c31)
        storeVector(c + 4 * ldc, accumulate, c40); storeVector(c + 4 * ldc + 16, accumulate, c41)
        storeVector(c + 5 * ldc, accumulate, c50); storeVector(c + 5 * ldc + 16, accumulate, c51)
    }

    @inline(__always)
    static func storeVector(_ p: UnsafeMutablePointer<Float>, _ accumulate: Bool, _ v: V) {
        store(accumulate ? v + load(p) : v, p)
    }
}
