import Foundation

/// diffusers' `DPMSolverMultistepScheduler` and `DPMSolverSinglestepScheduler`: DPM-Solver and
/// DPM-Solver++ (Lu et al.) of orders 1–3 on the noise-level table σ = √((1 − ᾱ)/ᾱ), in λ = −log σ.
public final class DPMSolver: Sampler {
    public let name: String
    public let timesteps: [Int]
    /// σ at each step, then the final σ (0 or σ_min); float32 values, as diffusers keeps them.
    public let sigmas: [Double]
    let multistep: Bool
    let order: Int
    let plusPlus: Bool
    let heun: Bool
    let lowerOrderFinal: Bool
    let eulerAtFinal: Bool
    let finalZero: Bool
    /// Singlestep: the order of each step.
    let orderList: [Int]

    private var history: [[Double]?]
    private var lowerOrderNums = 0
    private var cachedSample: [Double] = []

    public convenience init(_ config: DiffusersConfig, steps n: Int) throws {
        try SamplerSteps.check(n, config.numTrainTimesteps)
        let multistep = config.kind == .dpmMultistep
        let finalZero = config.string("final_sigmas_type") == "zero"
        let (ts, sig) = Self.diffusersGrid(config, steps: n, multistep: multistep)
        let order = config.int("solver_order")
        var lof = config.bool("lower_order_final")
        // Singlestep set_timesteps forces lower_order_final when the steps do not divide into
        // the order or the final σ is zero (diffusers' register_to_config).
        if !multistep && !lof && (n % order != 0 || finalZero) { lof = true }
        try self.init(sigmas: sig, timesteps: ts, order: order,
                      plusPlus: config.string("algorithm_type") != "dpmsolver", heun: config.string("solver_type") == "heun",
                      multistep: multistep, lowerOrderFinal: lof,
                      eulerAtFinal: multistep && config.bool("euler_at_final"), finalZero: finalZero)
    }

    /// The timesteps and σs (float32 values, then the final σ) of diffusers' DPM-Solver
    /// `set_timesteps` — shared with UniPC, whose `set_timesteps` is the same without
    /// `lambda_min_clipped`: spacing, Karras σs, final σ.
    /// `finalSigmaMin` overrides the config's `final_sigmas_type` (DEIS has none: it always
    /// ends at σ_min).
    static func diffusersGrid(_ config: DiffusersConfig, steps n: Int, multistep: Bool,
                              finalSigmaMin: Bool? = nil) -> (timesteps: [Int], sigmas: [Double]) {
        let schedule = DiffusersSchedule(config)
        let ac = schedule.alphasCumprodF32
        let t = config.numTrainTimesteps
        // float32 torch tables: σ, and λ for lambda_min_clipped.
        let sig32: [Float] = ac.map { ((1 - $0) / $0).squareRoot() }
        let lambda32: [Float] = ac.map { logf($0.squareRoot()) - logf((1 - $0).squareRoot()) }
        let minLambda = config.options["lambda_min_clipped"]?.doubleValue ?? -.infinity
        // searchsorted(flip(λ), λ_min, side=left)
        let flipped = lambda32.reversed().map(Double.init)
        let clippedIdx = flipped.firstIndex { $0 >= minLambda } ?? flipped.count

        var ts: [Int]
        if multistep {
            let last = t - clippedIdx
            switch config.string("timestep_spacing")! {
            case "leading":
                let ratio = last / (n + 1)
                ts = (1...n).reversed().map { $0 * ratio + config.int("steps_offset") }
            case "trailing":
                let ratio = Double(t) / Double(n)
                let count = Int((Double(last) / ratio).rounded(.up))
                ts = (0..<count).map { ReferenceArithmetic.numpyRound(Double(last) - Double($0) * ratio) - 1 }
            default:
                ts = Array(ReferenceArithmetic.numpyLinspace(0, Double(last - 1), n + 1).map(ReferenceArithmetic.numpyRound).reversed().dropLast())
            }
        } else {
            ts = Array(ReferenceArithmetic.numpyLinspace(0, Double(t - 1 - clippedIdx), n + 1).map(ReferenceArithmetic.numpyRound).reversed().dropLast())
        }
        var sig: [Double]
        if config.bool("use_karras_sigmas") {
            let logSigmas = sig32.map { Double(logf($0)) }
            let sigmaMin = Double(sig32[0]), sigmaMax = Double(sig32[sig32.count - 1])
            sig = Self.karrasSigmas(min: sigmaMin, max: sigmaMax, steps: n)
            ts = sig.map { Int(Self.sigmaToT($0, logSigmas: logSigmas).rounded(.toNearestOrEven)) }
        } else {
            sig = ts.map { Double(sig32[$0]) }
        }
        let endAtSigmaMin = finalSigmaMin ?? (config.string("final_sigmas_type") != "zero")
        sig.append(endAtSigmaMin ? Double(sig32[0]) : 0)
        return (ts, sig.map { Double(Float($0)) })
    }

