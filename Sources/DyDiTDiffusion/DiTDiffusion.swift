import Foundation

/// facebookresearch/DiT's Gaussian diffusion (`create_diffusion(str(K))`): the linear schedule
/// respaced to K steps as `space_timesteps` does, betas rebuilt from the kept ᾱ, Double
/// tables rounded to float32 where the official code extracts them (`_extract_into_tensor`).
/// The model always receives the original timestep values.
public struct DiTDiffusion: Sendable {
    public enum VarianceType: String, Sendable, CaseIterable {
        /// `frac = (v + 1)/2`, `log σ² = frac·log β_t + (1 − frac)·log β̃_t` (DiT with learn_sigma).
        case learnedRange = "learned_range"
        /// `[β̃_1, β_1, β_2, …]`: DiT without learn_sigma.
        case fixedLarge = "fixed_large"
        /// The posterior variance β̃ (log clipped at entry 1).
        case fixedSmall = "fixed_small"

        public static var allNames: [String] { allCases.map(\.rawValue) }
    }

    /// Original timestep of each respaced index (increasing).
    public let timestepMap: [Int]
    public let varianceType: VarianceType
    public let betas: [Double]
    public let alphasCumprod: [Double]
    public let alphasCumprodPrev: [Double]
    public let sqrtRecipAlphasCumprod: [Double]
    public let sqrtRecipm1AlphasCumprod: [Double]
    public let posteriorLogVarianceClipped: [Double]
    public let posteriorMeanCoef1: [Double]
    public let posteriorMeanCoef2: [Double]
    public let logBetas: [Double]
    public let fixedLargeLogVariance: [Double]
    /// `√ᾱ` and `√(1 − ᾱ)`, for `q_sample`.
    public var sqrtAlphasCumprod: [Double] { alphasCumprod.map { $0.squareRoot() } }
    public var sqrtOneMinusAlphasCumprod: [Double] { alphasCumprod.map { (1 - $0).squareRoot() } }

    /// - Parameters:
    ///   - respacing: DiT's `timestep_respacing`: a step count ("250"), comma-separated section
    ///     counts ("10,10,5"), or "ddimN" (an integer stride giving exactly N steps).
    public init(respacing: String, trainSteps: Int = 1000, schedule: String = "linear", varianceType: VarianceType) throws {
        let base: [Double]
        switch schedule {
        case "linear": base = NoiseSchedule.ditLinear(trainSteps)
        case "squaredcos_cap_v2": base = NoiseSchedule.squaredCosCapV2(trainSteps)
        default: throw SamplerError("unknown noise schedule '\(schedule)' for DiT's diffusion; valid: linear, squaredcos_cap_v2")
        }
        let use = try Self.spaceTimesteps(trainSteps, respacing)
        var last = 1.0
        var newBetas: [Double] = [], map: [Int] = []
        for (i, ac) in NoiseSchedule.alphasCumprod(base).enumerated() where use.contains(i) {
            newBetas.append(1 - ac / last)
            last = ac
            map.append(i)
        }
        timestepMap = map
        self.varianceType = varianceType
        betas = newBetas
        let ac = NoiseSchedule.alphasCumprod(newBetas)
        let acPrev = [1] + ac.dropLast()
        alphasCumprod = ac
        alphasCumprodPrev = acPrev
        sqrtRecipAlphasCumprod = ac.map { (1 / $0).squareRoot() }
        sqrtRecipm1AlphasCumprod = ac.map { (1 / $0 - 1).squareRoot() }
        let posteriorVariance = newBetas.indices.map { newBetas[$0] * (1 - acPrev[$0]) / (1 - ac[$0]) }
        posteriorLogVarianceClipped = posteriorVariance.count > 1
            ? ([posteriorVariance[1]] + posteriorVariance.dropFirst()).map { log($0) } : []
        posteriorMeanCoef1 = newBetas.indices.map { newBetas[$0] * acPrev[$0].squareRoot() / (1 - ac[$0]) }
        posteriorMeanCoef2 = newBetas.indices.map { (1 - acPrev[$0]) * (1 - newBetas[$0]).squareRoot() / (1 - ac[$0]) }
        logBetas = newBetas.map { log($0) }
        fixedLargeLogVariance = posteriorVariance.count > 1
            ? ([posteriorVariance[1]] + newBetas.dropFirst()).map { log($0) } : []
    }

    /// `space_timesteps(num_timesteps, section_counts)`: which original timesteps are kept.
    public static func spaceTimesteps(_ total: Int, _ spec: String) throws -> Set<Int> {
        if spec.hasPrefix("ddim") {
            guard let desired = Int(spec.dropFirst(4)), desired >= 1 else { throw SamplerError("respacing '\(spec)': expected ddimN") }
            for stride in 1..<max(total, 2) where stride <= total && (total + stride - 1) / stride == desired {
                return Set(Swift.stride(from: 0, to: total, by: stride))
            }
            throw SamplerError("respacing '\(spec)': no integer stride gives exactly \(desired) of \(total) steps")
        }
        let counts = try spec.split(separator: ",").map { part -> Int in
            guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n >= 0 else {
                throw SamplerError("respacing '\(spec)': '\(part)' is not a step count")
            }
            return n
        }
        guard !counts.isEmpty else { throw SamplerError("respacing is empty") }
        let sizePer = total / counts.count, extra = total % counts.count
        var start = 0
        var steps = Set<Int>()
        for (i, count) in counts.enumerated() {
            let size = sizePer + (i < extra ? 1 : 0)
            guard size >= count else { throw SamplerError("respacing '\(spec)': cannot divide a section of \(size) steps into \(count)") }
            let stride = count <= 1 ? 1 : Double(size - 1) / Double(count - 1)
            var cur = 0.0
            for _ in 0..<count {
                steps.insert(start + Int(cur.rounded(.toNearestOrEven)))
                cur += stride
            }
            start += size
        }
        return steps
    }

