import DyDiTModels
import Foundation

/// The `--profile` tables of `bench forward` and `sample`: milliseconds per operation kind
/// (summed over blocks and calls), alone or a routed run beside its dense baseline.
enum ProfileTable {
    /// One run: each operation's time divided by `calls` (forwards), and its share.
    static func single(_ profiler: OpProfiler, calls: Int = 1) -> String {
        let total = profiler.totals.values.reduce(0, +)
        return profiler.order.map { name in
            let v = profiler.totals[name]!
            return label(name) + String(format: " %10.2f ms  %5.1f%%", v / Double(calls), 100 * v / max(total, .leastNonzeroMagnitude))
        }.joined(separator: "\n")
    }

    /// A routed run beside the dense one: where the dynamic model saves time and where it
    /// does not (the operations that do not shrink with the masks, and the routers' own).
    /// `routedWall`/`denseWall` (ms) are the runs' wall times: what the profiler did not see
    /// (the sampler's arithmetic, guidance, the loop) is their "outside model" row, less
    /// `preparation` (ms: the routed run's slicing of weights before its first step). Every
    /// figure is divided by `calls` (forwards per profiler, when the walls are totals too); an
    /// operation only one of the runs has (the routers) gets no ratio.
    static func compare(_ routed: OpProfiler, dense: OpProfiler, routedWall: Double, denseWall: Double,
                        preparation: Double, calls: Int = 1) -> String {
        let names = dense.order + routed.order.filter { dense.totals[$0] == nil }
        var lines = [label("operation") + "    dynamic ms       dense ms   dense/dynamic   share of dynamic"]
        let per = 1 / Double(max(calls, 1))
        let inside = routed.totals.values.reduce(0, +) * per, denseInside = dense.totals.values.reduce(0, +) * per
        let total = max(routedWall * per, inside), denseTotal = max(denseWall * per, denseInside)
        // `bench forward` slices its weights in the warm-up: no preparation, so no empty row.
        for name in names + (preparation > 0 ? ["slice weights"] : []) + ["outside model", "total"] {
            let r = name == "total" ? total : name == "outside model" ? total - inside - preparation * per
                : name == "slice weights" ? preparation * per : (routed.totals[name] ?? 0) * per
            let d = name == "total" ? denseTotal : name == "outside model" ? denseTotal - denseInside
                : (dense.totals[name] ?? 0) * per
            let ratio = r > 0 && d > 0 ? String(format: "%13.2f×", d / r) : String(repeating: " ", count: 13) + "–"
            lines.append(label(name) + String(format: " %13.1f  %13.1f  ", r, d) + ratio
                         + String(format: "  %15.1f%%", 100 * r / max(total, .leastNonzeroMagnitude)))
        }
        return lines.joined(separator: "\n")
    }

    private static func label(_ name: String) -> String { name.padding(toLength: 16, withPad: " ", startingAt: 0) }
}
