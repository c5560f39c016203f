import Foundation
import DyDiTIO
import DyDiTModels

/// Records, along uncached sampling trajectories, what TeaCache's coefficients are fitted on:
/// per step and per forward sample (each image's conditional and unconditional rows apart),
/// the relative L1 change of the first block's modulated input and of the model's output
/// since the previous step. The official recipe (`ali-vilab/TeaCache` issue #2, answered by
/// the authors): every step of every trajectory, `np.polyfit(input_change, output_change, 4)`.
/// Also keeps the whole batch's input change per step, which is what the cache tests at
/// sampling time, to predict how many steps a threshold runs.
public final class TeaCacheRecorder {
    private var previousInput: [Float] = [], previousOutput: [Float] = []
    private var pendingInput: [Double] = []
    /// (input change, output change) of one forward sample between consecutive steps.
    public private(set) var pairs: [(x: Double, y: Double)] = []
    /// Per trajectory, per step: the whole batch's input change (nan at the first step).
    public private(set) var batchChanges: [[Double]] = []

    public init() {}

    /// A new trajectory: the next step has no previous one.
    public func startTrajectory() {
        previousInput = []
        previousOutput = []
        pendingInput = []
        batchChanges.append([])
    }

    func recordInput(_ m: UnsafeBufferPointer<Float>, rows: Int, tokens: Int) {
        let samples = rows / tokens, size = m.count / samples
        if previousInput.count == m.count {
            pendingInput = (0..<samples).map { s in
                Self.relativeL1(UnsafeBufferPointer(rebasing: m[(s * size)..<((s + 1) * size)]), previousInput, offset: s * size)
            }
            batchChanges[batchChanges.count - 1].append(TeaCachePolicy.relativeL1(m, previousInput))
        } else {
            pendingInput = []
            batchChanges[batchChanges.count - 1].append(.nan)
        }
        previousInput = Array(m)
    }

    /// The model's output of the forward whose input was recorded last: `[samples, outC, H, W]`.
    public func recordOutput(_ out: UnsafeBufferPointer<Float>, samples: Int) {
        let size = out.count / samples
        if previousOutput.count == out.count && pendingInput.count == samples {
            for s in 0..<samples {
                let y = Self.relativeL1(UnsafeBufferPointer(rebasing: out[(s * size)..<((s + 1) * size)]), previousOutput, offset: s * size)
                pairs.append((pendingInput[s], y))
            }
        }
        previousOutput = Array(out)
    }

    static func relativeL1(_ a: UnsafeBufferPointer<Float>, _ b: [Float], offset: Int) -> Double {
        var diff = 0.0, base = 0.0
        for i in 0..<a.count {
            diff += Double(abs(a[i] - b[offset + i]))
            base += Double(abs(b[offset + i]))
        }
        return base > 0 ? diff / base : .infinity
    }
}

/// The step cache of a calibration run: every step runs every block (the samples are the
/// uncached model's), and the recorder sees each step's first modulated input.
public struct TeaCacheCalibration: StepCachePolicy, @unchecked Sendable {
    /// Written from the sampling loop's thread only.
    public let recorder: TeaCacheRecorder
    public var name: String { "teacache calibration (every step runs)" }

    public init(recorder: TeaCacheRecorder) { self.recorder = recorder }

    public func buffers(depth: Int) -> Int { 2 }

    public func session(steps: Int, depth: Int) throws -> StepCacheSession { Session(recorder: recorder, depth: depth) }

    final class Session: StepCacheSession, ResidualCacheDecider {
        let recorder: TeaCacheRecorder, depth: Int
        init(recorder: TeaCacheRecorder, depth: Int) { (self.recorder, self.depth) = (recorder, depth) }
        func plan(step k: Int) -> StepCachePlan {
            // Here, not when the session is made: validation makes one without running it.
            if k == 0 { recorder.startTrajectory() }
            return .decideResidual(0..<depth, self)
        }
        func reuse(modulatedInput: UnsafeBufferPointer<Float>, rows: Int, tokens: Int) -> Bool {
            recorder.recordInput(modulatedInput, rows: rows, tokens: tokens)
            return false
        }
    }
}

