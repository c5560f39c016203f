/// The smaller dense layers DyDiT's fast path runs: for one block and one mask pattern,
/// the qkv rows and proj columns of the active heads (any subset, not a prefix), or the fc1
/// rows and fc2 columns of the active MLP groups. Built on first use from the packed full
/// weights and kept while they fit in `budgetBytes`. A slice that does not fit is built,
/// used and dropped, and nothing is evicted: a sampling loop visits its patterns in the
/// same order every image, which would make any eviction order thrash (least-recently-used
/// would evict exactly the slice needed next).
public final class SliceCache {
    public enum Kind: Hashable, Sendable { case attention, mlp }

    public struct Key: Hashable, Sendable {
        let block: Int
        let kind: Kind
        /// Bit u set = unit u (head or MLP group) active.
        let pattern: UInt64
        public init(block: Int, kind: Kind, pattern: UInt64) {
            self.block = block
            self.kind = kind
            self.pattern = pattern
        }
    }

    struct Entry {
        let first: PackedLinear
        let second: PackedLinear
        var bytes: Int { first.byteCount + second.byteCount }
    }

    public let budgetBytes: Int
    public private(set) var bytes = 0
    public private(set) var builds = 0
    /// Slices built but not kept for lack of budget.
    public private(set) var uncached = 0
    private var entries: [Key: Entry] = [:]

    public init(budgetBytes: Int) { self.budgetBytes = budgetBytes }

    public var count: Int { entries.count }

    /// The two sliced layers for `(block, kind, pattern)`, built by `make` when missing.
    func layers(block: Int, kind: Kind, pattern: UInt64,
                make: () -> (PackedLinear, PackedLinear)) -> (PackedLinear, PackedLinear) {
        let key = Key(block: block, kind: kind, pattern: pattern)
        if let e = entries[key] { return (e.first, e.second) }
        let (a, b) = make()
        let entry = Entry(first: a, second: b)
        builds += 1
        if bytes + entry.bytes <= budgetBytes {
            entries[key] = entry
            bytes += entry.bytes
        } else {
            uncached += 1
        }
        return (a, b)
    }

    public func removeAll() {
        entries = [:]
        bytes = 0
    }
}
