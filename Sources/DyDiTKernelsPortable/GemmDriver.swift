// The blocked SGEMM around the register tile (shared template, compiled once per ISA).
//
// Loop nest (BLIS order): column chunk → K block (kc) → row block (mc, A packed into L2) →
// nr-wide panel of B (kc×nr, L1-resident while every mr-row tile of the row block uses it).
// The K blocking is fixed, so each output element sums its products in the same order
// whatever rows/columns a task covers: results are bit-identical for any thread count.

import DyDiTKernelABI

extension ISAKernels {
    /// Bytes of per-thread scratch one `gemm` call needs (packed A, packed B, one edge tile).
    public static var gemmScratchBytes: Int {
        (mc * kc + kc * ncMax + mr * nr) * MemoryLayout<Float>.stride + 3 * 64
    }

    /// Floats needed to pack a row-major `[n, k]` weight matrix for this ISA.
    public static func packedWeightCount(n: Int, k: Int) -> Int {
        ((n + nr - 1) / nr) * nr * k
    }

    /// Packs row-major `[n, k]` weights (row stride `ld`) into panels of `nr` output columns:
    /// panel `j` holds, for each `k`, the `nr` weights of outputs `j·nr ..< j·nr + nr`
    /// (zeros past `n`). `dst` must be 64-byte aligned.
    public static func packWeights(_ src: UnsafePointer<Float>, n: Int, k: Int, ld: Int,
                                   into dst: UnsafeMutablePointer<Float>) {
        packB(src, ldb: ld, layout: .rowsNK, n0: 0, nb: n, k0: 0, kb: k, dst: dst, panelStride: k * nr)
    }

    /// Computes rows `rows` and columns `cols` of the product described by `p`.
    /// With a packed B, `cols.lowerBound` must be a multiple of `nr`.
    public static func gemm(_ p: GemmOperands, rows: Range<Int>, cols: Range<Int>,
                            scratch: UnsafeMutableRawPointer) {
        if rows.isEmpty || cols.isEmpty { return }
        let base = UnsafeMutableRawPointer(bitPattern: (Int(bitPattern: scratch) + 63) & ~63)!
        let aPack = base.bindMemory(to: Float.self, capacity: mc * kc)
        let bPack = aPack + mc * kc
        let tile = bPack + kc * ncMax
        if p.k == 0 {
            zeroOrKeep(p, rows: rows, cols: cols)
            return
        }
        // A packed B needs no packing buffer, so its columns are done in one chunk.
        let chunk = p.bLayout == .packed ? cols.count : ncMax
        var c0 = cols.lowerBound
        while c0 < cols.upperBound {
            let c1 = min(cols.upperBound, c0 + chunk)
            var k0 = 0
            while k0 < p.k {
                let kb = min(kc, p.k - k0)
                let last = k0 + kb == p.k
                let bBase: UnsafePointer<Float>
                let panelStride: Int
                if p.bLayout == .packed {
                    bBase = p.b + (c0 / nr) * p.k * nr + k0 * nr
                    panelStride = p.k * nr
                } else {
                    packB(p.b, ldb: p.ldb, layout: p.bLayout, n0: c0, nb: c1 - c0, k0: k0, kb: kb,
                          dst: bPack, panelStride: kb * nr)
                    bBase = UnsafePointer(bPack)
                    panelStride = kb * nr
                }
                let accumulate = k0 > 0 || p.accumulate
                var m0 = rows.lowerBound
                while m0 < rows.upperBound {
                    let mb = min(mc, rows.upperBound - m0)
                    packA(p, m0: m0, mb: mb, k0: k0, kb: kb, dst: aPack)
                    var j0 = c0
                    while j0 < c1 {
                        let nb = min(nr, c1 - j0)
                        let bPanel = bBase + ((j0 - c0) / nr) * panelStride
                        var i0 = 0
                        while i0 < mb {
                            let rowsHere = min(mr, mb - i0)
                            let cTile = p.c + (m0 + i0) * p.ldc + j0
                            let aPanel = UnsafePointer(aPack + i0 * kb)
                            if rowsHere == mr && nb == nr {
                                microkernel(kb, aPanel, bPanel, cTile, p.ldc, accumulate)
                            } else {
                                edgeTile(kb, aPanel, bPanel, cTile, p.ldc, rowsHere, nb, accumulate, tile)
                            }
                            if last {
                                epilogue(cTile, ldc: p.ldc, rows: rowsHere, cols: nb,
                                         bias: p.bias.map { $0 + j0 }, activation: p.activation)
                            }
                            i0 += mr
                        }
                        j0 += nr
                    }
                    m0 += mb
                }
                k0 += kb
            }
            c0 = c1
        }
    }

