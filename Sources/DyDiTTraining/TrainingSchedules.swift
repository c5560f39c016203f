import Foundation
import DyDiTIO

/// Learning rate per step: linear warm-up from `lr/warmup` to `lr` over the first `warmup`
/// steps (PyTorch's `LambdaLR(min(1, (step + 1) / warmup))`), then constant, as DiT trains, or
/// decaying to `floor` at `totalSteps` (a run that ends at a low rate averages its last steps
/// the way the EMA does, and converges further in the same steps).
public struct LearningRateSchedule: Sendable, Equatable {
    /// After warm-up: constant (DiT), or from the peak to `floor` at the run's last step along
    /// half a cosine (`cosine`, SGDR's shape) or a straight line (`linear`).
    public enum Decay: String, Sendable, Equatable, CaseIterable {
        case constant, cosine, linear
    }

    public var peak: Double
    public var warmupSteps: Int
    public var decay: Decay
    public var floor: Double
    public var totalSteps: Int

    public init(peak: Double, warmupSteps: Int, decay: Decay = .constant, floor: Double = 0, totalSteps: Int = 0) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.decay = decay
        self.floor = floor
        self.totalSteps = totalSteps
    }

    /// The rate of optimiser step `step` (0-based).
    public func rate(at step: Int) -> Double {
        if warmupSteps > 0 && step < warmupSteps { return peak * Double(step + 1) / Double(warmupSteps) }
        let span = totalSteps - 1 - warmupSteps
        guard decay != .constant, span > 0 else { return peak }
        // 0 at the first step after warm-up, 1 at the last step of the run (and beyond).
        let f = min(1, Double(step - warmupSteps) / Double(span))
        switch decay {
        case .constant: return peak
        case .linear: return peak + (floor - peak) * f
        case .cosine: return floor + (peak - floor) * 0.5 * (1 + cos(Double.pi * f))
        }
    }
}

/// DyDiT's FLOPs target during fine-tuning: 1 for the first `holdSteps` steps (the routers
/// start with everything on), then linearly down to `target` over `rampSteps`, then `target`.
public struct LambdaSchedule: Sendable, Equatable {
    public var target: Double
    public var holdSteps: Int
    public var rampSteps: Int

    public init(target: Double, holdSteps: Int = 100, rampSteps: Int) {
        self.target = target
        self.holdSteps = holdSteps
        self.rampSteps = rampSteps
    }

    public func lambda(at step: Int) -> Double {
        if step < holdSteps { return 1 }
        guard rampSteps > 0 else { return target }
        let f = min(1, Double(step - holdSteps) / Double(rampSteps))
        return 1 + (target - 1) * f
    }
}

/// How a batch's diffusion timesteps are drawn.
public enum TimestepSampling: String, Sendable, CaseIterable {
    /// DiT: each sample uniform in `[0, T)`.
    case uniform
    /// DyDiT: sample `i` uniform in quarter `i mod 4` of `[0, T)`, so every batch covers the
    /// whole range and the width routers see every phase of denoising.
    case stratified

    public func draw(batch: Int, steps: Int, _ rng: inout RandomGenerator) -> [Int] {
        switch self {
        case .uniform:
            return (0..<batch).map { _ in rng.below(steps) }
        case .stratified:
            let quarter = steps / 4
            return (0..<batch).map { i in
                let q = i % 4
                let low = q * quarter, high = q == 3 ? steps : low + quarter
                return low + rng.below(high - low)
            }
        }
    }
}

/// DiT's label dropout for classifier-free guidance: each label becomes the null class
/// (`numClasses`) with probability `probability`.
public struct LabelDropout: Sendable, Equatable {
    public var probability: Double
    public var nullClass: Int

    public init(probability: Double, nullClass: Int) {
        self.probability = probability
        self.nullClass = nullClass
    }

    public func apply(_ labels: [Int], _ rng: inout RandomGenerator) -> [Int] {
        guard probability > 0 else { return labels }
        return labels.map { rng.uniform() < probability ? nullClass : $0 }
    }
}
