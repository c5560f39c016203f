/// Multi-head softmax attention on a fused qkv projection. One task per (sample, head):
/// the head's keys and values are packed once into the GEMM's panel layout, then queries go
/// through in blocks small enough that a block of scores stays in cache:
/// `S = Q·Kᵀ`, `S = softmax(S/√hd)`, `O = S·V`, written straight into the head's columns.
public enum Attention {
    /// Queries per block: 8 register tiles, so 48 × tokens scores (48 KiB at 256 tokens).
    static let queryBlock = 48

    /// From this length on, `forward` runs `forwardTiled` (measured: BENCHMARKS.md, "Fused attention").
    public static let tiledFromTokens = 1024

    /// Per-thread scratch floats of the blocked kernel: packed K and V, and one block of scores.
    static func scratchFloats(tokens: Int, headDim: Int, isa: ISA) -> Int {
        let nr = Dispatch.tile(isa).nr
        let packedK = Dispatch.packedWeightCount(isa, n: tokens, k: headDim)
        let packedV = ((headDim + nr - 1) / nr) * nr * tokens
        return packedK + packedV + queryBlock * tokens + 2 * 16
    }

    /// Per-thread scratch bytes `forward` needs with `kernel` (`.auto`: the one it picks at
    /// this length), so a model can reserve them before it computes.
    public static func scratchBytes(tokens: Int, headDim: Int, isa: ISA, kernel: AttentionKernel = .auto) -> Int {
        let tiled = kernel == .tiled || (kernel == .auto && tokens >= tiledFromTokens)
        let floats = tiled ? TiledLayout(tokens: tokens, headDim: headDim, isa: isa).total
                           : scratchFloats(tokens: tokens, headDim: headDim, isa: isa)
        return floats * MemoryLayout<Float>.stride
    }

    /// - Parameters:
    ///   - qkv: `[batch·tokens, ldqkv]`, each row `[q heads | k heads | v heads]`, each head
    ///     `headDim` contiguous values (timm's `qkv` Linear before its reshape).
    ///   - out: `[batch·tokens, ldo]`; head h goes to columns `h·headDim ..< (h+1)·headDim`.
    ///   - kernel: `.auto` picks by length (`tiledFromTokens`); the others force one kernel.
    public static func forward(qkv: UnsafePointer<Float>, ldqkv: Int, batch: Int, tokens: Int,
                               heads: Int, headDim: Int,
                               out: UnsafeMutablePointer<Float>, ldo: Int, ctx: ComputeContext,
                               kernel: AttentionKernel = .auto) {
        if kernel == .tiled || (kernel == .auto && tokens >= tiledFromTokens) {
            forwardTiled(qkv: qkv, ldqkv: ldqkv, batch: batch, tokens: tokens, heads: heads, headDim: headDim,
                         out: out, ldo: ldo, ctx: ctx)
            return
        }
        let d = heads * headDim
        let isa = ctx.isa
        let nr = Dispatch.tile(isa).nr
        ctx.reserveExtraScratch(bytes: scratchBytes(tokens: tokens, headDim: headDim, isa: isa, kernel: .blocked))
        let packedKCount = Dispatch.packedWeightCount(isa, n: tokens, k: headDim)
        // Both packed blocks start on a 64-byte boundary.
        let packedVOffset = (packedKCount + 15) / 16 * 16
        let scoresOffset = packedVOffset + (((headDim + nr - 1) / nr) * nr * tokens + 15) / 16 * 16
        let scale = 1 / Float(headDim).squareRoot()
        ctx.pool.run(tasks: batch * heads) { task, thread in
            let h = task % heads, b = task / heads
            let rows = qkv + b * tokens * ldqkv
            let scratch = ctx.extraScratch(thread: thread).assumingMemoryBound(to: Float.self)
            let packedK = scratch, packedV = scratch + packedVOffset, scores = scratch + scoresOffset
            Dispatch.packRightOperand(isa, rows + d + h * headDim, layout: .rowsNK, n: tokens, k: headDim,
                                      ld: ldqkv, into: packedK)
            Dispatch.packRightOperand(isa, rows + 2 * d + h * headDim, layout: .rowsKN, n: headDim, k: tokens,
                                      ld: ldqkv, into: packedV)
            var q0 = 0
            while q0 < tokens {
                let qn = min(queryBlock, tokens - q0)
                Gemm.runSerial(GemmOperands(m: qn, n: tokens, k: headDim,
                                            a: rows + q0 * ldqkv + h * headDim, lda: ldqkv,
                                            b: packedK, ldb: headDim, bLayout: .packed,
                                            c: scores, ldc: tokens), ctx: ctx, thread: thread)
                Dispatch.softmaxRows(isa, scores, ld: tokens, rows: qn, cols: tokens, scale: scale)
                Gemm.runSerial(GemmOperands(m: qn, n: headDim, k: tokens,
                                            a: scores, lda: tokens,
                                            b: packedV, ldb: tokens, bLayout: .packed,
                                            c: out + (b * tokens + q0) * ldo + h * headDim, ldc: ldo),
                               ctx: ctx, thread: thread)
                q0 += qn
            }
        }
    }
}

/// Which fp32 attention kernel runs: the blocked one (a block of queries against every key),
/// the tiled one (online softmax over key tiles), or the faster at the length (`.auto`).
public enum AttentionKernel: String, CaseIterable, Sendable {
    case auto, blocked, tiled
}
