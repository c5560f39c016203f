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
    /// Bytes of all the buffers above.
    let byteCount: Int

    init(config: DiTConfig, capacity: Int) {
        let n = config.tokens, d = config.hiddenSize, rows = capacity * n
        let allocate = WorkspaceAllocator()
        self.capacity = capacity
        patches = allocate.make(rows * config.patchDim)
        h = allocate.make(rows * d)
        xn = allocate.make(rows * d)
        qkv = allocate.make(rows * 3 * d)
        attn = allocate.make(rows * d)
        branch = allocate.make(rows * d)
        hidden = allocate.make(rows * config.mlpHidden)
        finalTokens = allocate.make(rows * config.finalDim)
        freq = allocate.make(capacity * DiTConfig.frequencyDim)
        t1 = allocate.make(capacity * d)
        te = allocate.make(capacity * d)
        c = allocate.make(capacity * d)
        siluC = allocate.make(capacity * d)
        modulation = allocate.make(capacity * (6 * config.depth + 2) * d)
        let widthCount = capacity * config.depth * config.numHeads
        attnMask = allocate.make(widthCount)
        mlpMask = allocate.make(widthCount)
        attnLogits = allocate.make(widthCount)
        mlpLogits = allocate.make(widthCount)
        tokenMask = allocate.make(rows)
        tokenLogits = allocate.make(rows)
        rowIndex = allocate.make(rows)
        rowGroup = allocate.make(rows)
        byteCount = allocate.byteCount
    }
}
