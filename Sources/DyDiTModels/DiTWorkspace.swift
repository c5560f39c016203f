import DyDiTKernels

/// Activation buffers of one forward pass for up to `capacity` samples. Allocated once and
/// reused for every forward (every sampling step): nothing is allocated while sampling.
final class DiTWorkspace {
    let capacity: Int
    let patches, h, xn, qkv, attn, branch, hidden, finalTokens: AlignedBuffer<Float>
    let freq, t1, te, c, siluC: AlignedBuffer<Float>
    /// `[capacity, (6·depth + 2)·D]`: every block's six modulations, then the final layer's two.
    let modulation: AlignedBuffer<Float>
    /// DyDiT decisions of the current forward: `[capacity, depth, NH]` width masks and logits
    /// (R ≤ NH outputs per block), `[capacity·N]` token mask and logits of the current block.
    let attnMask, mlpMask, attnLogits, mlpLogits, tokenMask, tokenLogits: AlignedBuffer<Float>
    /// The fast path's token gather: source row and sample of each gathered row.
    let rowIndex, rowGroup: AlignedBuffer<Int32>

    init(config: DiTConfig, capacity: Int) {
        let n = config.tokens, d = config.hiddenSize, rows = capacity * n
        self.capacity = capacity
        patches = AlignedBuffer(count: rows * config.patchDim)
        h = AlignedBuffer(count: rows * d)
        xn = AlignedBuffer(count: rows * d)
        qkv = AlignedBuffer(count: rows * 3 * d)
        attn = AlignedBuffer(count: rows * d)
        branch = AlignedBuffer(count: rows * d)
        hidden = AlignedBuffer(count: rows * config.mlpHidden)
        finalTokens = AlignedBuffer(count: rows * config.finalDim)
        freq = AlignedBuffer(count: capacity * DiTConfig.frequencyDim)
        t1 = AlignedBuffer(count: capacity * d)
        te = AlignedBuffer(count: capacity * d)
        c = AlignedBuffer(count: capacity * d)
        siluC = AlignedBuffer(count: capacity * d)
        modulation = AlignedBuffer(count: capacity * (6 * config.depth + 2) * d)
        let widthCount = capacity * config.depth * config.numHeads
        attnMask = AlignedBuffer(count: widthCount)
        mlpMask = AlignedBuffer(count: widthCount)
        attnLogits = AlignedBuffer(count: widthCount)
        mlpLogits = AlignedBuffer(count: widthCount)
        tokenMask = AlignedBuffer(count: rows)
        tokenLogits = AlignedBuffer(count: rows)
        rowIndex = AlignedBuffer(count: rows)
        rowGroup = AlignedBuffer(count: rows)
    }

    var byteCount: Int {
        [patches, h, xn, qkv, attn, branch, hidden, finalTokens, freq, t1, te, c, siluC, modulation,
         attnMask, mlpMask, attnLogits, mlpLogits, tokenMask, tokenLogits]
            .reduce(0) { $0 + $1.byteCount } + rowIndex.byteCount + rowGroup.byteCount
    }
}
