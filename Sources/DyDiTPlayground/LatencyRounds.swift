import DyDiTIO

/// The latency metric's timings: the run's sampling (dynamic: with its routers) and the dense
/// baseline, timed in alternating rounds — dynamic, dense, dynamic, dense, … — and summarised
/// by medians.
///
/// One timing of each, one after the other, is at the mercy of whatever else the machine does
/// during either: a 10-run sweep of equivalent settings once showed speed-ups from 0.37× to
/// 3.4×. Alternating puts both under the same conditions round by round, the per-round ratio
/// cancels slow drifts (another job starting, the CPU's clock), and the median ignores a round
/// that something disturbed; the min and max of the ratios show how much it moved.
public struct LatencyRounds: Equatable {
    /// Seconds of each round's sampling, all images: the run's, and the dense model's (empty
    /// without a dense baseline).
    public let dynamic: [Double]
    public let dense: [Double]

    public init(dynamic: [Double], dense: [Double]) {
        self.dynamic = dynamic
        self.dense = dense
    }

    /// Runs `rounds` rounds, each `dynamic()` then `dense()` (when given); each closure samples
    /// once and returns its seconds. The closures are the only clock, so tests inject timings.
    public static func measure(rounds: Int, dynamic: (_ round: Int) throws -> Double,
                               dense: ((_ round: Int) throws -> Double)?) throws -> LatencyRounds {
        precondition(rounds >= 1, "at least one round")
        var a: [Double] = [], b: [Double] = []
        for r in 0..<rounds {
            a.append(try dynamic(r))
            if let dense { b.append(try dense(r)) }
        }
        return LatencyRounds(dynamic: a, dense: b)
    }

    public var rounds: Int { dynamic.count }
    /// Dense seconds over dynamic seconds, per round.
    public var speedups: [Double] { zip(dense, dynamic).map { $0 / $1 } }

    /// The latency metric's timing fields, per image over `images` images.
    public func json(images: Int) -> [(String, JSONValue)] {
        let n = Double(images)
        var out: [(String, JSONValue)] = [
            ("seconds", .double(Statistics.median(dynamic))),
            ("seconds_per_image", .double(Statistics.median(dynamic) / n)),
            ("rounds", .int(Int64(rounds))),
            ("round_seconds_per_image", .array(dynamic.map { .double($0 / n) })),
        ]
        if !dense.isEmpty {
            let ratios = speedups
            out += [
                ("dense_seconds_per_image", .double(Statistics.median(dense) / n)),
                ("dense_round_seconds_per_image", .array(dense.map { .double($0 / n) })),
                // The median of the rounds' ratios, not the ratio of the medians: each ratio
                // compares two timings taken side by side.
                ("speedup", .double(Statistics.median(ratios))),
                ("speedup_min", .double(ratios.min()!)),
                ("speedup_max", .double(ratios.max()!)),
                ("round_speedups", .array(ratios.map { .double($0) })),
                ("order", .string("alternating rounds: dynamic, dense")),
            ]
        }
        return out
    }
}

/// Order statistics for timings.
public enum Statistics {
    /// The middle value; the mean of the two middle values of an even count. nil-free: an
    /// empty list is a programming error.
    public static func median(_ values: [Double]) -> Double {
        precondition(!values.isEmpty, "the median of no values")
        let s = values.sorted()
        let mid = s.count / 2
        return s.count % 2 == 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
    }
}
