import DyDiTDiffusion
import DyDiTIO
import DyDiTModels
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Learning-to-Cache's router training (`horseee/learning-to-cache` commit d6cc781,
/// `DiT/train_router.py` and `gaussian_diffusion.py` `router_training_losses`), the model
/// frozen. Per step, for one odd respaced index `r` drawn uniformly (the same for the batch):
/// `x_r` from a data batch and noise, one DDIM step (η 0) with the complete model to `x_{r−1}`
/// keeping every block's branches, the complete model's output at `r − 1` (the target), and the
/// output at `r − 1` with every branch blended with the kept one by `w = sigmoid(logit[r − 1])`
/// (`BranchBlend`). Loss `mean((target − blended)²) + l1·Σ w`; AdamW (weight decay 0) on the
/// logits only, then each logit clamped to [−5, 5]. The logits start as `randn` (the official
/// `torch.randn(num_choises)`).
///
/// Ours: the steps are the sampler's model timesteps (any sampler: the router is trained for
/// the schedule it will run with), ᾱ taken at those timesteps; the official code trains on
/// DiT's respaced DDIM schedule, where the two agree.
public final class L2CTrainer {
    public struct Settings: Sendable, Equatable {
        public var steps = 1000
        public var batch = 32
        /// The official `--lr` (1e-3 for DiT-XL/2 at 20 steps) and `--l1` (5e-6 at 20 steps).
        public var learningRate = 1e-3
        public var l1 = 5e-6
        public var labelDropout = 0.1
        /// The threshold the progress reports count computed layers at (inference's θ).
        public var threshold = 0.1
        public var seed: UInt64 = 0
        public init() {}
    }

    /// One step's numbers.
    public struct Record: Sendable {
        public var step: Int
        public var loss: Double
        public var mse: Double
        /// `Σ w` of the step's router (before the `l1` factor).
        public var l1: Double
        /// The share of layers the routed steps compute at `threshold`, over all routed steps.
        public var computed: Double
    }

    public let model: TrainableDiT
    public let settings: Settings
    public var loader: BatchLoader
    public var rng: RandomGenerator
    public internal(set) var step = 0
    /// `l2c.logits` `[steps, 2·depth]`, row r for respaced index r (0 = the last sampling step).
    public let logits: ParameterSet
    /// AdamW's moments (weight decay 0) and each row's own step count: torch's optimiser
    /// skips a router whose logits got no gradient (grad None), so only the routed step's row
    /// moves, with its own bias correction.
    var firstMoment: [Float], secondMoment: [Float]
    var rowSteps: [Int]
    /// The sampler's model timesteps, sampling order.
    public let timesteps: [Double]
    let alphasCumprod: [Double]
    let dropout: LabelDropout
    let blend: BranchBlend

    public init(model: TrainableDiT, loader: BatchLoader, timesteps: [Double], settings: Settings) throws {
        let c = model.config
        guard model.routerFormat == nil else { throw TrainingError.data("L2C trains routers for a plain DiT; this model has DyDiT routers") }
        guard timesteps.count >= 2 else { throw TrainingError.data("L2C needs at least 2 sampling steps (a full step and a routed one); the sampler runs \(timesteps.count)") }
        let diffusion = try DiTDiffusion(respacing: "1000", varianceType: c.learnSigma ? .learnedRange : .fixedLarge)
        for t in timesteps where t != t.rounded() || t < 0 || Int(t) >= diffusion.alphasCumprod.count {
            throw TrainingError.data("L2C trains at the sampler's model timesteps, which must be integers in [0, \(diffusion.alphasCumprod.count)); this sampler has \(t)")
        }
        self.model = model
        self.loader = loader
        self.settings = settings
        self.timesteps = timesteps
        alphasCumprod = diffusion.alphasCumprod
        rng = RandomGenerator(seed: settings.seed)
        logits = ParameterSet(layout: [(LearningToCacheRouters.tensorName, [timesteps.count, 2 * c.depth], true)])
        logits[LearningToCacheRouters.tensorName] = rng.normals(timesteps.count * 2 * c.depth)
        firstMoment = [Float](repeating: 0, count: timesteps.count * 2 * c.depth)
        secondMoment = firstMoment
        rowSteps = [Int](repeating: 0, count: timesteps.count)
        dropout = LabelDropout(probability: model.hasNullClass ? settings.labelDropout : 0, nullClass: c.numClasses)
        blend = BranchBlend(config: c, batch: settings.batch)
    }

