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
        (mc * kc + kc * ncMax + mr * nr + mr * kc) * MemoryLayout<Float>.stride + 4 * 64
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

    /// Packs a whole right operand — `[n, k]` (`.rowsNK`) or `[k, n]` (`.rowsKN`), row stride
    /// `ld` — into the layout of `packWeights`, so several products can share one packing.
    public static func packRightOperand(_ src: UnsafePointer<Float>, layout: RightOperandLayout, n: Int, k: Int,
                                        ld: Int, into dst: UnsafeMutablePointer<Float>) {
        packB(src, ldb: ld, layout: layout, n0: 0, nb: n, k0: 0, kb: k, dst: dst, panelStride: k * nr)
    }

    /// Computes rows `rows` and columns `cols` of the product described by `p`.
    /// With a packed B (fp32 or fp16), `cols.lowerBound` must be a multiple of `nr`.
    public static func gemm(_ p: GemmOperands, rows: Range<Int>, cols: Range<Int>,
                            scratch: UnsafeMutableRawPointer) {
        if rows.isEmpty || cols.isEmpty { return }
        let base = UnsafeMutableRawPointer(bitPattern: (Int(bitPattern: scratch) + 63) & ~63)!
        let aPack = base.bindMemory(to: Float.self, capacity: mc * kc)
        let bPack = aPack + mc * kc
        let tile = bPack + kc * ncMax
        let edgeA = tile + mr * nr
        if p.k == 0 {
            zeroOrKeep(p, rows: rows, cols: cols)
            return
        }
        // One or two rows (adaLN at batch 1–2) stream the weights: a path of their own.
        if rows.count <= 2, !p.aTransposed, fewRowsProduct(p, rows: rows, cols: cols, tile: tile) { return }
        // A packed fp32 B needs no packing buffer, so its columns are done in one chunk.
        let chunk = p.bLayout == .packed ? cols.count : ncMax
        var c0 = cols.lowerBound
        while c0 < cols.upperBound {
            let c1 = min(cols.upperBound, c0 + chunk)
            let blocks = (p.k + kc - 1) / kc
            let kBlock = (p.k + blocks - 1) / blocks
            var k0 = 0
            while k0 < p.k {
                let kb = min(kBlock, p.k - k0)
                let block = Block(c0: c0, c1: c1, k0: k0, kb: kb, last: k0 + kb == p.k)
                switch p.bLayout {
                case .packed:
                    rowBlocks(p, rows, block, p.bFloats + (c0 / nr) * p.k * nr + k0 * nr, panelStride: p.k * nr, aPack, edgeA, tile)
                case .packedHalf:
                    let half = p.bHalves + (c0 / nr) * p.k * nr + k0 * nr
                    if rows.count > 2 * mr {
                        // Widened once into the packing buffer, then shared by every row tile:
                        // widening inside the micro-kernel competes with its FMAs (0.78× fp32).
                        widen(half, panels: (c1 - c0 + nr - 1) / nr, kb: kb, panelStride: p.k * nr, into: bPack)
                        rowBlocks(p, rows, block, UnsafePointer(bPack), panelStride: kb * nr, aPack, edgeA, tile)
                    } else {
                        // A row tile or two (adaLN, tiny batches): each panel is read once anyway.
                        rowBlocks(p, rows, block, half, panelStride: p.k * nr, aPack, edgeA, tile)
                    }
                case .rowsNK, .rowsKN:
                    packB(p.bFloats, ldb: p.ldb, layout: p.bLayout, n0: c0, nb: c1 - c0, k0: k0, kb: kb,
                          dst: bPack, panelStride: kb * nr)
                    rowBlocks(p, rows, block, UnsafePointer(bPack), panelStride: kb * nr, aPack, edgeA, tile)
                }
                k0 += kb
            }
            c0 = c1
        }
    }

    /// Computes `p` for `rows` (one or two rows, A read in place) and columns `cols` when B is
    /// packed (fp32 or fp16 panels) and returns true; false for other layouts. Such a product
    /// (adaLN's modulations at batch 1–2) only streams its weights, which the blocked path reads
    /// badly: K block by K block, through a 6-row tile with four rows empty. Here each build's
    /// two-row tile (`twoRowTile`, `fewRowsColumns` wide: FewRows6x16.swift, FewRows2x64.swift)
    /// takes its panels with every K block before the next, so the weights are read once, in
    /// address order. The K blocks, each block's FMA order and the addition of each block's sum
    /// to C are those of `rowBlocks`: the result is bit-identical to the blocked path's.
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
            let nb = min(fewRowsColumns, cols.upperBound - j0)
            let first = b + (j0 / nr) * panelStride
            // A tile two panels wide given a last single panel computes it twice.
            let second = nb > nr ? first + panelStride : first
            var k0 = 0
            while k0 < p.k {
                let kb = min(kBlock, p.k - k0)
                twoRowTile(kb, a0 + k0, a1 + k0, first + k0 * nr, second + k0 * nr, tile)
                let accumulate = k0 > 0 || p.accumulate
                for r in 0..<rows.count {
                    let c = p.c + (rows.lowerBound + r) * p.ldc + j0, t = UnsafePointer(tile + r * fewRowsColumns)
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

    /// Columns `c0 ..< c1` and depth `k0 ..< k0+kb` of one product (`last`: the final K block,
    /// which applies the epilogue).
    struct Block {
        let c0, c1, k0, kb: Int
        let last: Bool
    }

    /// One K block of `rows` × the block's columns, B already in panels at `bBase`.
    @inline(__always)
    static func rowBlocks<B: PanelElement>(_ p: GemmOperands, _ rows: Range<Int>, _ blk: Block, _ bBase: UnsafePointer<B>,
                                           panelStride: Int, _ aPack: UnsafeMutablePointer<Float>,
                                           _ edgeA: UnsafeMutablePointer<Float>, _ tile: UnsafeMutablePointer<Float>) {
        let k0 = blk.k0, kb = blk.kb
        let accumulate = k0 > 0 || p.accumulate
        var m0 = rows.lowerBound
        while m0 < rows.upperBound {
            let mb = min(mc, rows.upperBound - m0)
            // A is read in place, six row streams, except when transposed (packed
            // whole) and in a last partial row group (packed with zero rows).
            let fullGroups = mb / mr * mr
            if p.aTransposed {
                packA(p, m0: m0, mb: mb, k0: k0, kb: kb, dst: aPack)
            } else if fullGroups < mb {
                packA(p, m0: m0 + fullGroups, mb: mb - fullGroups, k0: k0, kb: kb, dst: edgeA)
            }
            var j0 = blk.c0
            while j0 < blk.c1 {
                let nb = min(nr, blk.c1 - j0)
                let bPanel = bBase + ((j0 - blk.c0) / nr) * panelStride
                var i0 = 0
                while i0 < mb {
                    let rowsHere = min(mr, mb - i0)
                    let cTile = p.c + (m0 + i0) * p.ldc + j0
                    let aPanel: UnsafePointer<Float>, rs: Int, ks: Int
                    if p.aTransposed {
                        (aPanel, rs, ks) = (UnsafePointer(aPack + i0 * kb), 1, mr)
                    } else if i0 < fullGroups {
                        (aPanel, rs, ks) = (p.a + ((m0 + i0) * p.lda + k0), p.lda, 1)
                    } else {
                        (aPanel, rs, ks) = (UnsafePointer(edgeA), 1, mr)
                    }
                    if rowsHere == mr && nb == nr {
                        microkernel(kb, aPanel, rowStride: rs, kStride: ks, bPanel, cTile, p.ldc, accumulate)
                    } else {
                        edgeTile(kb, aPanel, rs, ks, bPanel, cTile, p.ldc, rowsHere, nb, accumulate, tile)
                    }
                    if blk.last {
                        epilogue(cTile, ldc: p.ldc, rows: rowsHere, cols: nb,
                                 bias: p.bias.map { $0 + j0 }, activation: p.activation)
                    }
                    i0 += mr
                }
                j0 += nr
            }
            m0 += mb
        }
    }

    /// `panels` fp16 panels of depth `kb` (`panelStride` halves apart) → consecutive fp32 panels.
    static func widen(_ src: UnsafePointer<Float16>, panels: Int, kb: Int, panelStride: Int,
                      into dst: UnsafeMutablePointer<Float>) {
        let w = V.scalarCount, count = kb &* nr
        for j in 0..<panels {
            let s = src + j &* panelStride, d = dst + j &* count
            var i = 0
            while i < count {
                store(Float16.vector(s + i), d + i)
                i &+= w
            }
        }
    }

    /// A partial register tile: computed in `tile` (ld = nr), then its valid part copied out.
    @inline(__always)
    static func edgeTile<B: PanelElement>(_ kb: Int, _ a: UnsafePointer<Float>, _ rs: Int, _ ks: Int, _ b: UnsafePointer<B>,
                         _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ rows: Int, _ cols: Int,
                         _ accumulate: Bool, _ tile: UnsafeMutablePointer<Float>) {
        if accumulate {
            for r in 0..<rows { (tile + r * nr).update(from: c + r * ldc, count: cols) }
        }
        edgeMicrokernel(kb, a, rowStride: rs, kStride: ks, b, tile, nr, accumulate, cols: cols)
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
    /// k-major (`mr` floats per k), zero rows past the end. Index arithmetic is unchecked
    /// (`&+`, `&*`): packing is a fifth of a forward pass otherwise.
    static func packA(_ p: GemmOperands, m0: Int, mb: Int, k0: Int, kb: Int,
                      dst: UnsafeMutablePointer<Float>) {
        let lda = p.lda
        var i0 = 0
        while i0 < mb {
            let rowsHere = min(mr, mb &- i0)
            let panel = dst + (i0 &* kb)
            if p.aTransposed {
                // op(A)[m, k] = A[k, m]: each k holds the panel's rows contiguously.
                var src = p.a + (k0 &* lda &+ m0 &+ i0)
                var out = panel
                if rowsHere == 6 && mr == 6 {
                    // Six fixed copies per k: the variable-count loop went float by float.
                    for _ in 0..<kb {
                        out[0] = src[0]; out[1] = src[1]; out[2] = src[2]
                        out[3] = src[3]; out[4] = src[4]; out[5] = src[5]
                        src += lda
                        out += 6
                    }
                } else {
                    for _ in 0..<kb {
                        for r in 0..<rowsHere { out[r] = src[r] }
                        for r in rowsHere..<mr { out[r] = 0 }
                        src += lda
                        out += mr
                    }
                }
            } else if rowsHere == 6 && mr == 6 {
                // Six row streams read in step, six contiguous stores per k.
                let s0 = p.a + ((m0 &+ i0) &* lda &+ k0)
                let s1 = s0 + lda, s2 = s1 + lda, s3 = s2 + lda, s4 = s3 + lda, s5 = s4 + lda
                var out = panel
                for kk in 0..<kb {
                    out[0] = s0[kk]; out[1] = s1[kk]; out[2] = s2[kk]
                    out[3] = s3[kk]; out[4] = s4[kk]; out[5] = s5[kk]
                    out += 6
                }
            } else {
                for r in 0..<mr {
                    var out = panel + r
                    if r < rowsHere {
                        let src = p.a + ((m0 &+ i0 &+ r) &* lda &+ k0)
                        for kk in 0..<kb { out.pointee = src[kk]; out += mr }
                    } else {
                        for _ in 0..<kb { out.pointee = 0; out += mr }
                    }
                }
            }
            i0 &+= mr
        }
    }

    /// Packs columns `n0 ..< n0+nb`, depth `k0 ..< k0+kb` of op(B) into `nr`-column panels
    /// (`panelStride` floats apart), each k-major with `nr` floats per k, zeros past `nb`.
    static func packB(_ b: UnsafePointer<Float>, ldb: Int, layout: RightOperandLayout,
                      n0: Int, nb: Int, k0: Int, kb: Int,
                      dst: UnsafeMutablePointer<Float>, panelStride: Int) {
        var j0 = 0
        while j0 < nb {
            let cols = min(nr, nb &- j0)
            let panel = dst + ((j0 / nr) &* panelStride)
            if layout == .rowsKN {
                var src = b + (k0 &* ldb &+ n0 &+ j0)
                var out = panel
                for _ in 0..<kb {
                    out.update(from: src, count: cols)
                    if cols < nr { (out + cols).update(repeating: 0, count: nr &- cols) }
                    src += ldb
                    out += nr
                }
            } else {
                // Transposing copy (weights being packed, attention's keys, training's products
                // on its unpacked weights): whole w × w blocks through the build's register
                // transpose (16 × 16 on AVX-512, 8 × 8 on AVX2), then the rest of K and of the
                // columns element by element.
                let w = V.scalarCount
                let squareCols = cols / w &* w, squareK = kb / w &* w
                var j = 0
                while j < squareCols {
                    let s0 = b + ((n0 &+ j0 &+ j) &* ldb &+ k0)
                    var kk = 0
                    while kk < squareK {
                        transposeSquare(s0 + kk, lds: ldb, panel + (kk &* nr &+ j), ldd: nr)
                        kk &+= w
                    }
                    while kk < kb {
                        for r in 0..<w { panel[kk &* nr &+ j &+ r] = s0[r &* ldb &+ kk] }
                        kk &+= 1
                    }
                    j &+= w
                }
                // The remaining columns, four source rows at a time so stores come in runs of four.
                while j &+ 4 <= cols {
                    let s0 = b + ((n0 &+ j0 &+ j) &* ldb &+ k0)
                    let s1 = s0 + ldb, s2 = s1 + ldb, s3 = s2 + ldb
                    var out = panel + j
                    for kk in 0..<kb {
                        out[0] = s0[kk]; out[1] = s1[kk]; out[2] = s2[kk]; out[3] = s3[kk]
                        out += nr
                    }
                    j &+= 4
                }
                while j < cols {
                    let src = b + ((n0 &+ j0 &+ j) &* ldb &+ k0)
                    var out = panel + j
                    for kk in 0..<kb { out.pointee = src[kk]; out += nr }
                    j &+= 1
                }
                if cols < nr {
                    var out = panel + cols
                    for _ in 0..<kb { out.update(repeating: 0, count: nr &- cols); out += nr }
                }
            }
            j0 &+= nr
        }
    }
}
