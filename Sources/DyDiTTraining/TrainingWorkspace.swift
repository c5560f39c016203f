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

        init(_ c: DiTConfig, rows: Int, batch: Int) {
            let d = c.hiddenSize
            h1 = AlignedBuffer(count: rows * d)
            xn1 = AlignedBuffer(count: rows * d)
            xn2 = AlignedBuffer(count: rows * d)
            qkv = AlignedBuffer(count: rows * 3 * d)
            probabilities = AlignedBuffer(count: Attention.probabilityCount(batch: batch, tokens: c.tokens, heads: c.numHeads))
            attention = AlignedBuffer(count: rows * d)
            maskedAttention = AlignedBuffer(count: rows * d)
            projOut = AlignedBuffer(count: rows * d)
            pre = AlignedBuffer(count: rows * c.mlpHidden)
            act = AlignedBuffer(count: rows * c.mlpHidden)
            mlpOut = AlignedBuffer(count: rows * d)
            tokenHidden = AlignedBuffer(count: rows * RouterParameters.tokenHidden(c))
            tokenLogit = AlignedBuffer(count: rows)
            tokenSoft = AlignedBuffer(count: rows)
            tokenMask = AlignedBuffer(count: rows)
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

    init(config c: DiTConfig, capacity: Int) {
        let n = c.tokens, d = c.hiddenSize, rows = capacity * n, nh = c.numHeads
        let modWidth = (6 * c.depth + 2) * d
        self.capacity = capacity
        blocks = (0..<c.depth).map { _ in Block(c, rows: rows, batch: capacity) }
        stream = (0...c.depth).map { _ in AlignedBuffer(count: rows * d) }
        patches = AlignedBuffer(count: rows * c.patchDim)
        freq = AlignedBuffer(count: capacity * DiTConfig.frequencyDim)
        tPre = AlignedBuffer(count: capacity * d)
        tAct = AlignedBuffer(count: capacity * d)
        te = AlignedBuffer(count: capacity * d)
        self.c = AlignedBuffer(count: capacity * d)
        siluC = AlignedBuffer(count: capacity * d)
        modulation = AlignedBuffer(count: capacity * modWidth)
        xnFinal = AlignedBuffer(count: rows * d)
        finalTokens = AlignedBuffer(count: rows * c.finalDim)
        let widthCount = capacity * c.depth * nh
        attnLogits = AlignedBuffer(count: widthCount)
        attnSoft = AlignedBuffer(count: widthCount)
        attnMask = AlignedBuffer(count: widthCount)
        mlpLogits = AlignedBuffer(count: widthCount)
        mlpSoft = AlignedBuffer(count: widthCount)
        mlpMask = AlignedBuffer(count: widthCount)
        noise = AlignedBuffer(count: max(rows, widthCount))
        dH = AlignedBuffer(count: rows * d)
        dA = AlignedBuffer(count: rows * d)
        dB = AlignedBuffer(count: rows * d)
        dQKV = AlignedBuffer(count: rows * 3 * d)
        dHidden = AlignedBuffer(count: rows * c.mlpHidden)
        dPre = AlignedBuffer(count: rows * c.mlpHidden)
        dFinal = AlignedBuffer(count: rows * c.finalDim)
        dModulation = AlignedBuffer(count: capacity * modWidth)
        dSiluC = AlignedBuffer(count: capacity * d)
        dTe = AlignedBuffer(count: capacity * d)
        dT = AlignedBuffer(count: capacity * d)
        dAttnMask = AlignedBuffer(count: widthCount)
        dMlpMask = AlignedBuffer(count: widthCount)
        dTokenMask = AlignedBuffer(count: rows)
        dTokenHidden = AlignedBuffer(count: rows * RouterParameters.tokenHidden(c))
        dRouterLogits = AlignedBuffer(count: max(rows, widthCount))
    }

    var byteCount: Int {
        let perBlock = blocks.first.map {
            [$0.h1, $0.xn1, $0.xn2, $0.qkv, $0.probabilities, $0.attention, $0.maskedAttention, $0.projOut, $0.pre, $0.act,
             $0.mlpOut, $0.tokenHidden, $0.tokenLogit, $0.tokenSoft, $0.tokenMask].reduce(0) { $0 + $1.byteCount }
        } ?? 0
        let others = [patches, freq, tPre, tAct, te, c, siluC, modulation, xnFinal, finalTokens, attnLogits, attnSoft, attnMask,
                      mlpLogits, mlpSoft, mlpMask, noise, dH, dA, dB, dQKV, dHidden, dPre, dFinal, dModulation, dSiluC, dTe, dT,
                      dAttnMask, dMlpMask, dTokenMask, dTokenHidden, dRouterLogits]
        return perBlock * blocks.count + stream.reduce(0) { $0 + $1.byteCount } + others.reduce(0) { $0 + $1.byteCount }
    }
}
