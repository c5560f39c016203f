/// The smaller dense layers DyDiT's fast path runs: for one block and one mask pattern,
/// the qkv rows and proj columns of the active heads (any subset, not a prefix), or the fc1
/// rows and fc2 columns of the active MLP groups. Built on first use from the packed full
/// weights and kept while they fit in `budgetBytes`; the least recently used go first.
public final class SliceCache {
    public enum Kind: Hashable, Sendable { case attention, mlp }

    struct Key: Hashable {
        let block: Int
        let kind: Kind
        /// Bit u set = unit u (head or MLP group) active.
        let pattern: UInt64
    }

    struct Entry {
        let first: PackedLinear
        let second: PackedLinear
        var lastUse: Int
        var bytes: Int { first.byteCount + second.byteCount }
    }

    public let budgetBytes: Int
    public private(set) var bytes = 0
    public private(set) var builds = 0
    public private(set) var evictions = 0
    private var entries: [Key: Entry] = [:]
    private var clock = 0

    public init(budgetBytes: Int) { self.budgetBytes = budgetBytes }

    public var count: Int { entries.count }

    /// The two sliced layers for `(block, kind, pattern)`, built by `make` when missing.
    func layers(block: Int, kind: Kind, pattern: UInt64,
                make: () -> (PackedLinear, PackedLinear)) -> (PackedLinear, PackedLinear) {
        clock += 1
        let key = Key(block: block, kind: kind, pattern: pattern)
        if var e = entries[key] {
            e.lastUse = clock
            entries[key] = e
            return (e.first, e.second)
        }
        let (a, b) = make()
        let entry = Entry(first: a, second: b, lastUse: clock)
        builds += 1
        // Evict before inserting; a single entry over the budget is still used, not cached.
        while bytes + entry.bytes > budgetBytes, let victim = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            bytes -= victim.value.bytes
            entries[victim.key] = nil
            evictions += 1
        }
        if entry.bytes <= budgetBytes {
            entries[key] = entry
            bytes += entry.bytes
        }
        return (a, b)
    }

    public func removeAll() {
        entries = [:]
        bytes = 0
    }
}
