/// Multi-head softmax attention on a fused qkv projection, one (sample, head, query block)
/// per task: `S = Q·Kᵀ` and `O = softmax(S/√hd)·V` as two single-thread GEMMs on the
/// task's scratch, written straight into the head's columns of the output.
public enum Attention {
    /// Rows of queries per task, chosen so there are enough tasks for the threads.
    static func queryChunk(batch: Int, tokens: Int, heads: Int, threads: Int) -> Int {
        let units = batch * heads
        if threads == 1 || units >= 2 * threads { return tokens }
        let split = (2 * threads + units - 1) / units
        return max(6, ((tokens + split - 1) / split + 5) / 6 * 6)
    }

    /// Per-thread scratch bytes `forward` needs (one block of scores).
    public static func scratchBytes(batch: Int, tokens: Int, heads: Int, threads: Int) -> Int {
        queryChunk(batch: batch, tokens: tokens, heads: heads, threads: threads) * tokens * MemoryLayout<Float>.stride
    }

    /// - Parameters:
    ///   - qkv: `[batch·tokens, ldqkv]`, each row `[q heads | k heads | v heads]`, each head
    ///     `headDim` contiguous values (timm's `qkv` Linear before its reshape).
    ///   - heads: which heads to compute; the output columns of the others are not written.
    ///   - out: `[batch·tokens, ldo]`; head h goes to columns `h·headDim ..< (h+1)·headDim`.
    public static func forward(qkv: UnsafePointer<Float>, ldqkv: Int, batch: Int, tokens: Int,
                               heads: Int, headDim: Int,
                               out: UnsafeMutablePointer<Float>, ldo: Int, ctx: ComputeContext) {
        let d = heads * headDim
        let chunk = queryChunk(batch: batch, tokens: tokens, heads: heads, threads: ctx.threadCount)
        ctx.reserveExtraScratch(bytes: chunk * tokens * MemoryLayout<Float>.stride)
        let chunks = (tokens + chunk - 1) / chunk
        let scale = 1 / Float(headDim).squareRoot()
        let isa = ctx.isa
        ctx.pool.run(tasks: batch * heads * chunks) { task, thread in
            let qc = task % chunks
            let h = (task / chunks) % heads
            let b = task / (chunks * heads)
            let q0 = qc * chunk
            let qn = min(chunk, tokens - q0)
            let rows = qkv + b * tokens * ldqkv
            let scores = ctx.extraScratch(thread: thread).assumingMemoryBound(to: Float.self)
            Gemm.runSerial(GemmOperands(m: qn, n: tokens, k: headDim,
                                        a: rows + q0 * ldqkv + h * headDim, lda: ldqkv,
                                        b: rows + d + h * headDim, ldb: ldqkv, bLayout: .rowsNK,
                                        c: scores, ldc: tokens), ctx: ctx, thread: thread)
            Dispatch.softmaxRows(isa, scores, ld: tokens, rows: qn, cols: tokens, scale: scale)
            Gemm.runSerial(GemmOperands(m: qn, n: headDim, k: tokens,
                                        a: scores, lda: tokens,
                                        b: rows + 2 * d + h * headDim, ldb: ldqkv, bLayout: .rowsKN,
                                        c: out + (b * tokens + q0) * ldo + h * headDim, ldc: ldo),
                           ctx: ctx, thread: thread)
        }
    }
}
