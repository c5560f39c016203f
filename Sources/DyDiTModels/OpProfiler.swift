/// Wall time per operation kind of a forward pass (`dydit bench forward --profile`).
/// Every kernel call is synchronous, so timing around each call attributes all threads'
/// work to it. Off by default: timing costs two clock reads per operation.
public final class OpProfiler {
    public private(set) var totals: [String: Double] = [:]
    public private(set) var order: [String] = []
    private let clock = ContinuousClock()

    public init() {}

    @inline(__always)
    func time<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let start = clock.now
        let result = try body()
        let elapsed = clock.now - start
        if totals[name] == nil { order.append(name) }
        totals[name, default: 0] += Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) * 1e-15
        return result
    }

    public func reset() {
        totals = [:]
        order = []
    }
}
