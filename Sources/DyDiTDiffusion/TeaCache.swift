import DyDiTIO
import DyDiTModels

/// TeaCache (Liu et al. 2025, "Timestep Embedding Tells: It's Time to Cache for Video Diffusion
/// Model"; `ali-vilab/TeaCache` commit 7c10efc, `TeaCache4FLUX/teacache_flux.py`,
/// `teacache_forward`): at every step the first block's timestep-modulated input is computed;
/// its relative L1 change since the previous step (`mean|m − m_prev| / mean|m_prev|` over the
/// whole forward batch, as the official code takes it) goes through a polynomial fitted to the
/// model (`np.poly1d(coefficients)`, highest power first) and accumulates; while the sum stays
/// below `threshold` the step skips every block and adds the residual (output of the last block
/// minus input of the first) kept from the last full step; otherwise it runs them, keeps their
/// residual and restarts the sum. The first and last steps always run. The coefficients are the
/// model's own: `dydit sample … --fit-teacache` fits them from its sampling trajectories
/// (`TeaCacheFit`) and writes them beside the weights, where this looks by default.
///
/// The decision is one for the whole forward batch (cond and uncond rows, every image), as in
/// the official code: the same image may take a different number of full steps in another
/// batch.
public struct TeaCachePolicy: StepCachePolicy {
    /// `np.poly1d` order: highest power first.
    public let coefficients: [Double]
    public let threshold: Double
    public var name: String { "teacache (threshold \(threshold))" }

    public init(coefficients: [Double], threshold: Double) throws {
        guard !coefficients.isEmpty, coefficients.allSatisfy(\.isFinite) else {
            throw SamplerError("teacache: the rescaling coefficients \(coefficients) are empty or not finite")
        }
        guard threshold.isFinite, threshold >= 0 else { throw SamplerError("teacache: threshold \(threshold) is not a number ≥ 0 (0 = every step runs)") }
        self.coefficients = coefficients
        self.threshold = threshold
    }

    /// The rescaled change: the polynomial at `x` (Horner).
    public func rescale(_ x: Double) -> Double { coefficients.reduce(0) { $0 * x + $1 } }

    public func buffers(depth: Int) -> Int { TeaCachePlugin.buffers(depth: depth) }

    public func session(steps: Int, depth: Int) throws -> StepCacheSession { Session(policy: self, steps: steps, depth: depth) }

    /// The official loop's state: the previous modulated input and the accumulated distance.
    public final class Session: StepCacheSession, ResidualCacheDecider {
        let policy: TeaCachePolicy, steps: Int, depth: Int
        var step = 0
        var previous: [Float] = []
        /// The accumulated rescaled change since the last full step.
        public private(set) var accumulated = 0.0
        /// Per step: the relative change of the modulated input (nan at the first step).
        public private(set) var inputChanges: [Double] = []

        init(policy: TeaCachePolicy, steps: Int, depth: Int) { (self.policy, self.steps, self.depth) = (policy, steps, depth) }

        public var bytes: Int { previous.count * MemoryLayout<Float>.stride }

        public func plan(step k: Int) -> StepCachePlan {
            step = k
            return .decideResidual(0..<depth, self)
        }

