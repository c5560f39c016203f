/// Adaptive depth by timestep (ASE-style early exit: Moon et al. 2024, "A Simple Early Exiting
/// Framework for Accelerated Sampling in Diffusion Models"): the timestep range `[0, T)` is cut
/// at `boundaries` into intervals, and in interval i only the first `depths[i]` blocks run —
/// the noisier the input, the fewer blocks (the final layer reads the last block that ran).
/// The model is fine-tuned to the schedule (`train.early_exit`) and sampled with it (`cache`
/// `early-exit`).
public struct EarlyExitSchedule: Sendable, Equatable {
    /// Ascending timesteps where an interval ends: interval i is `[boundaries[i−1], boundaries[i])`.
    public let boundaries: [Int]
    /// Blocks run in each interval, `boundaries.count + 1` of them.
    public let depths: [Int]

    public init(boundaries: [Int], depths: [Int]) {
        self.boundaries = boundaries
        self.depths = depths
    }

    /// What is wrong with the schedule for a model of `depth` blocks trained on `trainSteps`
    /// timesteps (nil: fine).
    public func problem(depth: Int, trainSteps: Int = 1000) -> String? {
        if depths.count != boundaries.count + 1 {
            return "\(boundaries.count) boundaries cut the timesteps into \(boundaries.count + 1) intervals, but \(depths.count) depths are given: one per interval"
        }
        if zip(boundaries, boundaries.dropFirst()).contains(where: { $0 >= $1 }) || boundaries.contains(where: { $0 <= 0 || $0 >= trainSteps }) {
            return "boundaries \(boundaries) must be ascending timesteps inside (0, \(trainSteps))"
        }
        if let bad = depths.first(where: { !(1...depth).contains($0) }) { return "depth \(bad) is outside 1…\(depth) (the model's blocks)" }
        return nil
    }

    /// The interval of timestep `t` (a sampler's model timestep may be fractional).
    public func interval(of t: Double) -> Int { boundaries.firstIndex { t < Double($0) } ?? boundaries.count }

    /// Blocks that run at timestep `t`.
    public func blocks(at t: Double) -> Int { depths[interval(of: t)] }

    /// The timesteps of interval `i` among `[0, trainSteps)`.
    public func timesteps(of i: Int, trainSteps: Int) -> Range<Int> {
        (i == 0 ? 0 : boundaries[i - 1])..<(i == boundaries.count ? trainSteps : boundaries[i])
    }
}
