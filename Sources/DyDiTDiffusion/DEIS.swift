import Foundation

/// diffusers' `DEISMultistepScheduler` (Zhang & Chen, DEIS; diffusers 0.42.1,
/// `src/diffusers/schedulers/scheduling_deis_multistep.py`): the log-ρ multistep solver of
/// orders 1–3, ρ = σ_t/α_t, integrating the Lagrange polynomial through the last noise
/// predictions in log ρ (`ind_fn`). DPM-Solver's grid, always ending at σ_min (with Karras σs
/// diffusers repeats the last σ, which is σ_min there too); lower orders at the last two steps
/// below 15 steps (`lower_order_final`). Epsilon models.
public final class DEIS: Sampler {
    public let name: String
    public let timesteps: [Int]
    let sigmas: [Double]
    let order: Int
    let lowerOrderFinal: Bool
    private var history: [[Double]?]
    private var lowerOrderNums = 0

    public init(_ config: DiffusersConfig, steps n: Int) throws {
        try SamplerSteps.check(n, config.numTrainTimesteps)
        (timesteps, sigmas) = DPMSolver.diffusersGrid(config, steps: n, multistep: true, finalSigmaMin: true)
        order = config.int("solver_order")
        lowerOrderFinal = config.bool("lower_order_final")
        name = "deis (logrho, order \(order))"
        history = Array(repeating: nil, count: order)
    }

    public func drawsNoise(atStep k: Int) -> Bool { false }

    public func reset() {
        history = Array(repeating: nil, count: order)
        lowerOrderNums = 0
    }

    /// `DPMSolver.vp` of step i, and ρ = σ_t/α_t.
    private func levels(_ i: Int) -> (alpha: Double, sigma: Double, lambda: Double, rho: Double) {
        let (a, st, l) = DPMSolver.vp(sigmas[i])
        return (a, st, l, st / a)
    }

    public func step(_ k: Int, eps: [Double], v: [Double]?, x: inout [Double], noise: [Float]?) {
        let n = timesteps.count
        let lowerFinal = k == n - 1 && lowerOrderFinal && n < 15
        let lowerSecond = k == n - 2 && lowerOrderFinal && n < 15
        // convert_model_output: through the data prediction and back to the noise, as diffusers does.
        let (a, s, _, _) = levels(k)
        let m = x.indices.map { i -> Double in
            let x0 = (x[i] - s * eps[i]) / a
            return (x[i] - a * x0) / s
        }
        history.removeFirst()
        history.append(m)
        let (at, st, lt, rt) = levels(k + 1), (a0, _, l0, r0) = levels(k)
        if order == 1 || lowerOrderNums < 1 || lowerFinal {
            let c1 = at / a0, c2 = st * (exp(lt - l0) - 1)
            for i in x.indices { x[i] = c1 * x[i] - c2 * m[i] }
        } else if order == 2 || lowerOrderNums < 2 || lowerSecond {
            let r1 = levels(k - 1).rho
            let m1 = history[order - 2]!
            func ind(_ t: Double, _ b: Double, _ c: Double) -> Double { t * (-log(c) + log(t) - 1) / (log(b) - log(c)) }
            let coef1 = ind(rt, r0, r1) - ind(r0, r0, r1), coef2 = ind(rt, r1, r0) - ind(r0, r1, r0)
            for i in x.indices { x[i] = at * (x[i] / a0 + coef1 * m[i] + coef2 * m1[i]) }
        } else {
            let r1 = levels(k - 1).rho, r2 = levels(k - 2).rho
            let m1 = history[order - 2]!, m2 = history[order - 3]!
            func ind(_ t: Double, _ b: Double, _ c: Double, _ d: Double) -> Double {
                let lt = log(t), lc = log(c), ld = log(d), lb = log(b)
                return t * (lc * (ld - lt + 1) - ld * lt + ld + lt * lt - 2 * lt + 2) / ((lb - lc) * (lb - ld))
            }
            let coef1 = ind(rt, r0, r1, r2) - ind(r0, r0, r1, r2)
            let coef2 = ind(rt, r1, r2, r0) - ind(r0, r1, r2, r0)
            let coef3 = ind(rt, r2, r0, r1) - ind(r0, r2, r0, r1)
            for i in x.indices { x[i] = at * (x[i] / a0 + coef1 * m[i] + coef2 * m1[i] + coef3 * m2[i]) }
        }
        if lowerOrderNums < order { lowerOrderNums += 1 }
    }
}