    /// A solver on an explicit grid of noise levels `sigmas` (one more than `timesteps`),
    /// e.g. uniform in λ; the other parameters mean what diffusers' options of the same names do.
    public init(sigmas: [Double], timesteps: [Int], order: Int, plusPlus: Bool = true, heun: Bool = false,
                multistep: Bool = true, lowerOrderFinal: Bool = false, eulerAtFinal: Bool = false,
                finalZero: Bool = false) throws {
        guard (1...3).contains(order) else { throw SamplerError("solver_order must be 1, 2 or 3 (got \(order))") }
        guard sigmas.count == timesteps.count + 1, !timesteps.isEmpty else {
            throw SamplerError("a DPM-Solver grid needs one more σ than timesteps (got \(sigmas.count) and \(timesteps.count))")
        }
        self.sigmas = sigmas
        self.timesteps = timesteps
        self.order = order
        self.plusPlus = plusPlus
        self.heun = heun
        self.multistep = multistep
        self.lowerOrderFinal = lowerOrderFinal
        self.eulerAtFinal = eulerAtFinal
        self.finalZero = finalZero
        name = "\(plusPlus ? "dpm-solver++" : "dpm-solver") (\(multistep ? "multistep" : "singlestep"), order \(order))"
        orderList = multistep ? [] : Self.singlestepOrders(steps: timesteps.count, order: order,
                                                           lowerOrderFinal: lowerOrderFinal, finalZero: finalZero)
        history = Array(repeating: nil, count: order)
    }

    /// diffusers' `_convert_to_karras`: n σs from σ_max to σ_min, uniform in σ^(1/ρ), ρ = 7.
    static func karrasSigmas(min sigmaMin: Double, max sigmaMax: Double, steps n: Int) -> [Double] {
        let rho = 7.0, minInv = pow(sigmaMin, 1 / rho), maxInv = pow(sigmaMax, 1 / rho)
        return ReferenceArithmetic.numpyLinspace(0, 1, n).map { pow(maxInv + $0 * (minInv - maxInv), rho) }
    }

    /// `_sigma_to_t`: fractional timestep of σ by interpolation in log σ.
    static func sigmaToT(_ sigma: Double, logSigmas: [Double]) -> Double {
        let logSigma = log(max(sigma, 1e-10))
        // low = last index with log σ_table ≤ log σ (cumsum(dists ≥ 0).argmax), at most count − 2.
        var low = 0
        var count = 0, best = -1
        for (i, ls) in logSigmas.enumerated() {
            if logSigma - ls >= 0 { count += 1 }
            if count > best { best = count; low = i }
        }
        low = min(low, logSigmas.count - 2)
        let lo = logSigmas[low], hi = logSigmas[low + 1]
        let w = min(max((lo - logSigma) / (lo - hi), 0), 1)
        return (1 - w) * Double(low) + w * Double(low + 1)
    }

