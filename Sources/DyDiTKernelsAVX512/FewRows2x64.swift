// The two-row tile of the AVX-512 build for `fewRowsProduct` (GemmDriver.swift): products of
// one or two rows, adaLN's modulations at batch 1–2. The blocked path took them through the
// 6 × 64 tile with four rows empty (24 FMAs per 256 bytes of weights where 8 do) and, past
// kc = 384 (DiT-B/2's K = 768, DiT-XL/2's 1152), K block by K block. Measured on the Zen 4
// EPYC, 2 threads: the stacked adaLN of DiT-XL/2 (891 MB) 34.0 → 22.2 ms (BENCHMARKS.md).
// Replaces the 6×16 builds' FewRows6x16.swift.

import CSupport
import DyDiTKernelABI

extension ISAKernels {
    /// Columns per two-row tile: one panel (its eight accumulators already hide the FMA latency).
    static var fewRowsColumns: Int { nr }

    /// `T[2, 64] = A[2, k] · panel b` (rows `a0`, `a1`; T's rows 64 floats apart; `b2`, the
    /// 6×16 builds' second panel, is not used): eight accumulators. Each sum starts at zero and
    /// adds its products in k order, as `microkernel` does.
    @inline(never)
    static func twoRowTile<B: PanelElement>(_ k: Int, _ a0: UnsafePointer<Float>, _ a1: UnsafePointer<Float>,
                                            _ b: UnsafePointer<B>, _ b2: UnsafePointer<B>,
                                            _ t: UnsafeMutablePointer<Float>) {
        var c00 = V(), c01 = V(), c02 = V(), c03 = V()
        var c10 = V(), c11 = V(), c12 = V(), c13 = V()
        var pb = b
        for i in 0..<k {
            // The panel streams from memory: ask for it 16 rows (4 KB of floats) ahead.
            let ahead = UnsafeRawPointer(pb) + 16 * 64 * MemoryLayout<B>.stride
            dydit_prefetch_read(ahead); dydit_prefetch_read(ahead + 64)
            dydit_prefetch_read(ahead + 128); dydit_prefetch_read(ahead + 192)
            let w0 = B.vector(pb), w1 = B.vector(pb + 16), w2 = B.vector(pb + 32), w3 = B.vector(pb + 48)
            let x = V(repeating: a0[i]), y = V(repeating: a1[i])
            c00 = madd(x, w0, c00); c01 = madd(x, w1, c01); c02 = madd(x, w2, c02); c03 = madd(x, w3, c03)
            c10 = madd(y, w0, c10); c11 = madd(y, w1, c11); c12 = madd(y, w2, c12); c13 = madd(y, w3, c13)
            pb += 64
        }
        store(c00, t); store(c01, t + 16); store(c02, t + 32); store(c03, t + 48)
        store(c10, t + 64); store(c11, t + 80); store(c12, t + 96); store(c13, t + 112)
    }
}
