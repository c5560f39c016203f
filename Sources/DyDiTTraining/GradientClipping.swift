import DyDiTKernels

/// `torch.nn.utils.clip_grad_norm_`: the global L2 norm over every trainable gradient and,
/// when it exceeds `maxNorm`, all gradients scaled by `maxNorm / (norm + 1e-6)`.
public enum GradientClipping {
    /// The global norm: per-chunk sums in Double, added in chunk order, so the value does not
    /// depend on the thread count.
    public static func norm(_ gradients: ParameterSet, ctx: ComputeContext? = nil) -> Double {
        let chunks = gradients.trainableChunks
        var partial = [Double](repeating: 0, count: chunks.count)
        let g = gradients.pointer
        partial.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            gradients.forEachTrainableChunk(ctx: ctx) { index, range in
                var sum = 0.0
                for i in range { sum += Double(g[i]) * Double(g[i]) }
                base[index] = sum
            }
        }
        return partial.reduce(0, +).squareRoot()
    }

    /// Clips in place when `maxNorm` is set; returns the norm before clipping.
    @discardableResult
    public static func clip(_ gradients: ParameterSet, maxNorm: Double?, ctx: ComputeContext? = nil) -> Double {
        let total = norm(gradients, ctx: ctx)
        guard let maxNorm, total > maxNorm else { return total }
        let scale = Float(maxNorm / (total + 1e-6))
        let g = gradients.pointer
        gradients.forEachTrainableChunk(ctx: ctx) { _, range in
            for i in range { g[i] *= scale }
        }
        return total
    }
}