    public var routers: LearningToCacheRouters {
        let flat = logits[LearningToCacheRouters.tensorName], w = 2 * model.config.depth
        return LearningToCacheRouters(logits: (0..<timesteps.count).map { Array(flat[($0 * w)..<(($0 + 1) * w)]) }, timesteps: timesteps)
    }

    /// One optimiser step; throws, before touching the logits, when the loss is not finite.
    public func trainStep() throws -> Record {
        let c = model.config, b = settings.batch, n = timesteps.count
        let batch = loader.next(&rng)
        // train_router.py: t = randint(0, N // 2), ts = 2t + 1 (respaced), then t − 1 routed.
        let r = 2 * rng.below(n / 2) + 1
        let k = n - 1 - r
        let y = dropout.apply(batch.y, &rng)
        let noise = rng.normals(b * c.imageSize)
        let a = alphasCumprod[Int(timesteps[k])], aPrev = alphasCumprod[Int(timesteps[k + 1])]
        let xt = Self.noisy(x0: batch.x0, noise: noise, alphaBar: a)
        let row = logits.pointer(LearningToCacheRouters.tensorName) + (r - 1) * 2 * c.depth
        let result = Self.evaluate(model: model, blend: blend, xt: xt, y: y, timesteps: (timesteps[k], timesteps[k + 1]),
                                   alphaBars: (a, aPrev), logits: Array(UnsafeBufferPointer(start: row, count: 2 * c.depth)),
                                   l1: settings.l1)
        let loss = result.mse + settings.l1 * result.l1
        guard loss.isFinite else {
            throw TrainingError.diverged(step: step, "the L2C loss is \(loss); the logits are left as they were before this step")
        }
        adamStep(row: r - 1, gradients: result.logitGradients)
        step += 1
        return Record(step: step, loss: loss, mse: result.mse, l1: result.l1, computed: computedShare())
    }

    /// What one L2C step computes, given the noisy batch `xt` at the full step's timestep.
    public struct StepResult {
        /// The model's output at the full step, the DDIM step's result, the complete model's
        /// output at the routed step (the target) and the blended output there.
        public var first: [Float], xPrev: [Float], target: [Float], blended: [Float]
        /// `mean((target − blended)²)`, `Σ w`, and `d(mse + l1·Σw) / d logit` of the routed step's row.
        public var mse: Double, l1: Double
        public var logitGradients: [Float]
    }