/// A least-squares polynomial fit, as `np.polyfit` computes it (columns of the Vandermonde
/// matrix scaled to unit norm, then Householder QR), with the share of variance explained.
public enum PolynomialFit {
    /// Coefficients of degree `degree`, highest power first (`np.poly1d` order).
    public static func fit(x: [Double], y: [Double], degree: Int) throws -> [Double] {
        let n = x.count, m = degree + 1
        guard x.count == y.count, n >= m else {
            throw SamplerError("a degree-\(degree) fit needs at least \(m) points; \(min(x.count, y.count)) given")
        }
        guard x.allSatisfy(\.isFinite), y.allSatisfy(\.isFinite) else { throw SamplerError("the points to fit are not all finite") }
        // a[i][j] = x_i^(degree − j), column-major for the QR.
        var a = (0..<m).map { j in x.map { Foundation.pow($0, Double(degree - j)) } }
        let scale = a.map { col in (col.reduce(0) { $0 + $1 * $1 }).squareRoot() }
        guard scale.allSatisfy({ $0 > 0 }) else { throw SamplerError("the points to fit are all zero") }
        for j in 0..<m { for i in 0..<n { a[j][i] /= scale[j] } }
        var b = y
        // Householder QR: R in the upper triangle of a, Qᵀb in b.
        for k in 0..<m {
            var norm = 0.0
            for i in k..<n { norm += a[k][i] * a[k][i] }
            norm = norm.squareRoot()
            guard norm > 0 else { throw SamplerError("the points do not determine a degree-\(degree) polynomial (too few distinct x)") }
            let alpha = a[k][k] > 0 ? -norm : norm
            var v = [Double](repeating: 0, count: n)
            for i in k..<n { v[i] = a[k][i] }
            v[k] -= alpha
            let vv = v[k..<n].reduce(0) { $0 + $1 * $1 }
            guard vv > 0 else { continue }
            for j in k..<m {
                var dot = 0.0
                for i in k..<n { dot += v[i] * a[j][i] }
                let f = 2 * dot / vv
                for i in k..<n { a[j][i] -= f * v[i] }
            }
            var dot = 0.0
            for i in k..<n { dot += v[i] * b[i] }
            let f = 2 * dot / vv
            for i in k..<n { b[i] -= f * v[i] }
        }
        var c = [Double](repeating: 0, count: m)
        for k in stride(from: m - 1, through: 0, by: -1) {
            var s = b[k]
            for j in (k + 1)..<m { s -= a[j][k] * c[j] }
            guard a[k][k] != 0 else { throw SamplerError("the points do not determine a degree-\(degree) polynomial") }
            c[k] = s / a[k][k]
        }
        return (0..<m).map { c[$0] / scale[$0] }
    }

    /// `1 − SS_res / SS_tot` of `coefficients` on the points.
    public static func r2(x: [Double], y: [Double], coefficients: [Double]) -> Double {
        let mean = y.reduce(0, +) / Double(y.count)
        var res = 0.0, tot = 0.0
        for (xi, yi) in zip(x, y) {
            let p = coefficients.reduce(0) { $0 * xi + $1 }
            res += (yi - p) * (yi - p)
            tot += (yi - mean) * (yi - mean)
        }
        return tot > 0 ? 1 - res / tot : .nan
    }
}

extension TeaCachePolicy {
    /// Full steps TeaCache would run on a trajectory whose whole-batch input changes are
    /// `changes` (nan at the first step), with this policy's rule: what a threshold costs,
    /// predicted from a calibration run (the real trajectory drifts once steps are skipped).
    public func predictedFullSteps(changes: [Double]) -> Int {
        var accumulated = 0.0, full = 0
        for (k, change) in changes.enumerated() {
            if k == 0 || k == changes.count - 1 || !change.isFinite {
                full += 1
                accumulated = 0
            } else {
                accumulated += rescale(change)
                if accumulated >= threshold {
                    full += 1
                    accumulated = 0
                }
            }
        }
        return full
    }
}
