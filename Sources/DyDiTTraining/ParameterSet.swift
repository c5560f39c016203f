import DyDiTIO
import DyDiTKernels

/// Named tensors in one contiguous, aligned buffer, in state-dict order: the model's
/// parameters, their gradients and the optimiser's moments share one layout, so updates
/// and norms are single loops over `count` floats.
public final class ParameterSet {
    public struct Entry: Sendable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
        /// False for buffers stored with the weights that training leaves alone (`pos_embed`).
        public let trainable: Bool
    }

    public let entries: [Entry]
    /// The trainable floats in pieces of at most `chunkSize`, for the element-wise optimiser
    /// loops to share out across threads. The pieces depend only on the layout, so reductions
    /// over them (the gradient norm) do not depend on the thread count.
    public let trainableChunks: [Range<Int>]
    public static let chunkSize = 1 << 16
    private let index: [String: Int]
    public let storage: AlignedBuffer<Float>
    public var count: Int { storage.count }
    public var pointer: UnsafeMutablePointer<Float> { storage.pointer }

    public init(layout: [(name: String, shape: [Int], trainable: Bool)]) {
        var offset = 0
        var entries: [Entry] = []
        for item in layout {
            entries.append(Entry(name: item.name, shape: item.shape, offset: offset, trainable: item.trainable))
            // Each tensor starts on a 64-byte boundary, as the kernels like their operands.
            offset += (item.shape.reduce(1, *) + 15) / 16 * 16
        }
        self.entries = entries
        trainableChunks = entries.filter(\.trainable).flatMap { e in
            stride(from: e.offset, to: e.offset + e.count, by: Self.chunkSize).map { $0..<min(e.offset + e.count, $0 + Self.chunkSize) }
        }
        index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
        storage = AlignedBuffer(count: offset)
    }

    /// An empty (zero) set with the same layout.
    public func zerosLike() -> ParameterSet {
        ParameterSet(layout: entries.map { ($0.name, $0.shape, $0.trainable) })
    }

    public func entry(_ name: String) -> Entry {
        guard let i = index[name] else { preconditionFailure("no parameter '\(name)'") }
        return entries[i]
    }

    public func contains(_ name: String) -> Bool { index[name] != nil }

    public func pointer(_ name: String) -> UnsafeMutablePointer<Float> { storage.pointer + entry(name).offset }

    public subscript(name: String) -> [Float] {
        get {
            let e = entry(name)
            return Array(UnsafeBufferPointer(start: storage.pointer + e.offset, count: e.count))
        }
        set {
            let e = entry(name)
            precondition(newValue.count == e.count, "'\(name)' holds \(e.count) values, got \(newValue.count)")
            newValue.withUnsafeBufferPointer { (storage.pointer + e.offset).update(from: $0.baseAddress!, count: e.count) }
        }
    }

    public func zero() { storage.pointer.update(repeating: 0, count: storage.count) }

    public func copy(from other: ParameterSet) {
        precondition(other.count == count, "parameter layouts differ")
        storage.pointer.update(from: other.storage.pointer, count: count)
    }

    /// The tensors, in order, for a safetensors file.
    public func namedTensors(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        entries.map { (prefix + $0.name, Tensor(self[$0.name], shape: $0.shape)) }
    }
}
