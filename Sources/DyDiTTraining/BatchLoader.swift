import DyDiTIO

/// Draws training batches from an `ImageDataset`: a seeded shuffle per epoch (the order of
/// epoch `e` depends only on the seed and `e`, so a resumed run needs only its position),
/// whole batches only (DiT's `drop_last`), pixels mapped to `[-1, 1]`, centred on a
/// `-1` (black) canvas of the model's input size, and an optional horizontal flip.
public struct BatchLoader: Sendable {
    public let dataset: ImageDataset
    public let batch: Int
    public let inputSize: Int
    public let channels: Int
    public let flip: Bool
    public let seed: UInt64
    /// Where the next batch starts: epoch, and batch index within it.
    public private(set) var epoch = 0
    public private(set) var batchInEpoch = 0
    private var order: [Int] = []

    public var batchesPerEpoch: Int { dataset.count / batch }

    public init(dataset: ImageDataset, batch: Int, inputSize: Int, channels: Int, flip: Bool, seed: UInt64) throws {
        guard dataset.count >= batch else {
            throw TrainingError.data("\(dataset.name) has \(dataset.count) images, fewer than one batch of \(batch)")
        }
        guard dataset.width <= inputSize, dataset.height <= inputSize else {
            throw TrainingError.data("\(dataset.name) holds \(dataset.width)×\(dataset.height) images, larger than the model's input of \(inputSize)×\(inputSize); images are padded, never resized: use input_size ≥ \(max(dataset.width, dataset.height))")
        }
        guard dataset.channels == channels || dataset.channels == 1 else {
            throw TrainingError.data("\(dataset.name) has \(dataset.channels) channels; the model takes \(channels)")
        }
        self.dataset = dataset
        self.batch = batch
        self.inputSize = inputSize
        self.channels = channels
        self.flip = flip
        self.seed = seed
        order = Self.order(count: dataset.count, seed: seed, epoch: 0)
    }

    /// Moves to a saved position (from a checkpoint).
    public mutating func seek(epoch: Int, batch: Int) {
        self.epoch = epoch
        batchInEpoch = batch
        order = Self.order(count: dataset.count, seed: seed, epoch: epoch)
    }

    /// Fisher–Yates with a generator seeded by (seed, epoch).
    static func order(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        var rng = RandomGenerator(seed: seed ^ (0xD1B5_4A32_D192_ED03 &* UInt64(epoch + 1)))
        var order = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
        return order
    }

    /// The next batch: `x0 [batch, channels, inputSize, inputSize]` and labels. Flips draw
    /// from `rng` (the trainer's generator, saved with checkpoints).
    public mutating func next(_ rng: inout RandomGenerator) -> (x0: [Float], y: [Int]) {
        if batchInEpoch >= batchesPerEpoch { seek(epoch: epoch + 1, batch: 0) }
        let s = inputSize, plane = s * s
        var x = [Float](repeating: -1, count: batch * channels * plane)
        var y = [Int](repeating: 0, count: batch)
        let w = dataset.width, h = dataset.height, dc = dataset.channels
        let top = (s - h) / 2, left = (s - w) / 2
        for b in 0..<batch {
            let index = order[batchInEpoch * batch + b]
            y[b] = dataset.labels[index]
            let mirrored = flip && rng.uniform() < 0.5
            let base = index * dataset.imageBytes
            for c in 0..<channels {
                // A gray dataset feeds every channel of a colour model.
                let source = min(c, dc - 1)
                for row in 0..<h {
                    for col in 0..<w {
                        let sc = mirrored ? w - 1 - col : col
                        let value = dataset.pixels[base + (row * w + sc) * dc + source]
                        x[(b * channels + c) * plane + (top + row) * s + left + col] = Float(value) / 127.5 - 1
                    }
                }
            }
        }
        batchInEpoch += 1
        return (x, y)
    }
}
