import DyDiTDiffusion
import DyDiTIO
import DyDiTModels
import DyDiTTraining
import Foundation

/// Quality measures that need no external feature extractor.
public enum QualityMetrics {
    /// Samples against reference samples drawn from the same noise (the dense model's, for a
    /// run with routers): mean PSNR in dB for images in [-1, 1] (peak-to-peak 2) and RMSE.
    public static func fidelity(_ samples: [Float], reference: [Float], images: Int) -> (psnr: Double, rmse: Double) {
        precondition(samples.count == reference.count && images > 0)
        let per = samples.count / images
        var psnr = 0.0, squares = 0.0
        for i in 0..<images {
            var sum = 0.0
            for j in (i * per)..<((i + 1) * per) {
                let d = Double(samples[j]) - Double(reference[j])
                sum += d * d
            }
            squares += sum
            // Identical images: capped at 100 dB rather than infinity, so means stay finite.
            psnr += min(100, 10 * log10(4 / max(sum / Double(per), 1e-300)))
        }
        return (psnr / Double(images), (squares / Double(samples.count)).squareRoot())
    }

    public struct TestLoss {
        /// `L_0 + Σ_{t=1}^{T−1} L_t` estimated from evenly spaced timesteps, bits per dimension
        /// (nil without learn_sigma: the bound needs the learned variance).
        public var bitsPerDim: Double?
        /// Mean `(ε − eps)²` over the images and the evenly spaced timesteps (t = 0 enters the
        /// bound only: there the noise is too small to predict).
        public var epsMSE: Double
        public var images: Int
        public var timesteps: [Int]
    }

    /// The diffusion loss of `model` (with `routing`) on `images` held-out images of `dataset`
    /// (a seeded subset, padded like training batches), at t = 0 and `count` evenly spaced
    /// timesteps in [1, T): the same noise for every run with the same seed, so runs compare.
    public static func testLoss(model: DiT, routing: Routing, dataset: ImageDataset, images: Int, count: Int,
                                batch: Int, seed: UInt64) throws -> TestLoss {
        let c = model.config
        let loss = try HybridLoss(learnSigma: c.learnSigma)
        let steps = loss.diffusion.betas.count
        // Midpoints of `count` equal intervals of [1, T): every timestep once when count = T − 1.
        let grid = (0..<count).map { 1 + Int(((Double($0) + 0.5) * Double(steps - 1) / Double(count)).rounded(.down)) }
        let timesteps = [0] + grid
        let used = min(images, dataset.count)
        let size = min(batch, used)
        var loader = try BatchLoader(dataset: dataset, batch: size, inputSize: c.inputSize, channels: c.inChannels,
                                     flip: false, seed: seed)
        var rng = RandomGenerator(seed: seed ^ 0x7E57)
        var vb = [Double](repeating: 0, count: timesteps.count)
        var mse = 0.0
        var seen = 0
        while seen < used {
            let (x0, labels) = loader.next(&rng)
            let n = min(size, used - seen)
            let x = Array(x0[0..<(n * c.imageSize)]), y = Array(labels[0..<n])
            for (k, t) in timesteps.enumerated() {
                let ts = [Int](repeating: t, count: n)
                let noise = rng.normals(n * c.imageSize)
                let xt = loss.noisy(x0: x, t: ts, noise: noise)
                let out = try model.forward(x: xt, t: ts.map(Float.init), y: y, routing: routing)
                let r = loss.evaluate(output: out, x0: x, xt: xt, t: ts, noise: noise, channels: c.inChannels)
                vb[k] += r.vb.reduce(0, +)
                if t > 0 { mse += r.mse.reduce(0, +) }
            }
            seen += n
        }
        let perImage = vb.map { $0 / Double(used) }
        let bound = perImage[0] + Double(steps - 1) * perImage.dropFirst().reduce(0, +) / Double(count)
        return TestLoss(bitsPerDim: c.learnSigma ? bound : nil, epsMSE: mse / Double(used * count),
                        images: used, timesteps: timesteps)
    }
}
