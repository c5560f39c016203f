/// Attention for long sequences: FlashAttention's loop (Dao et al. 2022; the online softmax of
/// Milakov & Gimelshein 2018) on the CPU's GEMM tiles. One task per (sample, head), as in
/// `Attention.forward`: the head's keys and values are packed once, `keyTile` keys at a time;
/// each block of queries then runs through the tiles keeping a running maximum and sum per row,
///
///     S = Q·K_jᵀ;  P = exp(S/√hd − m_new);  l = α·l + ΣP;  O = α·O + P·V_j   (α = exp(m_old − m_new)),
///
/// and divides O by l once at the end. The only score memory is one `queryBlock × keyTile`
/// tile (48 KiB), whatever the length, where the blocked kernel holds `queryBlock × tokens`
/// scores (768 KiB at 4096 tokens): per-thread memory is the packed K and V (linear in
/// tokens) plus constant buffers. It also never normalises P: the division touches the
/// `queryBlock × headDim` output instead of every score.
extension Attention {
    /// Keys per tile: one tile of scores is as large as the blocked kernel's at 256 tokens.
    static let keyTile = 256

    /// Offsets (in floats, each 64-byte aligned) of a task's buffers in its thread's scratch:
    /// packed K and V tiles, one tile of scores and the rows' running maximum, sum and
    /// correction factor (`total`: the per-thread scratch `forwardTiled` needs).
    struct TiledLayout {
        let tiles: Int
        /// Floats of one packed K tile (`keyTile` keys × headDim) and of one packed V tile.
        let kTileFloats: Int, vTileFloats: Int
        let packedV: Int, scores: Int, rowMax: Int, rowSum: Int, alpha: Int, total: Int

        init(tokens: Int, headDim: Int, isa: ISA) {
            func aligned(_ n: Int) -> Int { (n + 15) / 16 * 16 }
            tiles = (tokens + keyTile - 1) / keyTile
            kTileFloats = aligned(Dispatch.packedWeightCount(isa, n: keyTile, k: headDim))
            vTileFloats = aligned(Dispatch.packedWeightCount(isa, n: headDim, k: keyTile))
            packedV = tiles * kTileFloats
            scores = packedV + tiles * vTileFloats
            rowMax = scores + queryBlock * keyTile
            rowSum = rowMax + aligned(queryBlock)
            alpha = rowSum + aligned(queryBlock)
            total = alpha + aligned(queryBlock)
        }
    }

    /// `Attention.forward` by key tiles with an online softmax (arguments as there).
    public static func forwardTiled(qkv: UnsafePointer<Float>, ldqkv: Int, batch: Int, tokens: Int,
                                    heads: Int, headDim: Int,
                                    out: UnsafeMutablePointer<Float>, ldo: Int, ctx: ComputeContext) {
        let d = heads * headDim
        let isa = ctx.isa
        let layout = TiledLayout(tokens: tokens, headDim: headDim, isa: isa)
        ctx.reserveExtraScratch(bytes: scratchBytes(tokens: tokens, headDim: headDim, isa: isa, kernel: .tiled))
        let scale = 1 / Float(headDim).squareRoot()
        ctx.pool.run(tasks: batch * heads) { task, thread in
            let h = task % heads, b = task / heads
            let rows = qkv + b * tokens * ldqkv
            let scratch = ctx.extraScratch(thread: thread).assumingMemoryBound(to: Float.self)
            let scores = scratch + layout.scores
            let rowMax = scratch + layout.rowMax, rowSum = scratch + layout.rowSum, alpha = scratch + layout.alpha
            for j in 0..<layout.tiles {
                let k0 = j * keyTile, kn = min(keyTile, tokens - k0)
                Dispatch.packRightOperand(isa, rows + k0 * ldqkv + d + h * headDim, layout: .rowsNK, n: kn, k: headDim,
                                          ld: ldqkv, into: scratch + j * layout.kTileFloats)
                Dispatch.packRightOperand(isa, rows + k0 * ldqkv + 2 * d + h * headDim, layout: .rowsKN, n: headDim, k: kn,
                                          ld: ldqkv, into: scratch + layout.packedV + j * layout.vTileFloats)
            }
            var q0 = 0
            while q0 < tokens {
                let qn = min(queryBlock, tokens - q0)
                let o = out + (b * tokens + q0) * ldo + h * headDim
                for r in 0..<qn { rowMax[r] = -.infinity; rowSum[r] = 0 }
                for j in 0..<layout.tiles {
                    let kn = min(keyTile, tokens - j * keyTile)
                    Gemm.runSerial(GemmOperands(m: qn, n: kn, k: headDim,
                                                a: rows + q0 * ldqkv + h * headDim, lda: ldqkv,
                                                b: scratch + j * layout.kTileFloats, ldb: headDim, bLayout: .packed,
                                                c: scores, ldc: keyTile), ctx: ctx, thread: thread)
                    Dispatch.onlineSoftmaxRows(isa, scores, ld: keyTile, rows: qn, cols: kn, scale: scale,
                                               rowMax: rowMax, rowSum: rowSum, alpha: alpha)
                    // The earlier tiles' output shrinks with the rows' new maxima (a pass over
                    // qn × headDim per tile: 1/(2·keyTile) of the tile's products).
                    if j > 0 { scaleRows(o, ld: ldo, rows: qn, cols: headDim, by: alpha, reciprocal: false) }
                    Gemm.runSerial(GemmOperands(m: qn, n: headDim, k: kn,
                                                a: scores, lda: keyTile,
                                                b: scratch + layout.packedV + j * layout.vTileFloats, ldb: kn,
                                                bLayout: .packed, c: o, ldc: ldo, accumulate: j > 0),
                                   ctx: ctx, thread: thread)
                }
                scaleRows(o, ld: ldo, rows: qn, cols: headDim, by: rowSum, reciprocal: true)
                q0 += qn
            }
        }
    }

    /// `x[r] *= f[r]` (or `/= f[r]`, as one reciprocal per row) for `rows` rows of `cols`
    /// values; rows whose factor is exactly 1 are left alone. A NaN factor makes its row NaN.
    @inline(__always)
    static func scaleRows(_ x: UnsafeMutablePointer<Float>, ld: Int, rows: Int, cols: Int,
                          by f: UnsafePointer<Float>, reciprocal: Bool) {
        for r in 0..<rows {
            let s = reciprocal ? 1 / f[r] : f[r]
            if s == 1 { continue }
            let row = x + r * ld
            for e in 0..<cols { row[e] *= s }
        }
    }
}
