// Products of one or two rows against packed weights, for the AVX-512 build: adaLN's
// modulations at batch 1–2 with guidance, a sampling run of one image. Such a product only
// streams its weights, and the blocked driver reads them through a 6-row tile with four rows
// empty (24 FMAs per 256 bytes of weights where 8 would do) and, past kc = 384 (DiT-B/2's
// K = 768, DiT-XL/2's 1152), K block by K block: a piece of each panel, then another sweep.
// The 6×16 builds have the same path in FewRows6x16.swift.

import CSupport
import DyDiTKernelABI

extension ISAKernels {
    /// Computes `p` for `rows` (one or two rows, A read in place) and columns `cols` when B is
    /// packed (fp32 or fp16 panels) and returns true; false for other layouts. Panel by panel,
    /// every K block of a panel before the next, so the weights are read once, in address
    /// order. The K blocks, each block's FMA order and the addition of each block's sum to C
    /// are those of `rowBlocks`: the result is bit-identical to the blocked path's.
    @inline(__always)
    static func fewRowsProduct(_ p: GemmOperands, rows: Range<Int>, cols: Range<Int>, tile: UnsafeMutablePointer<Float>) -> Bool {
        switch p.bLayout {
        case .packed: fewRows(p, rows, cols, p.bFloats, tile)
        case .packedHalf: fewRows(p, rows, cols, p.bHalves, tile)
        case .rowsNK, .rowsKN: return false
        }
        return true
    }

    static func fewRows<B: PanelElement>(_ p: GemmOperands, _ rows: Range<Int>, _ cols: Range<Int>, _ b: UnsafePointer<B>,
                                         _ tile: UnsafeMutablePointer<Float>) {
        let blocks = (p.k + kc - 1) / kc, kBlock = (p.k + blocks - 1) / blocks   // `gemm`'s K blocks
        let a0 = p.a + rows.lowerBound * p.lda
        let a1 = rows.count == 2 ? a0 + p.lda : a0   // one row: computed twice, the copy dropped
        let panelStride = p.k * nr
        var j0 = cols.lowerBound
        while j0 < cols.upperBound {
            let nb = min(nr, cols.upperBound - j0)
            let panel = b + (j0 / nr) * panelStride
            var k0 = 0
            while k0 < p.k {
                let kb = min(kBlock, p.k - k0)
                twoRowsOnePanel(kb, a0 + k0, a1 + k0, panel + k0 * nr, tile)
                let accumulate = k0 > 0 || p.accumulate
                for r in 0..<rows.count {
                    let c = p.c + (rows.lowerBound + r) * p.ldc + j0, t = UnsafePointer(tile + r * nr)
                    if accumulate {
                        for j in 0..<nb { c[j] = t[j] + c[j] }
                    } else {
                        c.update(from: t, count: nb)
                    }
                }
                k0 += kb
            }
            epilogue(p.c + rows.lowerBound * p.ldc + j0, ldc: p.ldc, rows: rows.count, cols: nb,
                     bias: p.bias.map { $0 + j0 }, activation: p.activation)
            j0 += nb
        }
    }

    /// `T[2, 64] = A[2, k] · panel b` (rows `a0`, `a1`; T's rows 64 floats apart): eight
    /// accumulators, enough independent FMA chains to hide the FMA latency. Each sum starts at
    /// zero and adds its products in k order, as `microkernel` does.
    @inline(never)
    static func twoRowsOnePanel<B: PanelElement>(_ k: Int, _ a0: UnsafePointer<Float>, _ a1: UnsafePointer<Float>,
                                                 _ b: UnsafePointer<B>, _ t: UnsafeMutablePointer<Float>) {
        var c00 = V(), c01 = V(), c02 = V(), c03 = V()
        var c10 = V(), c11 = V(), c12 = V(), c13 = V()
        var pb = b
        for i in 0..<k {
            // The panel streams from memory: ask for it 16 rows (4 KB of floats) ahead.
            let ahead = UnsafeRawPointer(pb) + 16 * 64 * MemoryLayout<B>.stride
            dydit_prefetch_read(ahead); dydit_prefetch_read(ahead + 64)
            dydit_prefetch_read(ahead + 128); dydit_prefetch_read(ahead + 192)
            let b0 = B.vector(pb), b1 = B.vector(pb + 16), b2 = B.vector(pb + 32), b3 = B.vector(pb + 48)
            let x = V(repeating: a0[i]), y = V(repeating: a1[i])
            c00 = madd(x, b0, c00); c01 = madd(x, b1, c01); c02 = madd(x, b2, c02); c03 = madd(x, b3, c03)
            c10 = madd(y, b0, c10); c11 = madd(y, b1, c11); c12 = madd(y, b2, c12); c13 = madd(y, b3, c13)
            pb += 64
        }
        store(c00, t); store(c01, t + 16); store(c02, t + 32); store(c03, t + 48)
        store(c10, t + 64); store(c11, t + 80); store(c12, t + 96); store(c13, t + 112)
    }
}
