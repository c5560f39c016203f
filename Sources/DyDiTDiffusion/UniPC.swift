import Foundation

/// diffusers' `UniPCMultistepScheduler` (Zhao et al., UniPC; diffusers 0.42.1,
/// `src/diffusers/schedulers/scheduling_unipc_multistep.py`): the UniP predictor and, from the
/// second step on, the UniC corrector that reuses the step's own model evaluation, of orders 1–3,
/// with B(h) = h (`bh1`) or eᴴ − 1 (`bh2`), on the data prediction (`predict_x0`, the default)
/// or the noise. Same grid as DPM-Solver multistep (`DPMSolver.diffusersGrid`). Epsilon models;
/// no `solver_p`.
public final class UniPC: Sampler {
    public let name: String
    public let timesteps: [Int]
    /// σ at each step, then the final σ; float32 values.
    let sigmas: [Double]
    let order: Int
    let bh2: Bool
    let predictX0: Bool
    let lowerOrderFinal: Bool
    let disableCorrector: Set<Int>

    /// The converted model outputs of the last `order` steps, oldest first.
    private var outputs: [[Double]?]
    private var lowerOrderNums = 0
    private var lastSample: [Double]?
    private var thisOrder = 0

    public init(_ config: DiffusersConfig, steps n: Int) throws {
        try SamplerSteps.check(n, config.numTrainTimesteps)
        (timesteps, sigmas) = DPMSolver.diffusersGrid(config, steps: n, multistep: true)
        order = config.int("solver_order")
        // diffusers runs midpoint, heun and logrho as bh2 (register_to_config in __init__).
        bh2 = config.string("solver_type") != "bh1"
        predictX0 = config.bool("predict_x0")
        lowerOrderFinal = config.bool("lower_order_final")
        disableCorrector = Set((config.options["disable_corrector"]?.arrayValue ?? []).compactMap { $0.intValue.map(Int.init) })
        name = "unipc (\(bh2 ? "bh2" : "bh1"), order \(order))"
        outputs = Array(repeating: nil, count: order)
    }

    public func drawsNoise(atStep k: Int) -> Bool { false }

    public func reset() {
        outputs = Array(repeating: nil, count: order)
        lowerOrderNums = 0
        lastSample = nil
        thisOrder = 0
    }

    private func levels(_ i: Int) -> (alpha: Double, sigma: Double, lambda: Double) { DPMSolver.vp(sigmas[i]) }

    public func step(_ k: Int, eps: [Double], v: [Double]?, x: inout [Double], noise: [Float]?) {
        let (a, s, _) = levels(k)
        let m = predictX0 ? x.indices.map { (x[$0] - s * eps[$0]) / a } : eps
        // UniC: correct this step's state with its own model output, before predicting on.
        if k > 0, !disableCorrector.contains(k - 1), let last = lastSample {
            x = corrected(k, model: m, last: last, order: thisOrder)
        }
        outputs.removeFirst()
        outputs.append(m)
        var o = lowerOrderFinal ? min(order, timesteps.count - k) : order
        o = min(o, lowerOrderNums + 1)
        thisOrder = o
        lastSample = x
        x = predicted(k, from: x, order: o)
        if lowerOrderNums < order { lowerOrderNums += 1 }
    }

    /// UniP (`multistep_uni_p_bh_update`) from step k's state to step k + 1.
    private func predicted(_ k: Int, from x: [Double], order p: Int) -> [Double] {
        let (at, st, lt) = levels(k + 1), (a0, s0, l0) = levels(k)
        let h = lt - l0
        let m0 = outputs[outputs.count - 1]!
        var rks: [Double] = [], d1s: [[Double]] = []
        for i in 1..<max(p, 1) {
            let mi = outputs[outputs.count - 1 - i]!, rk = (levels(k - i).lambda - l0) / h
            rks.append(rk)
            d1s.append(x.indices.map { (mi[$0] - m0[$0]) / rk })
        }
        rks.append(1)
        let c = coefficients(h: h, rks: rks, order: p)
        // ρ of the predictor: ½ at order 2, else R[:-1, :-1] ρ = b[:-1].
        let rhos: [Double] = d1s.isEmpty ? [] : p == 2 ? [0.5]
            : Self.solve(Array(c.r.dropLast().map { Array($0.dropLast()) }), Array(c.b.dropLast()))
        let (scaleX, scaleM) = predictX0 ? (st / s0, at) : (at / a0, st)
        return x.indices.map { i in
            let res = zip(rhos, d1s).reduce(0.0) { $0 + $1.0 * $1.1[i] }
            return scaleX * x[i] - scaleM * c.hPhi1 * m0[i] - scaleM * c.bh * res
        }
    }

