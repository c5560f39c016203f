/// Attention for training: the forward pass keeps each head's probabilities for the
/// backward pass, which runs per (sample, head) as four small GEMMs:
/// `dP = dO·Vᵀ`, `dV = Pᵀ·dO`, `dS = scale·P ⊙ (dP − rowsum(dP ⊙ P))`, `dQ = dS·K`, `dK = dSᵀ·Q`.
extension Attention {
    /// Floats of `probabilities` for `forwardKeepingProbabilities`: `[batch, heads, tokens, tokens]`.
    public static func probabilityCount(batch: Int, tokens: Int, heads: Int) -> Int {
        batch * heads * tokens * tokens
    }

    /// `Attention.forward`, keeping `P = softmax(Q·Kᵀ/√hd)` of every head in `probabilities`.
    public static func forwardKeepingProbabilities(qkv: UnsafePointer<Float>, ldqkv: Int, batch: Int, tokens: Int,
                                                   heads: Int, headDim: Int, probabilities: UnsafeMutablePointer<Float>,
                                                   out: UnsafeMutablePointer<Float>, ldo: Int, ctx: ComputeContext) {
        let d = heads * headDim, isa = ctx.isa
        let scale = 1 / Float(headDim).squareRoot()
        ctx.pool.run(tasks: batch * heads) { task, thread in
            let h = task % heads, b = task / heads
            let rows = qkv + b * tokens * ldqkv
            let p = probabilities + task * tokens * tokens
            Gemm.runSerial(GemmOperands(m: tokens, n: tokens, k: headDim, a: rows + h * headDim, lda: ldqkv,
                                        b: rows + d + h * headDim, ldb: ldqkv, bLayout: .rowsNK, c: p, ldc: tokens),
                           ctx: ctx, thread: thread)
            Dispatch.softmaxRows(isa, p, ld: tokens, rows: tokens, cols: tokens, scale: scale)
            Gemm.runSerial(GemmOperands(m: tokens, n: headDim, k: tokens, a: p, lda: tokens,
                                        b: rows + 2 * d + h * headDim, ldb: ldqkv, bLayout: .rowsKN,
                                        c: out + b * tokens * ldo + h * headDim, ldc: ldo),
                           ctx: ctx, thread: thread)
        }
    }

    /// Per-thread scratch bytes `backward` needs: one head's `dS`.
    public static func backwardScratchBytes(tokens: Int) -> Int {
        tokens * tokens * MemoryLayout<Float>.stride
    }

    /// Gradient of the attention with respect to `qkv`, written (not added) to `dqkv`
    /// (same layout as `qkv`), from the output gradient `dOut [batch·tokens, lddo]`.
    public static func backward(qkv: UnsafePointer<Float>, ldqkv: Int, probabilities: UnsafePointer<Float>,
                                dOut: UnsafePointer<Float>, lddo: Int, batch: Int, tokens: Int, heads: Int, headDim: Int,
                                dqkv: UnsafeMutablePointer<Float>, lddqkv: Int, ctx: ComputeContext) {
        let d = heads * headDim, isa = ctx.isa
        let scale = 1 / Float(headDim).squareRoot()
        ctx.reserveExtraScratch(bytes: backwardScratchBytes(tokens: tokens))
        ctx.pool.run(tasks: batch * heads) { task, thread in
            let h = task % heads, b = task / heads
            let rows = qkv + b * tokens * ldqkv, grads = dqkv + b * tokens * lddqkv
            let q = rows + h * headDim, k = rows + d + h * headDim, v = rows + 2 * d + h * headDim
            let dO = dOut + b * tokens * lddo + h * headDim
            let p = probabilities + task * tokens * tokens
            let dS = ctx.extraScratch(thread: thread).assumingMemoryBound(to: Float.self)
            func gemm(m: Int, n: Int, k kk: Int, a: UnsafePointer<Float>, lda: Int, aT: Bool = false,
                      b bb: UnsafePointer<Float>, ldb: Int, layout: RightOperandLayout, c: UnsafeMutablePointer<Float>, ldc: Int) {
                Gemm.runSerial(GemmOperands(m: m, n: n, k: kk, a: a, lda: lda, aTransposed: aT, b: bb, ldb: ldb,
                                            bLayout: layout, c: c, ldc: ldc), ctx: ctx, thread: thread)
            }
            gemm(m: tokens, n: tokens, k: headDim, a: dO, lda: lddo, b: v, ldb: ldqkv, layout: .rowsNK, c: dS, ldc: tokens)
            gemm(m: tokens, n: headDim, k: tokens, a: p, lda: tokens, aT: true, b: dO, ldb: lddo, layout: .rowsKN,
                 c: grads + 2 * d + h * headDim, ldc: lddqkv)
            Dispatch.softmaxBackwardRows(isa, p, ldp: tokens, dS, lddp: tokens, rows: tokens, cols: tokens, scale: scale)
            gemm(m: tokens, n: headDim, k: tokens, a: dS, lda: tokens, b: k, ldb: ldqkv, layout: .rowsKN,
                 c: grads + h * headDim, ldc: lddqkv)
            gemm(m: tokens, n: headDim, k: tokens, a: dS, lda: tokens, aT: true, b: q, ldb: ldqkv, layout: .rowsKN,
                 c: grads + d + h * headDim, ldc: lddqkv)
        }
    }
}