    static func singlestepOrders(steps: Int, order: Int, lowerOrderFinal: Bool, finalZero: Bool) -> [Int] {
        var orders: [Int]
        if lowerOrderFinal {
            switch order {
            case 3:
                switch steps % 3 {
                case 0: orders = Array(repeating: [1, 2, 3], count: steps / 3 - 1).flatMap { $0 } + [1, 2, 1]
                case 1: orders = Array(repeating: [1, 2, 3], count: steps / 3).flatMap { $0 } + [1]
                default: orders = Array(repeating: [1, 2, 3], count: steps / 3).flatMap { $0 } + [1, 2]
                }
            case 2:
                orders = steps % 2 == 0 ? Array(repeating: [1, 2], count: steps / 2 - 1).flatMap { $0 } + [1, 1]
                    : Array(repeating: [1, 2], count: steps / 2).flatMap { $0 } + [1]
            default: orders = Array(repeating: 1, count: steps)
            }
        } else {
            orders = order == 1 ? Array(repeating: 1, count: steps) : Array(repeating: Array(1...order), count: steps / order).flatMap { $0 }
        }
        if finalZero && !orders.isEmpty { orders[orders.count - 1] = 1 }
        return orders
    }

    public func drawsNoise(atStep k: Int) -> Bool { false }

    public func reset() {
        history = Array(repeating: nil, count: order)
        lowerOrderNums = 0
        cachedSample = []
    }

    /// α_t, σ_t and λ_t of step i's noise level (`vp`).
    @inline(__always) func levels(_ i: Int) -> (alpha: Double, sigma: Double, lambda: Double) { Self.vp(sigmas[i]) }

    /// α_t, σ_t and λ_t of a noise level σ (VP): α = 1/√(σ² + 1), σ_t = σ·α, λ = log α − log σ_t.
    /// Shared by DPM-Solver, UniPC and DEIS (diffusers' `_sigma_to_alpha_sigma_t`).
    @inline(__always) static func vp(_ s: Double) -> (alpha: Double, sigma: Double, lambda: Double) {
        let a = 1 / (s * s + 1).squareRoot()
        let st = s * a
        return (a, st, log(a) - log(st))
    }

    public func step(_ k: Int, eps: [Double], v: [Double]?, x: inout [Double], noise: [Float]?) {
        // convert_model_output: the data prediction for DPM-Solver++, eps itself otherwise.
        let (a0, s0, _) = levels(k)
        let m: [Double] = plusPlus ? x.indices.map { (x[$0] - s0 * eps[$0]) / a0 } : eps
        history.removeFirst()
        history.append(m)
        let n = timesteps.count
        if multistep {
            let lowerFinal = k == n - 1 && (eulerAtFinal || (lowerOrderFinal && n < 15) || finalZero)
            let lowerSecond = k == n - 2 && lowerOrderFinal && n < 15
            if order == 1 || lowerOrderNums < 1 || lowerFinal {
                firstOrder(k, sample: &x, m0: m)
            } else if order == 2 || lowerOrderNums < 2 || lowerSecond {
                multistepSecond(k, sample: &x)
            } else {
                multistepThird(k, sample: &x)
            }
            if lowerOrderNums < order { lowerOrderNums += 1 }
        } else {
            var o = orderList[k]
            while history[order - o] == nil { o -= 1 }
            if o == 1 { cachedSample = x }
            var out = cachedSample
            switch o {
            case 1: firstOrder(k, sample: &out, m0: m)
            case 2: singlestepSecond(k, sample: &out)
            default: singlestepThird(k, sample: &out)
            }
            x = out
        }
    }

    private func firstOrder(_ k: Int, sample x: inout [Double], m0: [Double]) {
        let (at, st, lt) = levels(k + 1), (as_, ss, ls) = levels(k)
        let h = lt - ls
        if plusPlus {
            let c1 = st / ss, c2 = at * (exp(-h) - 1)
            for i in x.indices { x[i] = c1 * x[i] - c2 * m0[i] }
        } else {
            let c1 = at / as_, c2 = st * (exp(h) - 1)
            for i in x.indices { x[i] = c1 * x[i] - c2 * m0[i] }
        }
    }

    private func multistepSecond(_ k: Int, sample x: inout [Double]) {
        let (at, st, lt) = levels(k + 1), (a0, s0, l0) = levels(k), (_, _, l1) = levels(k - 1)
        let m0 = history[order - 1]!, m1 = history[order - 2]!
        let h = lt - l0, r0 = (l0 - l1) / h
        for i in x.indices {
            let d0 = m0[i], d1 = (1 / r0) * (m0[i] - m1[i])
            x[i] = secondOrderUpdate(x[i], d0, d1, at: at, st: st, as_: a0, ss: s0, h: h)
        }
    }

