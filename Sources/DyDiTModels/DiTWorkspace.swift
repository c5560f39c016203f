import DyDiTKernels

/// Activation buffers of one forward pass for up to `capacity` samples. Allocated once and
/// reused for every forward (every sampling step): nothing is allocated while sampling.
final class DiTWorkspace {
    let capacity: Int
    let patches, h, xn, qkv, attn, branch, hidden, finalTokens: AlignedBuffer<Float>
    let freq, t1, te, c, siluC: AlignedBuffer<Float>
    /// `[capacity, (6·depth + 2)·D]`: every block's six modulations, then the final layer's two.
    let modulation: AlignedBuffer<Float>

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
    }

    var byteCount: Int {
        [patches, h, xn, qkv, attn, branch, hidden, finalTokens, freq, t1, te, c, siluC, modulation]
            .reduce(0) { $0 + $1.byteCount }
    }
}
