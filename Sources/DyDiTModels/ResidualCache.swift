import DyDiTKernels

/// The residual of a range of blocks (`h` leaving the range minus `h` entering it), kept from
/// one forward pass for later ones to add instead of running those blocks: Δ-DiT's Δ-Cache
/// (a range of front or rear blocks) and TeaCache (every block). Adding the residual to the
/// *current* input, rather than replaying a cached output, keeps what the blocks before the
/// range computed at this step (Δ-DiT's point against caching features; TeaCache's
/// `hidden_states += self.previous_residual`).
/// The rows must be the same samples, in the same order, as when it was filled.
public final class ResidualCache {
    public let hiddenSize: Int
    private(set) var rows = 0
    /// `h` entering the range on a filling pass, then (after the range) the residual.
    private(set) var start = AlignedBuffer<Float>(count: 0)
    private(set) var residual = AlignedBuffer<Float>(count: 0)
    /// The blocks whose residual it holds (nil: nothing yet, or forgotten).
    public private(set) var filled: Range<Int>?
    /// Whether the last forward pass added the residual instead of running the range.
    public internal(set) var lastPassReused = false

    public init(config: DiTConfig) { hiddenSize = config.hiddenSize }

    /// Bytes held: two `[rows, D]` buffers.
    public var byteCount: Int { 2 * rows * hiddenSize * MemoryLayout<Float>.stride }

    func prepare(rows: Int) {
        if rows != self.rows {
            self.rows = rows
            start = AlignedBuffer<Float>(count: rows * hiddenSize)
            residual = AlignedBuffer<Float>(count: rows * hiddenSize)
            filled = nil
        }
    }

    /// Keeps `h` as it enters the range.
    func begin(_ h: UnsafePointer<Float>) {
        filled = nil
        start.pointer.update(from: h, count: rows * hiddenSize)
    }

    /// The residual of `blocks`: `h` leaving them minus `h` as it entered.
    func finish(_ h: UnsafePointer<Float>, blocks: Range<Int>) {
        let s = start.pointer, r = residual.pointer
        for i in 0..<(rows * hiddenSize) { r[i] = h[i] - s[i] }
        filled = blocks
    }

    /// `h += residual`: the range's contribution as the filling pass measured it.
    func apply(to h: UnsafeMutablePointer<Float>) {
        let r = residual.pointer
        for i in 0..<(rows * hiddenSize) { h[i] += r[i] }
    }

    /// Forgets the residual (a new trajectory).
    public func invalidate() {
        filled = nil
        lastPassReused = false
    }
}

/// Decides, from the modulated input of the range's first block (`LayerNorm(h)·(1 + scale) +
/// shift` of its attention, `[rows, D]`, computed before the range runs), whether this pass
/// adds the cached residual: TeaCache's test.
public protocol ResidualCacheDecider: AnyObject {
    func reuse(modulatedInput: UnsafeBufferPointer<Float>, rows: Int, tokens: Int) -> Bool
}

/// What one forward pass does with a `ResidualCache` over `blocks`.
public struct ResidualCaching {
    public enum Mode {
        /// Run the range and keep its residual.
        case fill
        /// Skip the range and add the kept residual (it must hold this range's).
        case reuse
        /// Ask the decider, then reuse or fill.
        case decide(ResidualCacheDecider)
        /// Skip the range and add nothing: the model without those blocks (a pruning
        /// criterion's probe); the cache is left as it was.
        case skip
    }
    public let cache: ResidualCache
    public let blocks: Range<Int>
    public let mode: Mode

    public init(cache: ResidualCache, blocks: Range<Int>, mode: Mode) {
        self.cache = cache
        self.blocks = blocks
        self.mode = mode
    }
}
