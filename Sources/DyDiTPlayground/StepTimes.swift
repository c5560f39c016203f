import DyDiTDiffusion
import DyDiTIO

/// Seconds per sampling step of the timed images, dynamic and dense (medians over the timing
/// rounds), written as `latency.per_step` in `metrics.json`: a learned schedule spends very
/// differently at noisy and clean timesteps, and the whole-loop speed-up hides where it is
/// won or lost.
public struct StepTimes: Equatable {
    public let timesteps: [Int]
    /// The dense baseline's timesteps: the run's, unless `eval.dense_sampler` gives it another
    /// schedule (then the steps do not pair up, and no per-step speed-up is written).
    public let denseTimesteps: [Int]
    public let dynamic: [Double]
    public let dense: [Double]?
    public let images: Int

    public init(timesteps: [Int], denseTimesteps: [Int]? = nil, dynamic: [Double], dense: [Double]?, images: Int) {
        self.timesteps = timesteps
        self.denseTimesteps = denseTimesteps ?? timesteps
        self.dynamic = dynamic
        self.dense = dense
        self.images = images
    }

    /// One pass's seconds per step index, summed over its batches.
    static func perStep(_ reports: [StepReport], steps: Int) -> [Double] {
        var seconds = [Double](repeating: 0, count: steps)
        for r in reports where r.step >= 0 && r.step < steps { seconds[r.step] += r.seconds }
        return seconds
    }

    /// The median over rounds of each step's seconds.
    static func medians(_ rounds: [[Double]]) -> [Double] {
        guard let first = rounds.first else { return [] }
        return first.indices.map { k in Statistics.median(rounds.map { $0[k] }) }
    }

    var json: JSONValue {
        let perImage = { (v: [Double]) in JSONValue.array(v.map { .double($0 / Double(max(1, images))) }) }
        var o = JSONObject([("timesteps", .array(timesteps.map { .int(Int64($0)) })),
                            ("seconds_per_image", perImage(dynamic))])
        if let dense {
            if denseTimesteps != timesteps { o["dense_timesteps"] = .array(denseTimesteps.map { .int(Int64($0)) }) }
            o["dense_seconds_per_image"] = perImage(dense)
            if denseTimesteps == timesteps {
                o["speedup"] = .array(zip(dense, dynamic).map { $1 > 0 ? .double($0 / $1) : .null })
            }
        }
        return .object(o)
    }
}