        public func reuse(modulatedInput m: UnsafeBufferPointer<Float>, rows: Int, tokens: Int) -> Bool {
            let change = previous.count == m.count ? TeaCachePolicy.relativeL1(m, previous) : .nan
            inputChanges.append(change)
            let calculate: Bool
            if step == 0 || step == steps - 1 || previous.count != m.count {
                calculate = true
                accumulated = 0
            } else {
                accumulated += policy.rescale(change)
                if accumulated < policy.threshold {
                    calculate = false
                } else {
                    calculate = true
                    accumulated = 0
                }
            }
            if previous.count != m.count { previous = [Float](repeating: 0, count: m.count) }
            previous.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: m.baseAddress!, count: m.count) }
            return !calculate
        }
    }

    /// `mean|a − b| / mean|b|` (sums in Double).
    public static func relativeL1(_ a: UnsafeBufferPointer<Float>, _ b: [Float]) -> Double {
        var diff = 0.0, base = 0.0
        for i in 0..<a.count {
            diff += Double(abs(a[i] - b[i]))
            base += Double(abs(b[i]))
        }
        return base > 0 ? diff / base : .infinity
    }

    /// Where the fitted coefficients of `weights` live: `X.safetensors` → `X.teacache.json`.
    public static func coefficientsPath(weights: String) -> String {
        (weights.hasSuffix(".safetensors") ? String(weights.dropLast(".safetensors".count)) : weights) + ".teacache.json"
    }

    /// The coefficients in a file `TeaCacheFit` wrote; with `weights`, the file must have been
    /// fitted on exactly those bytes (a fit on other weights would rescale the wrong model).
    public static func loadCoefficients(_ path: String, weights: String?) throws -> [Double] {
        guard FileReader.exists(path) else {
            throw SamplerError("teacache: no coefficients at \(path); fit them from the model's own trajectories (dydit sample -m \(weights ?? "WEIGHTS") --fit-teacache, with the sampler settings you will use), or give cache.coefficients as a list")
        }
        let bytes = try FileReader.read(path)
        let json = try bytes.withUnsafeBytes { try JSONParser.parse($0, path: path) }
        let list = json.objectValue?["coefficients"]?.arrayValue ?? []
        let values = list.compactMap { $0.doubleValue }
        guard !list.isEmpty, values.count == list.count else {
            throw SamplerError("teacache: \(path) has no 'coefficients' list of numbers; fit it again (dydit sample … --fit-teacache)")
        }
        if let weights, let fitted = json.objectValue?["weights_sha256"]?.stringValue {
            let actual = try FileDigest.sha256(weights).sha256
            if actual != fitted {
                throw SamplerError("teacache: \(path) was fitted on weights with SHA-256 \(fitted.prefix(12))…, but \(weights) has \(actual.prefix(12))…: fit again on these weights (dydit sample -m \(weights) --fit-teacache)")
            }
        }
        return values
    }
}

public enum TeaCachePlugin: StepCachePlugin {
    public static let name = "teacache"
    public static let summary = "TeaCache: skip the whole model while the first block's modulated input has changed little (rescaled by a polynomial fitted to the model), adding the last residual (training-free)"
    public static let options = [
        PluginOption("threshold", .double(0.1), "accumulated rescaled change below which a step reuses the residual (rel_l1_thresh; 0 = every step runs)",
                     check: .nonNegative),
        PluginOption("coefficients", .null, "the rescaling polynomial, highest power first, or the path of a fitted file (default: X.teacache.json beside the weights X.safetensors, written by dydit sample --fit-teacache)"),
    ]

    public static func make(_ options: JSONObject, context: StepCacheContext) throws -> StepCachePolicy? {
        let threshold = options["threshold"]?.doubleValue ?? 0.1
        let coefficients: [Double]
        switch options["coefficients"] ?? .null {
        case let .array(list):
            let values = list.compactMap { $0.doubleValue }
            guard values.count == list.count else { throw SamplerError("teacache: coefficients \(JSONValue.array(list).serialized()) are not all numbers") }
            coefficients = values
        case let .string(file):
            let path = context.resolve(file)
            guard context.readsFiles else { return try TeaCachePolicy(coefficients: [0], threshold: threshold) }
            coefficients = try TeaCachePolicy.loadCoefficients(path, weights: context.weights)
        case .null:
            guard let weights = context.weights else {
                throw SamplerError("teacache: no coefficients: give cache.coefficients (a list, or a fitted file), or weights with X.teacache.json beside them (a random-init model has none)")
            }
            guard context.readsFiles else { return try TeaCachePolicy(coefficients: [0], threshold: threshold) }
            coefficients = try TeaCachePolicy.loadCoefficients(TeaCachePolicy.coefficientsPath(weights: weights), weights: weights)
        default:
            throw SamplerError("teacache: coefficients must be a list of numbers or a file path")
        }
        return try TeaCachePolicy(coefficients: coefficients, threshold: threshold)
    }

    /// The range's input and residual, and the previous step's modulated input.
    public static func buffers(depth: Int) -> Int { 3 }

    /// The coefficients file a run with these options reads (nil: the coefficients are inline).
    public static func coefficientsFile(_ options: JSONObject, context: StepCacheContext) -> String? {
        switch options["coefficients"] ?? .null {
        case let .string(path): return context.resolve(path)
        case .null: return context.weights.map(TeaCachePolicy.coefficientsPath)
        default: return nil
        }
    }
}
