import CSupport
import DyDiTKernelsBF16

/// Multi-head softmax attention with both products in bf16: `S = bf16(Q)·bf16(K)ᵀ` and
/// `O = bf16(softmax(S/√hd))·bf16(V)`, sums in fp32, the softmax in fp32 — on AMX tiles where
/// the CPU has them (the bf16 and int8 models' attention: with their linear layers on AMX, the
/// fp32 attention had become the largest part of what is left). Same layout and task split as
/// `Attention.forward`: one task per (sample, head), K and V packed once as B operands, queries
/// in blocks whose scores stay in cache, so memory grows linearly in tokens.
///
/// The fallback tile's path (`BF16Path.portable`, equal bit for bit to `Reference.bf16Product`'s
/// scalar additions) is the reference: the same roundings and the same operand layouts, added
/// in `vdpbf16ps`'s order (the AVX512_BF16 path equals it bit for
/// bit; AMX adds in its own order, within fp32 summation error).
public enum BF16Attention {
    /// Queries per block: AMX's 32 rows, or 8 of the 6-row tiles; a block's scores (32 × 256
    /// floats at 256 tokens) stay in L1 between the softmax and their rounding.
    static func queryBlock(_ path: BF16Path) -> Int { path == .amx ? 32 : 48 }

    /// The largest block any path uses (scratch is sized for it).
    static let largestQueryBlock = 48

    /// Word and float counts of one task's scratch: packed K `[token panel][hd pair][16]`,
    /// packed V `[hd panel][token pair][16]`, the block's Q and P as A operands, its scores and
    /// its output tile, and K's rows rounded before the transpose into panels (whole panels:
    /// the rows past the last token zero).
    struct Layout {
        let kPairs: Int, kPairsPadded: Int, tokenPanels: Int
        let tokenPairs: Int, tokenPairsPadded: Int, headPanels: Int
        let packedK: Int, packedV: Int, q: Int, scores: Int, p: Int, o: Int, kRows: Int

        init(tokens: Int, headDim: Int) {
            kPairs = (headDim + 1) / 2
            kPairsPadded = (kPairs + 15) / 16 * 16
            tokenPanels = (tokens + 15) / 16
            tokenPairs = (tokens + 1) / 2
            tokenPairsPadded = (tokenPairs + 15) / 16 * 16
            headPanels = (headDim + 15) / 16
            packedK = tokenPanels * kPairsPadded * 16
            packedV = headPanels * tokenPairsPadded * 16
            q = largestQueryBlock * kPairsPadded
            scores = largestQueryBlock * tokenPanels * 16
            p = largestQueryBlock * tokenPairsPadded
            o = largestQueryBlock * headPanels * 16
            kRows = tokenPanels * 16 * kPairsPadded
        }

        /// Offsets in 4-byte words, each region on a 64-byte boundary.
        var offsets: [Int] {
            var at = 0
            return [packedK, packedV, q, scores, p, o, kRows].map { size in
                defer { at += (size + 15) / 16 * 16 }
                return at
            }
        }

        var words: Int { offsets.last! + (kRows + 15) / 16 * 16 }
    }

    /// Per-thread scratch bytes `forward` needs.
    public static func scratchBytes(tokens: Int, headDim: Int) -> Int {
        Layout(tokens: tokens, headDim: headDim).words * 4
    }

