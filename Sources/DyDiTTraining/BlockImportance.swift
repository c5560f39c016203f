import DyDiTIO
import DyDiTKernels
import DyDiTModels

/// How much each block matters to the denoising loss, for depth pruning: on noised images of a
/// dataset (`x_t = √ᾱ_t·x0 + √(1 − ᾱ_t)·ε`, t uniform over the training timesteps, the images'
/// own labels), the eps MSE of the whole model and of the model with one block skipped (its
/// residual branches not added). The increase is the block's importance: the loss the model
/// loses without it, before any fine-tuning. One-shot, blocks judged one at a time.
public enum BlockImportance {
    public struct Result: Sendable {
        public let fullMSE: Double
        /// The MSE with block l skipped.
        public let skippedMSE: [Double]
        public let images: Int

        /// The blocks to keep: the `count` whose removal costs most, ascending.
        public func keep(_ count: Int) -> [Int] {
            Array(skippedMSE.indices.sorted { skippedMSE[$0] > skippedMSE[$1] || (skippedMSE[$0] == skippedMSE[$1] && $0 < $1) }
                .prefix(count)).sorted()
        }
    }

    public static func measure(model: DiT, dataset: ImageDataset, images: Int, batch: Int = 50, seed: UInt64,
                               progress: ((Int, Int) -> Void)? = nil) throws -> Result {
        let c = model.config
        let batch = min(batch, images, dataset.count)
        var loader = try BatchLoader(dataset: dataset, batch: batch, inputSize: c.inputSize, channels: c.inChannels, flip: false, seed: seed)
        var rng = RandomGenerator(seed: seed)
        let loss = try HybridLoss(learnSigma: c.learnSigma)
        let plane = c.inputSize * c.inputSize
        let cache = ResidualCache(config: c)
        var full = 0.0, skipped = [Double](repeating: 0, count: c.depth)
        var done = 0
        var out = [Float](repeating: 0, count: batch * c.outChannels * plane)
        while done < images {
            let (x0, y) = loader.next(&rng)
            let t = (0..<batch).map { _ in rng.below(loss.diffusion.betas.count) }
            let noise = rng.normals(x0.count)
            let xt = loss.noisy(x0: x0, t: t, noise: noise)
            let tt = t.map(Float.init)
            func mse(_ residual: ResidualCaching?) -> Double {
                xt.withUnsafeBufferPointer { xp in
                    out.withUnsafeMutableBufferPointer {
                        model.forward(x: xp.baseAddress!, t: tt, y: y, out: $0.baseAddress!, residual: residual)
                    }
                }
                var s = 0.0
                for b in 0..<batch {
                    for i in 0..<(c.inChannels * plane) {
                        let e = Double(out[b * c.outChannels * plane + i]) - Double(noise[b * c.inChannels * plane + i])
                        s += e * e
                    }
                }
                return s / Double(c.inChannels * plane)
            }
            full += mse(nil)
            for l in 0..<c.depth { skipped[l] += mse(ResidualCaching(cache: cache, blocks: l..<(l + 1), mode: .skip)) }
            done += batch
            progress?(done, images)
        }
        return Result(fullMSE: full / Double(done), skippedMSE: skipped.map { $0 / Double(done) }, images: done)
    }
}
