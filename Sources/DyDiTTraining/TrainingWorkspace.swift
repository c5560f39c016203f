import DyDiTKernels
import DyDiTModels

/// What a training forward pass keeps for its backward pass, and the gradient scratch, for
/// up to `capacity` samples. Allocated once per batch size and reused every step.
final class TrainingWorkspace {
    /// One block's saved activations (`rows = batch·tokens`).
    final class Block {
        /// Block input, after the attention update, normalised inputs of both branches.
        let h1, xn1, xn2: AlignedBuffer<Float>
        let qkv, probabilities, attention, maskedAttention, projOut: AlignedBuffer<Float>
        /// fc1 output before the mask and GELU, and after them (fc2's input).
        let pre, act, mlpOut: AlignedBuffer<Float>
        /// Token router: hidden layer after ReLU, logits, soft decisions and hard masks `[rows]`.
        let tokenHidden, tokenLogit, tokenSoft, tokenMask: AlignedBuffer<Float>

        init(_ c: DiTConfig, rows: Int, batch: Int, _ allocate: WorkspaceAllocator) {
            let d = c.hiddenSize
            h1 = allocate.make(rows * d)
            xn1 = allocate.make(rows * d)
            xn2 = allocate.make(rows * d)
            qkv = allocate.make(rows * 3 * d)
            probabilities = allocate.make(Attention.probabilityCount(batch: batch, tokens: c.tokens, heads: c.numHeads))
            attention = allocate.make(rows * d)
            maskedAttention = allocate.make(rows * d)
            projOut = allocate.make(rows * d)
            pre = allocate.make(rows * c.mlpHidden)
            act = allocate.make(rows * c.mlpHidden)
            mlpOut = allocate.make(rows * d)
            tokenHidden = allocate.make(rows * RouterParameters.tokenHidden(c))
            tokenLogit = allocate.make(rows)
            tokenSoft = allocate.make(rows)
            tokenMask = allocate.make(rows)
        }
    }

    let capacity: Int
    let blocks: [Block]
    /// Residual stream at each block's input, `depth + 1` of them (the last feeds the final layer).
    let stream: [AlignedBuffer<Float>]
    let patches, freq, tPre, tAct, te, c, siluC, modulation, xnFinal, finalTokens: AlignedBuffer<Float>
    /// Width routers `[batch, depth, R]` logits and soft decisions, `[batch, depth, NH]` masks.
    let attnLogits, attnSoft, attnMask, mlpLogits, mlpSoft, mlpMask: AlignedBuffer<Float>
    /// The logistic noise of the current router call.
    let noise: AlignedBuffer<Float>

    // Gradient scratch.
    let dH, dA, dB, dQKV, dHidden, dPre, dFinal, dModulation, dSiluC, dTe, dT: AlignedBuffer<Float>
    let dAttnMask, dMlpMask, dTokenMask, dTokenHidden, dRouterLogits: AlignedBuffer<Float>
    /// Bytes of all the buffers above.
    let byteCount: Int

    init(config c: DiTConfig, capacity: Int) {
        let n = c.tokens, d = c.hiddenSize, rows = capacity * n, nh = c.numHeads
        let modWidth = (6 * c.depth + 2) * d
        self.capacity = capacity
        let allocate = WorkspaceAllocator()
        blocks = (0..<c.depth).map { _ in Block(c, rows: rows, batch: capacity, allocate) }
        stream = (0...c.depth).map { _ in allocate.make(rows * d) }
        patches = allocate.make(rows * c.patchDim)
        freq = allocate.make(capacity * DiTConfig.frequencyDim)
        tPre = allocate.make(capacity * d)
        tAct = allocate.make(capacity * d)
        te = allocate.make(capacity * d)
        self.c = allocate.make(capacity * d)
        siluC = allocate.make(capacity * d)
        modulation = allocate.make(capacity * modWidth)
        xnFinal = allocate.make(rows * d)
        finalTokens = allocate.make(rows * c.finalDim)
        let widthCount = capacity * c.depth * nh
        attnLogits = allocate.make(widthCount)
        attnSoft = allocate.make(widthCount)
        attnMask = allocate.make(widthCount)
        mlpLogits = allocate.make(widthCount)
        mlpSoft = allocate.make(widthCount)
        mlpMask = allocate.make(widthCount)
        noise = allocate.make(max(rows, widthCount))
        dH = allocate.make(rows * d)
        dA = allocate.make(rows * d)
        dB = allocate.make(rows * d)
        dQKV = allocate.make(rows * 3 * d)
        dHidden = allocate.make(rows * c.mlpHidden)
        dPre = allocate.make(rows * c.mlpHidden)
        dFinal = allocate.make(rows * c.finalDim)
        dModulation = allocate.make(capacity * modWidth)
        dSiluC = allocate.make(capacity * d)
        dTe = allocate.make(capacity * d)
        dT = allocate.make(capacity * d)
        dAttnMask = allocate.make(widthCount)
        dMlpMask = allocate.make(widthCount)
        dTokenMask = allocate.make(rows)
        dTokenHidden = allocate.make(rows * RouterParameters.tokenHidden(c))
        dRouterLogits = allocate.make(max(rows, widthCount))
        byteCount = allocate.byteCount
    }
}