    /// - Parameters: as `Attention.forward`; `path` and `rounding` default to the best the
    ///   context runs (tests pick others: every choice gives the same roundings).
    public static func forward(qkv: UnsafePointer<Float>, ldqkv: Int, batch: Int, tokens: Int, heads: Int, headDim: Int,
                               out: UnsafeMutablePointer<Float>, ldo: Int, ctx: ComputeContext, path: BF16Path? = nil,
                               rounding: BF16PairRounding? = nil) {
        if batch == 0 || tokens == 0 || heads == 0 { return }
        let path = path ?? BF16Path.best(for: ctx.isa)
        precondition(path.isSupported(), "the \(path) bf16 path needs instructions this CPU lacks (\(CPUFeatures.current.brand))")
        let l = Layout(tokens: tokens, headDim: headDim), at = l.offsets
        ctx.reserveExtraScratch(bytes: l.words * 4)
        let d = heads * headDim, hd = headDim
        let tileRows = path == .amx ? 32 : 6, block = queryBlock(path)
        let rounding = rounding ?? BF16PairRounding.best(for: ctx.isa)
        precondition(rounding.isSupported(), "the \(rounding) bf16 rounding needs instructions this CPU lacks")
        let vector = rounding != .scalar
        let scale = 1 / Float(headDim).squareRoot()
        let isa = ctx.isa
        ctx.pool.run(tasks: batch * heads) { task, thread in
            let h = task % heads, b = task / heads
            let rows = qkv + b * tokens * ldqkv
            let words = ctx.extraScratch(thread: thread).assumingMemoryBound(to: UInt32.self)
            let packedK = words + at[0], packedV = words + at[1], qWords = words + at[2]
            let scores = UnsafeMutableRawPointer(words + at[3]).assumingMemoryBound(to: Float.self)
            let pWords = words + at[4]
            let oTile = UnsafeMutableRawPointer(words + at[5]).assumingMemoryBound(to: Float.self)
            let kRows = words + at[6]

            // K: each token's row rounded to pairs, then transposed into 16-token panels.
            roundRows(rows + d + h * hd, ld: ldqkv, count: tokens, values: hd, into: kRows, stride: l.kPairsPadded,
                      rounding: rounding, prefetch: true)
            // Whole panels: the rows past the last token are zeros.
            (kRows + tokens * l.kPairsPadded).update(repeating: 0, count: (l.tokenPanels * 16 - tokens) * l.kPairsPadded)
            for panel in 0..<l.tokenPanels {
                for p0 in stride(from: 0, to: l.kPairsPadded, by: 16) {
                    transpose16x16(kRows + panel * 16 * l.kPairsPadded + p0, lds: l.kPairsPadded,
                                   into: packedK + panel * l.kPairsPadded * 16 + p0 * 16, vector: vector)
                }
            }
            // V: token pairs along k, 16 head features per panel.
            let v = rows + 2 * d + h * hd
            for p in 0..<l.tokenPairsPadded {
                let ahead = 2 * (p + rowsAhead / 2)
                if ahead + 1 < tokens {
                    prefetchRow(v + ahead * ldqkv, values: hd)
                    prefetchRow(v + (ahead + 1) * ldqkv, values: hd)
                }
                for panel in 0..<l.headPanels {
                    let dst = packedV + panel * l.tokenPairsPadded * 16 + p * 16
                    let c0 = panel * 16, cols = min(16, hd - c0)
                    if 2 * p + 1 < tokens {
                        pairUp(v + 2 * p * ldqkv + c0, v + (2 * p + 1) * ldqkv + c0, count: cols, into: dst, vector: vector)
                    } else if 2 * p < tokens {
                        // The odd token count's last pair: the second token is padding.
                        for c in 0..<cols { dst[c] = BFloat16.pair(v[2 * p * ldqkv + c0 + c], 0) }
                    } else {
                        for c in 0..<cols { dst[c] = 0 }
                    }
                    for c in cols..<16 { dst[c] = 0 }
                }
            }

            var q0 = 0
            while q0 < tokens {
                let qn = min(block, tokens - q0), padded = (qn + tileRows - 1) / tileRows * tileRows
                roundRows(rows + q0 * ldqkv + h * hd, ld: ldqkv, count: qn, values: hd, into: qWords, stride: l.kPairsPadded,
                          rounding: rounding, prefetch: true)
                (qWords + qn * l.kPairsPadded).update(repeating: 0, count: (padded - qn) * l.kPairsPadded)
                let ldS = l.tokenPanels * 16
                product(path, isa: isa, a: qWords, lda: l.kPairsPadded, rows: padded, b: packedK, panelStride: l.kPairsPadded * 16,
                        panels: l.tokenPanels, kPairs: l.kPairs, out: scores, ldo: ldS)
                Dispatch.softmaxRows(isa, scores, ld: ldS, rows: qn, cols: tokens, scale: scale)
                // P: rows of probabilities rounded to pairs; an odd count's last pair and the
                // padding beyond are zeros (as are V's there).
                roundRows(scores, ld: ldS, count: qn, values: tokens, into: pWords, stride: l.tokenPairsPadded,
                          rounding: rounding)
                (pWords + qn * l.tokenPairsPadded).update(repeating: 0, count: (padded - qn) * l.tokenPairsPadded)
                // A block of whole tiles and panels goes straight to the output (a copy through
                // the tile was a tenth of the attention's time); a ragged one through the tile.
                let direct = qn == padded && hd == l.headPanels * 16
                let target = direct ? out + (b * tokens + q0) * ldo + h * hd : oTile, ldT = direct ? ldo : l.headPanels * 16
                product(path, isa: isa, a: pWords, lda: l.tokenPairsPadded, rows: padded, b: packedV, panelStride: l.tokenPairsPadded * 16,
                        panels: l.headPanels, kPairs: l.tokenPairs, out: target, ldo: ldT)
                if !direct {
                    for r in 0..<qn { (out + (b * tokens + q0 + r) * ldo + h * hd).update(from: oTile + r * ldT, count: hd) }
                }
                q0 += qn
            }
        }
    }

