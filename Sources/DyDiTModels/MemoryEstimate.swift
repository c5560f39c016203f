import DyDiTKernels

/// Bytes a model needs before any of them is allocated, so that `dydit validate` can refuse a
/// spec that would abort at run time (hidden 262144 × depth 2000, mlp_ratio 10¹², a
/// 4096-pixel input) and say how much it needs. Computed in Double: the sizes of a hostile
/// config overflow an Int. The terms mirror the allocations (`DiTParameters`, `PackedLinear`,
/// `DiTWorkspace`, the sampling loop's state); small ones (biases, routers) are left out, so
/// this is a floor, not a ceiling.
public struct MemoryEstimate: Sendable, Equatable {
    /// Weights: the fp32 parameters and their packed copy for the GEMMs (both alive while
    /// the model is built).
    public var weights: Double
    /// Activation buffers, per-thread scratch and the sampler's state.
    public var activations: Double
    /// What the estimate covers, for messages ("sampling 8 images per batch, guided").
    public var scope: String

    public var total: Double { weights + activations }

    public init(weights: Double, activations: Double, scope: String) {
        self.weights = weights
        self.activations = activations
        self.scope = scope
    }

    /// Parameters of the linear layers and of the tables (position embedding, labels).
    public static func parameters(_ c: DiTConfig) -> (linear: Double, tables: Double) {
        let d = Double(c.hiddenSize), h = Double(c.mlpHiddenEstimate), depth = Double(c.depth)
        let perBlock = 3 * d * d + d * d + 2 * d * h + 6 * d * d
        let linear = d * Double(c.patchDim) + Double(DiTConfig.frequencyDim) * d + d * d + depth * perBlock
            + 2 * d * d + Double(c.finalDim) * d
        let tables = Double(c.tokens) * d + Double(c.numClasses + 1) * d
        return (linear, tables)
    }

    /// Bytes of one stored weight in `precision` (int8's per-row scales are left out).
    public static func bytesPerWeight(_ precision: WeightPrecision) -> Double {
        switch precision {
        case .fp32: return 4
        case .fp16, .bf16: return 2
        case .int8: return 1
        }
    }

    /// Sampling `batch` images at a time (`samples` in all) with `threads` threads.
    /// `stepCacheBuffers`: `[rows, D]` buffers a step cache keeps (FORA two per block, Δ-DiT two,
    /// TeaCache three).
    public static func sampling(_ c: DiTConfig, batch: Int, samples: Int, guided: Bool, precision: WeightPrecision,
                                threads: Int, stepCacheBuffers: Int = 0) -> MemoryEstimate {
        let (linear, tables) = parameters(c)
        let weights = 4 * (linear + tables) + bytesPerWeight(precision) * linear
        let rows = Double(batch) * (guided ? 2 : 1)
        let n = Double(c.tokens), d = Double(c.hiddenSize), depth = Double(c.depth), heads = Double(c.numHeads)
        let tokenRows = rows * n
        // DiTWorkspace: token buffers, per-sample buffers, width and token decisions.
        let workspace = tokenRows * (Double(c.patchDim) + 7 * d + Double(c.mlpHiddenEstimate) + Double(c.finalDim) + 4)
            + rows * (Double(DiTConfig.frequencyDim) + 4 * d + (6 * depth + 2) * d) + 4 * rows * depth * heads
        // Attention scratch per thread: packed K and V of one head and a block of score rows
        // (in bf16, and int8 on AMX: K, V and K's rounded rows at half size, 48 rows of scores and of their bf16 pairs).
        let hd = Double(c.headDim)
        let attention = Double(threads) * (precision == .bf16 || precision == .int8 ? n * (1.5 * hd + 72) + 96 * hd : n * (2 * hd + 64))
        // RoutingRecord: every block's token masks and logits.
        let record = rows * depth * (2 * n + 2 * heads)
        // The sampler's state (x, eps and v in Double, model input and output in Float) and
        // the run's noise and samples (with the dense baseline's).
        let image = Double(c.imageSize)
        let state = Double(batch) * image * 6 + rows * image * 1 + rows * Double(c.outChannels * c.inputSize) * Double(c.inputSize)
            + Double(samples) * image * 3
        let cache = Double(stepCacheBuffers) * tokenRows * d
        return MemoryEstimate(weights: weights, activations: 4 * (workspace + attention + record + state + cache),
                              scope: "sampling \(batch) image\(batch == 1 ? "" : "s") per batch\(guided ? " with guidance" : "")")
    }
}

extension DiTConfig {
    /// `mlp_ratio × hidden_size` without the Int conversion (safe for any ratio `problems()` accepts).
    public var mlpHiddenEstimate: Double { (Double(hiddenSize) * mlpRatio).rounded(.down) }
}