    /// One step of `router_training_losses` and its backward pass: `timesteps` and `alphaBars`
    /// of the full step and the routed one after it, `logits` the routed step's row.
    public static func evaluate(model: TrainableDiT, blend: BranchBlend, xt: [Float], y: [Int], timesteps: (Double, Double),
                                alphaBars: (Double, Double), logits: [Float], l1 l1Weight: Double) -> StepResult {
        let c = model.config, b = y.count
        model.branchBlend = nil
        let first = model.forward(x: xt, t: [Float](repeating: Float(timesteps.0), count: b), y: y)
        blend.keep(from: model)
        let xPrev = ddimStep(xt, output: first, batch: b, config: c, alphaBar: alphaBars.0, alphaBarPrev: alphaBars.1)
        let tPrev = [Float](repeating: Float(timesteps.1), count: b)
        let target = model.forward(x: xPrev, t: tPrev, y: y)
        let w = logits.map { 1 / (1 + expf(-$0)) }
        blend.weights = w
        blend.weightGradients = [Float](repeating: 0, count: w.count)
        model.branchBlend = blend
        defer { model.branchBlend = nil }
        let out = model.forward(x: xPrev, t: tPrev, y: y)
        var mse = 0.0
        var dOut = [Float](repeating: 0, count: out.count)
        let scale = 2 / Float(out.count)
        for i in 0..<out.count {
            let e = out[i] - target[i]
            mse += Double(e) * Double(e)
            dOut[i] = scale * e
        }
        mse /= Double(out.count)
        // The model is frozen: its own gradients are computed on the way and dropped.
        model.gradients.zero()
        model.backward(dOutput: dOut)
        // d(mse + l1·Σw)/d logit = (d mse/dw + l1)·w(1 − w).
        let grads = (0..<w.count).map { j in (blend.weightGradients[j] + Float(l1Weight)) * w[j] * (1 - w[j]) }
        return StepResult(first: first, xPrev: xPrev, target: target, blended: out, mse: mse,
                          l1: w.reduce(0.0) { $0 + Double($1) }, logitGradients: grads)
    }

    /// AdamW (torch's single-tensor path, float32, weight decay 0) on one row, then the
    /// official clamp of every logit to [−5, 5].
    func adamStep(row: Int, gradients g: [Float]) {
        rowSteps[row] += 1
        let t = Double(rowSteps[row]), lr = settings.learningRate
        let b1 = 0.9, b2 = 0.999
        let stepSize = Float(lr / (1 - pow(b1, t))), correction2 = Float((1 - pow(b2, t)).squareRoot())
        let oneMinusB1 = Float(1 - b1), oneMinusB2 = Float(1 - b2), beta2 = Float(b2), eps: Float = 1e-8
        let p = logits.pointer + row * g.count, base = row * g.count
        for j in 0..<g.count {
            firstMoment[base + j] += oneMinusB1 * (g[j] - firstMoment[base + j])
            secondMoment[base + j] = secondMoment[base + j] * beta2 + oneMinusB2 * g[j] * g[j]
            p[j] -= stepSize * (firstMoment[base + j] / (secondMoment[base + j].squareRoot() / correction2 + eps))
            p[j] = min(max(p[j], -5), 5)
        }
    }

    /// The share of layers computed at `threshold` over the routed steps (even r, not the first step).
    public func computedShare() -> Double {
        let policy = try? LearningToCachePolicy(routers: routers, threshold: settings.threshold)
        var on = 0, all = 0
        for r in stride(from: 0, to: timesteps.count - 1, by: 2) {
            let computes = policy?.computes(respacedIndex: r) ?? []
            on += computes.filter { $0 }.count
            all += computes.count
        }
        return all == 0 ? 1 : Double(on) / Double(all)
    }

    /// `x_t = √ᾱ·x0 + √(1 − ᾱ)·noise` (q_sample), in float32 as DiT computes it.
    public static func noisy(x0: [Float], noise: [Float], alphaBar a: Double) -> [Float] {
        let s = Float(a.squareRoot()), s1 = Float((1 - a).squareRoot())
        return zip(x0, noise).map { s * $0 + s1 * $1 }
    }

    /// DiT's `ddim_sample` with η 0 and `clip_denoised` off: x0 from eps, eps again from x0, then
    /// `x0·√ᾱ_prev + √(1 − ᾱ_prev)·eps` (coefficients rounded to float32, as `_extract_into_tensor`).
    public static func ddimStep(_ x: [Float], output: [Float], batch: Int, config c: DiTConfig, alphaBar a: Double,
                         alphaBarPrev aPrev: Double) -> [Float] {
        let recip = Float((1 / a).squareRoot()), recipm1 = Float((1 / a - 1).squareRoot())
        let sPrev = Float(aPrev.squareRoot()), s1Prev = Float((1 - aPrev).squareRoot())
        let plane = c.inChannels * c.inputSize * c.inputSize, outPlane = c.outChannels * c.inputSize * c.inputSize
        var next = [Float](repeating: 0, count: x.count)
        for b in 0..<batch {
            for i in 0..<plane {
                let xi = x[b * plane + i], eps = output[b * outPlane + i]
                let x0 = recip * xi - recipm1 * eps
                let e = (recip * xi - x0) / recipm1
                next[b * plane + i] = x0 * sPrev + s1Prev * e
            }
        }
        return next
    }
}

