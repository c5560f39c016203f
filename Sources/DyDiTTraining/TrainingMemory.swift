import DyDiTModels

extension MemoryEstimate {
    /// Training `batch` images per step: the weights with their gradients, AdamW's two
    /// moments and the EMA (five fp32 copies), and `TrainingWorkspace`'s saved activations
    /// (every block keeps its inputs, attention probabilities `[batch, heads, N, N]` and MLP
    /// activations for the backward pass) plus the gradient scratch.
    public static func training(_ c: DiTConfig, batch: Int, threads: Int) -> MemoryEstimate {
        let (linear, tables) = parameters(c)
        let weights = 5 * 4 * (linear + tables)
        let b = Double(batch), n = Double(c.tokens), d = Double(c.hiddenSize), h = Double(c.mlpHiddenEstimate)
        let rows = b * n, depth = Double(c.depth), heads = Double(c.numHeads)
        let tokenHidden = Double(c.hiddenSize / 16)
        let perBlock = rows * (10 * d + 2 * h + tokenHidden + 3) + b * heads * n * n + rows * d
        let shared = rows * (Double(c.patchDim) + 2 * d + 2 * Double(c.finalDim) + 6 * d + 2 * h + 2 * tokenHidden + 4)
            + b * 2 * (6 * depth + 2) * d + 12 * b * depth * heads
        let attention = Double(threads) * n * (2 * Double(c.headDim) + 64 + n)
        return MemoryEstimate(weights: weights, activations: 4 * (depth * perBlock + shared + attention),
                              scope: "training \(batch) image\(batch == 1 ? "" : "s") per step")
    }
}
