// Products of one or two rows against packed weights, for the 6×16 builds (AVX2, portable;
// this file is symlinked into DyDiTKernelsAVX2): adaLN's modulations at batch 1–2 with
// guidance, a sampling run of one image. Such a product only streams its weights, and the
// blocked driver reads them badly: K block by K block (a 192-deep piece of each panel, then a
// second sweep for the next piece) through a 6-row tile two thirds empty. Measured on the
// AVX2 EPYC, one thread, 2 × 28416 × 384 (DiT-S/2's stacked adaLN, 43.6 MB): 9.6 GB/s, where
// a plain read of the same bytes runs at 19–24 GB/s (scripts/read_bandwidth.c).

import DyDiTKernelABI

extension ISAKernels {
    /// Computes `p` for `rows` (one or two rows, A read in place) and columns `cols` when B is
    /// packed (fp32 or fp16 panels) and returns true; false for other layouts. Panel pair by
    /// panel pair, every K block of a pair before the next pair, so the weights are read once,
    /// in address order. The K blocks, each block's FMA order and the addition of each block's
    /// sum to C are those of `rowBlocks`: the result is bit-identical to the blocked path's.
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
            let nb = min(2 * nr, cols.upperBound - j0)
            let first = b + (j0 / nr) * panelStride
            let second = nb > nr ? first + panelStride : first   // a last single panel: computed twice
            var k0 = 0
            while k0 < p.k {
                let kb = min(kBlock, p.k - k0)
                twoRowsTwoPanels(kb, a0 + k0, a1 + k0, first + k0 * nr, second + k0 * nr, tile)
                let accumulate = k0 > 0 || p.accumulate
                for r in 0..<rows.count {
                    let c = p.c + (rows.lowerBound + r) * p.ldc + j0, t = UnsafePointer(tile + r * 2 * nr)
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

    /// `T[2, 32] = A[2, k] · [panel b | panel b2]` (rows `a0`, `a1`; T's rows 32 floats apart):
    /// eight accumulators, as many independent FMA chains as hide the FMA latency, where one
    /// panel would give four. Each sum starts at zero and adds its products in k order, as
    /// `microkernel` does.
    @inline(never)
    static func twoRowsTwoPanels<B: PanelElement>(_ k: Int, _ a0: UnsafePointer<Float>, _ a1: UnsafePointer<Float>,
                                                  _ b: UnsafePointer<B>, _ b2: UnsafePointer<B>,
                                                  _ t: UnsafeMutablePointer<Float>) {
        var c00 = V(), c01 = V(), c10 = V(), c11 = V()
        var d00 = V(), d01 = V(), d10 = V(), d11 = V()
        var pb = b, pe = b2
        for i in 0..<k {
            let b0 = B.vector(pb), b1 = B.vector(pb + 8), e0 = B.vector(pe), e1 = B.vector(pe + 8)
            let x = V(repeating: a0[i]), y = V(repeating: a1[i])
            c00 = madd(x, b0, c00); c01 = madd(x, b1, c01); c10 = madd(y, b0, c10); c11 = madd(y, b1, c11)
            d00 = madd(x, e0, d00); d01 = madd(x, e1, d01); d10 = madd(y, e0, d10); d11 = madd(y, e1, d11)
            pb += 16; pe += 16
        }
        store(c00, t); store(c01, t + 8); store(d00, t + 16); store(d01, t + 24)
        store(c10, t + 32); store(c11, t + 40); store(d10, t + 48); store(d11, t + 56)
    }
}