/// An L2C training run's state in one safetensors file (atomic): the logits, AdamW's moments,
/// and in the metadata the step, the optimiser's step, the generator and the data position.
/// Restoring it into a trainer built from the same spec continues the run bit-identically.
extension L2CTrainer {
    public static let checkpointFormat = "dydit.swift/l2c-train-1"

    public func save(to path: String, spec: String, extra: [String: String] = [:]) throws {
        let name = LearningToCacheRouters.tensorName, shape = logits.entry(name).shape
        let tensors: [(name: String, tensor: Tensor)] = [
            (name, Tensor(logits[name], shape: shape)),
            ("adam.m", Tensor(firstMoment, shape: shape)),
            ("adam.v", Tensor(secondMoment, shape: shape)),
            ("adam.row_steps", Tensor(rowSteps.map { Int64($0) }, shape: [rowSteps.count])),
        ]
        let metadata = extra.merging([
            "format": Self.checkpointFormat, "config": model.config.json.serialized(), "step": "\(step)",
 "rng": rng.savedState.map { String($0, radix: 16) }.joined(separator: ","),
            "epoch": "\(loader.epoch)", "batch_in_epoch": "\(loader.batchInEpoch)", "spec": spec,
            "timesteps": JSONValue.array(timesteps.map { .double($0) }).serialized(),
        ]) { _, own in own }
        try SafeTensorsWriter.write(tensors, metadata: metadata, to: path)
    }

    /// Loads a checkpoint `save` wrote for the same spec; returns its metadata. `refusal` is
    /// the caller's rule for "the same" (the playground ignores prose and the step count): given
    /// the spec stored in the checkpoint, nil when it is the same, else why not (the message).
    @discardableResult
    public func restore(from path: String, refusal: (String) -> String?) throws -> [String: String] {
        let file = try SafeTensorsFile(path: path)
        func fail(_ message: String) -> TrainingError { .checkpoint(path: path, message) }
        guard file.metadata["format"] == Self.checkpointFormat else {
            throw fail("is not an L2C training checkpoint (format '\(file.metadata["format"] ?? "none")', expected '\(Self.checkpointFormat)')")
        }
        guard let stored = file.metadata["spec"] else { throw fail("has no spec in its metadata: not a checkpoint this version wrote") }
        if let why = refusal(stored) { throw fail(why) }
        func int(_ key: String) throws -> Int {
            guard let v = file.metadata[key].flatMap(Int.init) else { throw fail("metadata '\(key)' is missing or not an integer") }
            return v
        }
        let words = (file.metadata["rng"] ?? "").split(separator: ",").compactMap { UInt64($0, radix: 16) }
        guard words.count == 6 else { throw fail("metadata 'rng' does not hold the generator's 6 words") }
        let name = LearningToCacheRouters.tensorName, shape = logits.entry(name).shape
        logits[name] = try file.floats(name, shape: shape)
        firstMoment = try file.floats("adam.m", shape: shape)
        secondMoment = try file.floats("adam.v", shape: shape)
        rowSteps = try file.tensor("adam.row_steps", shape: [rowSteps.count]).integers().map { Int($0) }
        step = try int("step")
        rng = RandomGenerator(savedState: words)
        loader.seek(epoch: try int("epoch"), batch: try int("batch_in_epoch"))
        return file.metadata
    }
}