    private func singlestepSecond(_ k: Int, sample x: inout [Double]) {
        let (at, st, lt) = levels(k + 1), (_, _, l0) = levels(k), (a1, s1, l1) = levels(k - 1)
        let m0 = history[order - 1]!, m1 = history[order - 2]!
        let h = lt - l1, r0 = (l0 - l1) / h
        for i in x.indices {
            let d0 = m1[i], d1 = (1 / r0) * (m0[i] - m1[i])
            x[i] = secondOrderUpdate(x[i], d0, d1, at: at, st: st, as_: a1, ss: s1, h: h)
        }
    }

    @inline(__always)
    private func secondOrderUpdate(_ x: Double, _ d0: Double, _ d1: Double, at: Double, st: Double,
                                   as_: Double, ss: Double, h: Double) -> Double {
        if plusPlus {
            let e = exp(-h) - 1
            return heun ? (st / ss) * x - (at * e) * d0 + (at * (e / h + 1)) * d1
                : (st / ss) * x - (at * e) * d0 - 0.5 * (at * e) * d1
        }
        let e = exp(h) - 1
        return heun ? (at / as_) * x - (st * e) * d0 - (st * (e / h - 1)) * d1
            : (at / as_) * x - (st * e) * d0 - 0.5 * (st * e) * d1
    }

    private func multistepThird(_ k: Int, sample x: inout [Double]) {
        let (at, st, lt) = levels(k + 1), (a0, s0, l0) = levels(k), (_, _, l1) = levels(k - 1), (_, _, l2) = levels(k - 2)
        let m0 = history[order - 1]!, m1 = history[order - 2]!, m2 = history[order - 3]!
        let h = lt - l0, r0 = (l0 - l1) / h, r1 = (l1 - l2) / h
        for i in x.indices {
            let d10 = (1 / r0) * (m0[i] - m1[i]), d11 = (1 / r1) * (m1[i] - m2[i])
            let d1 = d10 + (r0 / (r0 + r1)) * (d10 - d11)
            let d2 = (1 / (r0 + r1)) * (d10 - d11)
            if plusPlus {
                let e = exp(-h) - 1
                x[i] = (st / s0) * x[i] - (at * e) * m0[i] + (at * (e / h + 1)) * d1 - (at * ((e + h) / (h * h) - 0.5)) * d2
            } else {
                let e = exp(h) - 1
                x[i] = (at / a0) * x[i] - (st * e) * m0[i] - (st * (e / h - 1)) * d1 - (st * ((e - h) / (h * h) - 0.5)) * d2
            }
        }
    }

    private func singlestepThird(_ k: Int, sample x: inout [Double]) {
        let (at, st, lt) = levels(k + 1), (_, _, l0) = levels(k), (_, _, l1) = levels(k - 1), (a2, s2, l2) = levels(k - 2)
        let m0 = history[order - 1]!, m1 = history[order - 2]!, m2 = history[order - 3]!
        let h = lt - l2, r0 = (l0 - l2) / h, r1 = (l1 - l2) / h
        for i in x.indices {
            let d0 = m2[i]
            let d10 = (1 / r1) * (m1[i] - m2[i]), d11 = (1 / r0) * (m0[i] - m2[i])
            let d1 = (r0 * d10 - r1 * d11) / (r0 - r1)
            let d2 = 2 * (d11 - d10) / (r0 - r1)
            if plusPlus {
                let e = exp(-h) - 1
                x[i] = heun ? (st / s2) * x[i] - (at * e) * d0 + (at * (e / h + 1)) * d1 - (at * ((e + h) / (h * h) - 0.5)) * d2
                    : (st / s2) * x[i] - (at * e) * d0 + (at * (e / h + 1)) * d11
            } else {
                let e = exp(h) - 1
                x[i] = heun ? (at / a2) * x[i] - (st * e) * d0 - (st * (e / h - 1)) * d1 - (st * ((e - h) / (h * h) - 0.5)) * d2
                    : (at / a2) * x[i] - (st * e) * d0 - (st * (e / h - 1)) * d11
            }
        }
    }
}