    /// A table entry as `_extract_into_tensor` yields it: rounded to float32.
    @inline(__always) public static func f32(_ v: Double) -> Double { Double(Float(v)) }

    /// The model's mean and log-variance for respaced index `i`, per element, and the
    /// predicted x0 (`p_mean_variance`, `clip_denoised` off as DiT samples latents).
    @inline(__always)
    func meanVariance(_ i: Int, x: Double, eps: Double, v: Double?, clip: Bool)
        -> (mean: Double, logVariance: Double, x0: Double) {
        let logVar: Double
        switch varianceType {
        case .learnedRange:
            let frac = ((v ?? 0) + 1) / 2
            logVar = frac * Self.f32(logBetas[i]) + (1 - frac) * Self.f32(posteriorLogVarianceClipped[i])
        case .fixedLarge: logVar = Self.f32(fixedLargeLogVariance[i])
        case .fixedSmall: logVar = Self.f32(posteriorLogVarianceClipped[i])
        }
        var x0 = Self.f32(sqrtRecipAlphasCumprod[i]) * x - Self.f32(sqrtRecipm1AlphasCumprod[i]) * eps
        if clip { x0 = min(max(x0, -1), 1) }
        let mean = Self.f32(posteriorMeanCoef1[i]) * x0 + Self.f32(posteriorMeanCoef2[i]) * x
        return (mean, logVar, x0)
    }
}

/// DiT's `p_sample_loop`: ancestral sampling with the model's variance. DiT draws noise at
/// every step, also the last (where it is multiplied by 0).
public final class DiTDDPM: Sampler {
    public let name = "ddpm (dit)"
    public let diffusion: DiTDiffusion
    public let timesteps: [Int]
    let clipDenoised: Bool

    public init(_ diffusion: DiTDiffusion, clipDenoised: Bool = false) {
        self.diffusion = diffusion
        timesteps = diffusion.timestepMap.reversed()
        self.clipDenoised = clipDenoised
    }

    public func drawsNoise(atStep k: Int) -> Bool { true }
    public var learnedVarianceOption: String? { diffusion.varianceType == .learnedRange ? "variance_type 'learned_range'" : nil }
    public func reset() {}

    public func step(_ k: Int, eps: [Double], v: [Double]?, x: inout [Double], noise: [Float]?) {
        let i = timesteps.count - 1 - k
        for e in x.indices {
            let (mean, logVar, _) = diffusion.meanVariance(i, x: x[e], eps: eps[e], v: v.map { $0[e] }, clip: clipDenoised)
            x[e] = i != 0 ? mean + exp(0.5 * logVar) * Double(noise?[e] ?? 0) : mean
        }
    }
}

/// DiT's `ddim_sample_loop` with `eta`: x0 from the model, eps re-derived from it, and
/// `x_prev = √ᾱ_prev·x0 + √(1 − ᾱ_prev − σ²)·eps + σ·z`.
public final class DiTDDIM: Sampler {
    public let name = "ddim (dit)"
    public let diffusion: DiTDiffusion
    public let timesteps: [Int]
    public let eta: Double
    let clipDenoised: Bool

    public init(_ diffusion: DiTDiffusion, eta: Double, clipDenoised: Bool = false) throws {
        guard eta >= 0 else { throw SamplerError("ddim: eta must be ≥ 0 (got \(eta))") }
        self.diffusion = diffusion
        timesteps = diffusion.timestepMap.reversed()
        self.eta = eta
        self.clipDenoised = clipDenoised
    }

    public func drawsNoise(atStep k: Int) -> Bool { true }
    public func reset() {}

    public func step(_ k: Int, eps: [Double], v: [Double]?, x: inout [Double], noise: [Float]?) {
        let i = timesteps.count - 1 - k
        let d = diffusion
        let alphaBar = DiTDiffusion.f32(d.alphasCumprod[i]), alphaBarPrev = DiTDiffusion.f32(d.alphasCumprodPrev[i])
        let sigma = eta * ((1 - alphaBarPrev) / (1 - alphaBar)).squareRoot() * (1 - alphaBar / alphaBarPrev).squareRoot()
        let direction = (1 - alphaBarPrev - sigma * sigma).squareRoot()
        let recip = DiTDiffusion.f32(d.sqrtRecipAlphasCumprod[i]), recipm1 = DiTDiffusion.f32(d.sqrtRecipm1AlphasCumprod[i])
        for e in x.indices {
            let (_, _, x0) = d.meanVariance(i, x: x[e], eps: eps[e], v: v.map { $0[e] }, clip: clipDenoised)
            let epsilon = (recip * x[e] - x0) / recipm1
            var next = x0 * alphaBarPrev.squareRoot() + direction * epsilon
            if i != 0 { next += sigma * Double(noise?[e] ?? 0) }
            x[e] = next
        }
    }
}
