import DyDiTIO
import DyDiTTraining

/// How images reach the classifier: one channel of `inputSize`² pixels (28×28) in [-1, 1].
///
/// - 28×28 images are taken as they are.
/// - 32×32 images are the DiT's canvas: Fashion-MNIST's 28×28 centred with 2 black pixels on
///   each side (`BatchLoader`), so the centre 28×28 is cropped. Nothing is resampled.
/// - Any other size, or more than one channel, is an error.
///
/// Float samples are clamped to [-1, 1] and rounded to 8 bits, as writing them to PNG does,
/// so a samples file and the PNGs made from it score the same, on the same grid as real
/// images (`byte / 127.5 − 1`).
public enum ClassifierInput {
    /// The crop offset that takes an image of side `size` to the classifier's input, or an error.
    public static func cropOffset(size: Int, channels: Int, _ a: ClassifierArchitecture, source: String) throws -> Int {
        guard channels == a.inChannels else {
            throw IOError(source, "holds \(channels)-channel images; the Fashion-MNIST classifier takes \(a.inChannels)-channel (gray) images")
        }
        if size == a.inputSize { return 0 }
        if size == a.inputSize + 4 { return 2 }
        throw IOError(source, "holds \(size)×\(size) images; the classifier takes \(a.inputSize)×\(a.inputSize) (Fashion-MNIST) or \(a.inputSize + 4)×\(a.inputSize + 4) (the DiT's canvas, whose centre \(a.inputSize)×\(a.inputSize) is used); other sizes are not resampled")
    }

    static func check(_ ds: ImageDataset, _ a: ClassifierArchitecture) throws {
        guard ds.width == ds.height else { throw IOError(ds.name, "holds \(ds.width)×\(ds.height) images; expected square images") }
        _ = try cropOffset(size: ds.width, channels: ds.channels, a, source: ds.name)
    }

    /// The classifier input of every image of a dataset (bytes), cropped when 32×32.
    public static func images(_ ds: ImageDataset, _ a: ClassifierArchitecture, indices: [Int]? = nil) -> [Float] {
        let s = a.inputSize, side = ds.width, offset = (side - s) / 2
        let chosen = indices ?? Array(0..<ds.count)
        var out = [Float](repeating: 0, count: chosen.count * s * s)
        for (n, i) in chosen.enumerated() {
            let base = i * ds.imageBytes
            for y in 0..<s { for x in 0..<s { out[(n * s + y) * s + x] = Float(ds.pixels[base + (y + offset) * side + x + offset]) / 127.5 - 1 } }
        }
        return out
    }

    /// Float samples `[n, 1, side, side]` → classifier input, clamped and rounded to 8 bits.
    public static func images(samples: [Float], count n: Int, channels: Int, side: Int, _ a: ClassifierArchitecture, source: String) throws -> [Float] {
        let offset = try cropOffset(size: side, channels: channels, a, source: source)
        guard samples.count == n * channels * side * side else {
            throw IOError(source, "holds \(samples.count) values; \(n) images of \(channels)×\(side)×\(side) need \(n * channels * side * side)")
        }
        if let bad = samples.firstIndex(where: { !$0.isFinite }) {
            throw IOError(source, "sample \(bad / (side * side * channels)) holds a non-finite value (\(samples[bad])): the model that drew it diverged")
        }
        let s = a.inputSize
        var out = [Float](repeating: 0, count: n * s * s)
        for i in 0..<n {
            for y in 0..<s {
                for x in 0..<s {
                    let v = samples[(i * side + y + offset) * side + x + offset]
                    out[(i * s + y) * s + x] = quantized(v)
                }
            }
        }
        return out
    }

    /// A value in [-1, 1] as an 8-bit pixel stores it, read back.
    @inline(__always)
    public static func quantized(_ v: Float) -> Float {
        let byte = ((min(1, max(-1, v)) + 1) * 127.5).rounded()
        return byte / 127.5 - 1
    }

    /// A training batch: each image shifted by up to `maxShift` pixels in x and y (black fill).
    static func shiftedBatch(_ ds: ImageDataset, indices: [Int], maxShift: Int, rng: inout RandomGenerator,
                             _ a: ClassifierArchitecture, into out: inout [Float]) {
        let s = a.inputSize, side = ds.width, offset = (side - s) / 2
        for (n, i) in indices.enumerated() {
            let dx = maxShift > 0 ? rng.below(2 * maxShift + 1) - maxShift : 0
            let dy = maxShift > 0 ? rng.below(2 * maxShift + 1) - maxShift : 0
            let base = i * ds.imageBytes
            for y in 0..<s {
                for x in 0..<s {
                    let sy = y + offset - dy, sx = x + offset - dx
                    let inside = sy >= 0 && sy < side && sx >= 0 && sx < side
                    out[(n * s + y) * s + x] = inside ? Float(ds.pixels[base + sy * side + sx]) / 127.5 - 1 : -1
                }
            }
        }
    }
}