    /// A partial register tile: computed in `tile` (ld = nr), then its valid part copied out.
    @inline(__always)
    static func edgeTile(_ kb: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                         _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ rows: Int, _ cols: Int,
                         _ accumulate: Bool, _ tile: UnsafeMutablePointer<Float>) {
        if accumulate {
            for r in 0..<rows { (tile + r * nr).update(from: c + r * ldc, count: cols) }
        }
        microkernel(kb, a, b, tile, nr, accumulate)
        for r in 0..<rows { (c + r * ldc).update(from: tile + r * nr, count: cols) }
    }

    /// K = 0: the product is empty, so C is C (accumulate) or zero, then bias and activation.
    static func zeroOrKeep(_ p: GemmOperands, rows: Range<Int>, cols: Range<Int>) {
        for r in rows {
            let row = p.c + r * p.ldc + cols.lowerBound
            if !p.accumulate { row.update(repeating: 0, count: cols.count) }
        }
        epilogue(p.c + rows.lowerBound * p.ldc + cols.lowerBound, ldc: p.ldc, rows: rows.count,
                 cols: cols.count, bias: p.bias.map { $0 + cols.lowerBound }, activation: p.activation)
    }

    /// Packs rows `m0 ..< m0+mb`, depth `k0 ..< k0+kb` of op(A) into `mr`-row panels, each
    /// k-major (`mr` floats per k), zero rows past the end.
    static func packA(_ p: GemmOperands, m0: Int, mb: Int, k0: Int, kb: Int,
                      dst: UnsafeMutablePointer<Float>) {
        var i0 = 0
        while i0 < mb {
            let rowsHere = min(mr, mb - i0)
            let panel = dst + i0 * kb
            if p.aTransposed {
                // op(A)[m, k] = A[k, m]: each k holds the panel's rows contiguously.
                for kk in 0..<kb {
                    let src = p.a + (k0 + kk) * p.lda + m0 + i0
                    let out = panel + kk * mr
                    for r in 0..<rowsHere { out[r] = src[r] }
                    for r in rowsHere..<mr { out[r] = 0 }
                }
            } else {
                for r in 0..<rowsHere {
                    let src = p.a + (m0 + i0 + r) * p.lda + k0
                    for kk in 0..<kb { panel[kk * mr + r] = src[kk] }
                }
                if rowsHere < mr {
                    for kk in 0..<kb { for r in rowsHere..<mr { panel[kk * mr + r] = 0 } }
                }
            }
            i0 += mr
        }
    }

    /// Packs columns `n0 ..< n0+nb`, depth `k0 ..< k0+kb` of op(B) into `nr`-column panels
    /// (`panelStride` floats apart), each k-major with `nr` floats per k, zeros past `nb`.
    static func packB(_ b: UnsafePointer<Float>, ldb: Int, layout: RightOperandLayout,
                      n0: Int, nb: Int, k0: Int, kb: Int,
                      dst: UnsafeMutablePointer<Float>, panelStride: Int) {
        var j0 = 0
        while j0 < nb {
            let cols = min(nr, nb - j0)
            let panel = dst + (j0 / nr) * panelStride
            if layout == .rowsKN {
                for kk in 0..<kb {
                    let out = panel + kk * nr
                    out.update(from: b + (k0 + kk) * ldb + n0 + j0, count: cols)
                    if cols < nr { (out + cols).update(repeating: 0, count: nr - cols) }
                }
            } else {
                for j in 0..<cols {
                    let src = b + (n0 + j0 + j) * ldb + k0
                    for kk in 0..<kb { panel[kk * nr + j] = src[kk] }
                }
                if cols < nr {
                    for kk in 0..<kb { (panel + kk * nr + cols).update(repeating: 0, count: nr - cols) }
                }
            }
            j0 += nr
        }
    }
}
