import DyDiTKernels

/// The attention and MLP branch outputs of every block (after `proj` / `fc2`, before the
/// adaLN gate), kept from one forward pass for the next ones to reuse: FORA's cache
/// (Selvaraju et al. 2024). A forward that reuses it skips each block's attention and MLP and
/// adds the cached branches with *its own* gates, since the gates depend on the timestep and
/// label (`prathebaselva/FORA` `src/models.py`, `DiTBlock.forward`, `boost_infer_static`).
/// The rows must be the same samples, in the same order, as when it was filled.
public final class BlockCache {
    public let depth: Int
    public let hiddenSize: Int
    private(set) var rows = 0
    private(set) var attention: [AlignedBuffer<Float>] = []
    private(set) var mlp: [AlignedBuffer<Float>] = []
    /// Whether a compute pass has filled it for `rows` rows.
    public private(set) var isFilled = false

    public init(config: DiTConfig) {
        depth = config.depth
        hiddenSize = config.hiddenSize
    }

    /// Bytes held: two `[rows, D]` buffers per block.
    public var byteCount: Int { 2 * depth * rows * hiddenSize * MemoryLayout<Float>.stride }

    /// Sizes the buffers for `rows` rows (and forgets what they held when that changes).
    func prepare(rows: Int) {
        if rows != self.rows {
            self.rows = rows
            attention = (0..<depth).map { _ in AlignedBuffer<Float>(count: rows * hiddenSize) }
            mlp = (0..<depth).map { _ in AlignedBuffer<Float>(count: rows * hiddenSize) }
            isFilled = false
        }
    }

    func markFilled() { isFilled = true }

    /// Forgets the cached branches (a new trajectory).
    public func invalidate() { isFilled = false }
}

/// What one forward pass does with a `BlockCache`: compute every block and keep its branches,
/// reuse the kept ones, or (Learning-to-Cache) choose per branch.
public struct BlockCaching {
    public enum Mode: Sendable, Equatable {
        case compute, reuse
        /// L2C's routed step: `computes[2l]` says whether block l's attention runs (else its
        /// kept output is reused), `computes[2l + 1]` the same for its MLP; the cache keeps
        /// what it held (the next full step refills it).
        case select(computes: [Bool])
    }
    public let cache: BlockCache
    public let mode: Mode

    public init(cache: BlockCache, mode: Mode) {
        self.cache = cache
        self.mode = mode
    }

    /// L2C's routed step: the branches it runs (nil for the other modes).
    public var computedBranches: [Bool]? {
        if case let .select(computes) = mode { return computes }
        return nil
    }
}