    /// `count` rows of `values` floats (row stride `ld`) as rows of `stride` words of bf16
    /// pairs, an odd count's last pair and the padding beyond zero.
    /// With `prefetch`, the lines of the row `rowsAhead` rows on are requested first: Q and K
    /// are one head's 256 bytes per row of the qkv matrix, rows 9 KB apart (DiT-B/2), so each
    /// row starts in another page, which the hardware prefetchers do not follow: the rounding
    /// waited on L3 (requesting ahead: the attention 1.08× faster, BENCHMARKS.md).
    @inline(__always)
    static func roundRows(_ src: UnsafePointer<Float>, ld: Int, count: Int, values: Int, into dst: UnsafeMutablePointer<UInt32>,
                          stride: Int, rounding: BF16PairRounding, prefetch: Bool = false) {
        let pairs = values / 2
        for r in 0..<count {
            let row = src + r * ld, out = dst + r * stride
            if prefetch && r + rowsAhead < count { prefetchRow(row + rowsAhead * ld, values: values) }
            rounding.round(row, pairs: pairs, into: out)
            var next = pairs
            if values % 2 == 1 {
                out[pairs] = BFloat16.pair(row[values - 1], 0)
                next += 1
            }
            (out + next).update(repeating: 0, count: stride - next)
        }
    }

    /// How far ahead `roundRows` and the V packing request rows: eight rows of 256 bytes cover
    /// an L3 hit's latency at the rounding's pace.
    static let rowsAhead = 8

    @inline(__always)
    static func prefetchRow(_ row: UnsafePointer<Float>, values: Int) {
        var offset = 0
        while offset < values {
            dydit_prefetch_read(row + offset)
            offset += 16
        }
    }

    /// A 16 × 16 block of words transposed into a B panel (16 words per row): AVX-512
    /// shuffles, or the scalar loop that defines them.
    @inline(__always)
    static func transpose16x16(_ src: UnsafePointer<UInt32>, lds: Int, into dst: UnsafeMutablePointer<UInt32>, vector: Bool) {
        if vector { BF16Kernels.transpose16x16(src, lds: lds, into: dst, ldd: 16) } else {
            for r in 0..<16 { for c in 0..<16 { dst[c * 16 + r] = src[r * lds + c] } }
        }
    }

    @inline(__always)
    static func pairUp(_ even: UnsafePointer<Float>, _ odd: UnsafePointer<Float>, count: Int, into dst: UnsafeMutablePointer<UInt32>,
                       vector: Bool) {
        if vector { BF16Kernels.interleavePairs(even, odd, count: count, into: dst) } else {
            for c in 0..<count { dst[c] = BFloat16.pair(even[c], odd[c]) }
        }
    }

    /// `out[rows, panels·16] = a · b` for A rows of `lda` words (k-pairs, padded to 16) and B
    /// panels of `panelStride` words; `rows` a multiple of the path's tile rows.
    static func product(_ path: BF16Path, isa: ISA, a: UnsafePointer<UInt32>, lda: Int, rows: Int, b: UnsafePointer<UInt32>,
                        panelStride: Int, panels: Int, kPairs: Int, out: UnsafeMutablePointer<Float>, ldo: Int) {
        if path == .amx {
            let kBlocks = Int32(lda / 16)
            for r0 in stride(from: 0, to: rows, by: 32) {
                dydit_amx_bf16_rows32(kBlocks, a + r0 * lda, lda, b, panelStride, Int32(panels), out + r0 * ldo, ldo)
            }
            return
        }
        let kernels = path.kernels(isa)
        for r0 in stride(from: 0, to: rows, by: 6) {
            for p0 in stride(from: 0, to: panels, by: 4) {
                kernels.tile(kPairs: kPairs, a: a + r0 * lda, lda: lda, b: b + p0 * panelStride, panelStride: panelStride,
                             panels: min(4, panels - p0), out: out + r0 * ldo + p0 * 16, ldo: ldo)
            }
        }
    }
}