    /// UniC (`multistep_uni_c_bh_update`): step k's state recomputed from step k − 1's with
    /// the model output at k.
    private func corrected(_ k: Int, model mt: [Double], last x: [Double], order p: Int) -> [Double] {
        let (at, st, lt) = levels(k), (a0, s0, l0) = levels(k - 1)
        let h = lt - l0
        let m0 = outputs[outputs.count - 1]!
        var rks: [Double] = [], d1s: [[Double]] = []
        for i in 1..<max(p, 1) {
            let mi = outputs[outputs.count - 1 - i]!, rk = (levels(k - i - 1).lambda - l0) / h
            rks.append(rk)
            d1s.append(x.indices.map { (mi[$0] - m0[$0]) / rk })
        }
        rks.append(1)
        let c = coefficients(h: h, rks: rks, order: p)
        let rhos = p == 1 ? [0.5] : Self.solve(c.r, c.b)
        let (scaleX, scaleM) = predictX0 ? (st / s0, at) : (at / a0, st)
        return x.indices.map { i in
            let res = zip(rhos.dropLast(), d1s).reduce(0.0) { $0 + $1.0 * $1.1[i] }
            return scaleX * x[i] - scaleM * c.hPhi1 * m0[i] - scaleM * c.bh * (res + rhos[rhos.count - 1] * (mt[i] - m0[i]))
        }
    }

    /// hφ₁(h) = eʰʰ − 1, B(h), and the order conditions R (rows rₖ^(i−1)) and b
    /// (φ's Taylor terms, i!·hφᵢ₊₁/B(h)), with hh = −h on the data prediction.
    private func coefficients(h: Double, rks: [Double], order p: Int) -> (hPhi1: Double, bh: Double, r: [[Double]], b: [Double]) {
        let hh = predictX0 ? -h : h
        let hPhi1 = expm1(hh)
        var hPhiK = hPhi1 / hh - 1
        var factorial = 1.0
        let bh = bh2 ? expm1(hh) : hh
        var r: [[Double]] = [], b: [Double] = []
        for i in 1...p {
            r.append(rks.map { pow($0, Double(i - 1)) })
            b.append(hPhiK * factorial / bh)
            factorial *= Double(i + 1)
            hPhiK = hPhiK / hh - 1 / factorial
        }
        return (hPhi1, bh, r, b)
    }

    /// `torch.linalg.solve` for the ≤ 3×3 systems here: Gaussian elimination, partial pivoting.
    static func solve(_ a: [[Double]], _ b: [Double]) -> [Double] {
        var m = a, y = b
        let n = y.count
        for col in 0..<n {
            let pivot = (col..<n).max { abs(m[$0][col]) < abs(m[$1][col]) }!
            m.swapAt(col, pivot)
            y.swapAt(col, pivot)
            for row in (col + 1)..<n {
                let f = m[row][col] / m[col][col]
                for j in col..<n { m[row][j] -= f * m[col][j] }
                y[row] -= f * y[col]
            }
        }
        var out = [Double](repeating: 0, count: n)
        for row in stride(from: n - 1, through: 0, by: -1) {
            var acc = y[row]
            for j in (row + 1)..<n { acc -= m[row][j] * out[j] }
            out[row] = acc / m[row][row]
        }
        return out
    }
}
