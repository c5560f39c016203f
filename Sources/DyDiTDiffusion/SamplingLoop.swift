import DyDiTIO
import DyDiTKernels
import DyDiTModels
import Foundation

/// Classifier-free guidance inside the sampling loop: cond and uncond halves in one forward.
public struct Guidance: Sendable {
    public var scale: Float
    public var channels: GuidanceChannels
    /// Guidance only at model timesteps inside this range (both ends included); elsewhere the
    /// conditional prediction alone, and no unconditional forward (Kynkäänniemi et al. 2024,
    /// "Applying guidance in a limited interval improves sample and distribution quality in
    /// diffusion models": harmful at high noise, unnecessary at low). nil: every step.
    public var interval: ClosedRange<Double>?
    public init(scale: Float, channels: GuidanceChannels = .dit, interval: ClosedRange<Double>? = nil) {
        self.scale = scale
        self.channels = channels
        self.interval = interval
    }

    /// What is wrong with the interval `[low, high]` (nil when it is one): both finite,
    /// 0 ≤ low ≤ high. The spec decoder and the CLI word it for their own option.
    public static func intervalProblem(low: Double, high: Double) -> String? {
        if !low.isFinite || !high.isFinite { return "low and high must be finite numbers" }
        if low < 0 { return "low is below 0" }
        if low > high { return "low is above high" }
        return nil
    }

    /// Whether the step at model timestep `t` is guided.
    public func applies(atModelTimestep t: Double) -> Bool { interval?.contains(t) ?? true }

    /// Forwards per image at each step of a schedule: 2 where guided, 1 elsewhere.
    public func forwards(modelTimesteps: [Double]) -> [Int] { modelTimesteps.map { applies(atModelTimestep: $0) ? 2 : 1 } }
}

/// Where the noise a stochastic sampler adds comes from.
public enum NoiseSource {
    /// The project's generator (`RandomGenerator`), seeded: same seed, same samples.
    case seeded(UInt64)
    /// The caller's tensors, one per noise draw of the sampler, in order (diffusers'
    /// `variance_noise`); each `[images, C, H, W]` (under guidance too: see `SamplingLoop`).
    case supplied([[Float]])
}

/// One step's report, for progress lines and logs.
public struct StepReport: Sendable {
    public let step: Int
    public let steps: Int
    public let timestep: Int
    public let seconds: Double
    /// Mean fraction of heads, MLP groups and tokens that ran (1 for the dense model).
    public let heads: Double
    public let groups: Double
    public let tokens: Double
    /// The paper's FLOPs ratio of this step's blocks (1 for the dense model).
    public let flopsRatio: Double
    /// Full-model MACs of this step per image.
    public let macs: Double

    public init(step: Int, steps: Int, timestep: Int, seconds: Double, heads: Double, groups: Double, tokens: Double,
                flopsRatio: Double, macs: Double) {
        (self.step, self.steps, self.timestep, self.seconds) = (step, steps, timestep, seconds)
        (self.heads, self.groups, self.tokens, self.flopsRatio, self.macs) = (heads, groups, tokens, flopsRatio, macs)
    }
}

/// Runs a sampler with a DiT/DyDiT: per step, one forward (cond and uncond batched under
/// guidance), the routers' decisions, and one sampler update.
///
/// Guidance has one trajectory per image. DiT's `forward_with_cfg` evaluates both halves of
/// its doubled batch at the conditional half's image, and diffusers' `DiTPipeline` re-doubles
/// the latents from the conditional half before every forward; in both, the unconditional
/// half's own state (and the noise a stochastic sampler adds to it) never reaches the
/// result. So the state here is the images alone: each step feeds `[x; x]` with labels
/// `[y; null]` to the model, mixes the two predictions, and updates `x` with the mixed one
/// (and the conditional half's variance channels). Keeping a second, unconditional trajectory
/// with noise of its own — what this loop once did — lets the halves drift apart and draws
/// noise with any stochastic sampler.
public final class SamplingLoop {
    public let model: DiT
    public let sampler: Sampler
    public var routing: Routing
    public let guidance: Guidance?
    /// A step cache (FORA, Δ-DiT, TeaCache): which steps reuse earlier work (dense, or DyDiT's
    /// fast path).
    public let caching: StepCachePolicy?
    /// ToMe's token merging in every block (the dense model).
    public let merging: TokenMerging?
    /// What the caching steps reuse (allocated on the first run that needs them).
    private var blockCache: BlockCache?
    private var residualCache: ResidualCache?
    private var session: StepCacheSession?
    /// Bytes the step cache holds (0 without one): the method's extra memory.
    public var cacheBytes: Int { (blockCache?.byteCount ?? 0) + (residualCache?.byteCount ?? 0) + (session?.bytes ?? 0) }
    /// After `run`: distinct width patterns of the schedule and bytes of sliced weights built
    /// for them before the first step (nil without width routers or on the masked path).
    public private(set) var preparedSlices: (patterns: Int, cachedBytes: Int)?
    /// Seconds the last `run` spent building sliced weights before its first step (0 when
    /// they were already cached): a once-per-schedule cost, kept out of per-step times.
    public private(set) var preparationSeconds = 0.0
    /// Called after each step's forward with the step index and the routers' decisions for
    /// the whole forward batch (conditional rows first under guidance; the conditional rows
    /// alone at a step outside `Guidance.interval`): for pictures of
    /// which heads, groups and tokens ran when. Not called for the dense model.
    public var onRouting: ((_ step: Int, _ record: RoutingRecord) -> Void)?
    /// Called after each step's forward with the model's raw output `[rows, outC, H, W]`
    /// (before guidance mixes it) and the rows: TeaCache's calibration reads it.
    public var onModelOutput: ((_ step: Int, _ output: UnsafeBufferPointer<Float>, _ rows: Int) -> Void)?

    public init(model: DiT, sampler: Sampler, routing: Routing = Routing(), guidance: Guidance? = nil,
                caching: StepCachePolicy? = nil, merging: TokenMerging? = nil) {
        self.model = model
        self.sampler = sampler
        self.routing = routing
        self.guidance = guidance
        self.caching = caching
        self.merging = merging
    }

    /// Rows of each forward: the images, twice under guidance (conditional, unconditional).
    public func forwardBatch(images: Int) -> Int { guidance == nil ? images : 2 * images }

    /// Checks everything a run needs before any work: labels, the noise tensors' count and
    /// shapes, the sampler's variance needs.
    public func validate(images: Int, labels: [Int], noise: NoiseSource) throws {
        let c = model.config
        guard images >= 1 else { throw SamplerError("sampling needs at least one image") }
        guard labels.count == images else { throw SamplerError("\(labels.count) class labels for \(images) images") }
        let maxLabel = model.hasNullClass ? c.numClasses : c.numClasses - 1
        if let bad = labels.first(where: { $0 < 0 || $0 > maxLabel }) {
            throw SamplerError("class \(bad) is outside 0...\(maxLabel)")
        }
        if guidance != nil && !model.hasNullClass {
            throw SamplerError("guidance needs the unconditional class, and this model's label table has none (trained without label dropout)")
        }
        if let caching {
            if caching.denseOnly && (!routing.isDense || merging != nil) {
                throw SamplerError("\(caching.name) runs on the dense model; with \(routing.isDense ? "token merging" : "routers") it is not implemented")
            }
            if !routing.isDense && !routing.fast {
                throw SamplerError("\(caching.name) with routers runs on DyDiT's fast path, not on the masked reference path")
            }
            _ = try caching.session(timesteps: sampler.modelTimesteps, depth: c.depth)
        }
        if let merging {
            if !routing.isDense { throw SamplerError("token merging runs on the dense model; with routers it is not implemented") }
            if let problem = merging.problem(for: c) { throw SamplerError("token merging: \(problem)") }
        }
        if let option = sampler.learnedVarianceOption, !c.learnSigma {
            throw SamplerError("\(option) reads the model's variance channels, but this model does not learn sigma")
        }
        if case let .supplied(tensors) = noise {
            let size = images * c.imageSize
            guard tensors.count == sampler.noiseDraws else {
                throw SamplerError("\(tensors.count) noise tensors supplied; \(sampler.name) with \(sampler.steps) steps draws \(sampler.noiseDraws)")
            }
            if let bad = tensors.firstIndex(where: { $0.count != size }) {
                throw SamplerError("noise tensor \(bad) holds \(tensors[bad].count) values, expected \(size) ([\(images), \(c.inChannels), \(c.inputSize), \(c.inputSize)])")
            }
        }
    }

    /// Samples from `xT [images, C, H, W]` with class `labels`. Returns the final sample
    /// `[images, C, H, W]`. `observer` sees the state `[images, C, H, W]` after each step.
    public func run(xT: [Float], labels: [Int], noise: NoiseSource,
                    progress: ((StepReport) -> Void)? = nil, observer: (([Double]) -> Void)? = nil) throws -> [Float] {
        let c = model.config
        let images = labels.count
        try validate(images: images, labels: labels, noise: noise)
        guard xT.count == images * c.imageSize else {
            throw SamplerError("xT holds \(xT.count) values, expected \(images * c.imageSize)")
        }
        let rows = forwardBatch(images: images)
        let plane = c.inputSize * c.inputSize
        let channels = c.inChannels, outChannels = c.outChannels
        let initScale = sampler.initNoiseSigma
        var x = xT.map { Double($0) * initScale }
        let stateSize = x.count
        let y = guidance == nil ? labels : labels + [Int](repeating: c.numClasses, count: images)
        var rng: RandomGenerator?
        var supplied: [[Float]] = []
        switch noise {
        case let .seeded(seed): rng = RandomGenerator(seed: seed)
        case let .supplied(t): supplied = t
        }
        var draws = 0
        sampler.reset()
        preparationSeconds = 0
        if routing.fast, let width = routing.width {
            let elapsed = ContinuousClock().measure {
                preparedSlices = model.prepareSlices(router: width, timesteps: sampler.modelTimesteps)
            }
            preparationSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        }
        model.reserve(batch: rows)
        session = try caching?.session(timesteps: sampler.modelTimesteps, depth: c.depth)
        blockCache?.invalidate()
        residualCache?.invalidate()
        let widthOutputs = routing.width?.routerOutputs ?? c.numHeads
        let record = RoutingRecord(batch: rows, config: c, routerOutputs: widthOutputs)
        // Steps outside a guidance interval run the conditional rows alone — unless a step
        // cache or token merging keeps per-row state across steps: then the whole batch runs
        // and only the mixing is left out.
        let halvable = guidance?.interval != nil && caching == nil && merging == nil
        let condRecord = halvable && !routing.isDense ? RoutingRecord(batch: images, config: c, routerOutputs: widthOutputs) : nil
        let clock = ContinuousClock()
        var input = [Float](repeating: 0, count: rows * c.imageSize)
        var out = [Float](repeating: 0, count: rows * outChannels * plane)
        var eps = [Double](repeating: 0, count: x.count)
        var v: [Double]? = outChannels > channels ? [Double](repeating: 0, count: x.count) : nil
        let modelTimesteps = sampler.modelTimesteps
        for k in 0..<sampler.steps {
            let start = clock.now
            let t = sampler.timesteps[k]
            let guided = guidance?.applies(atModelTimestep: modelTimesteps[k]) ?? false
            let stepRows = guided || !halvable ? rows : images
            let stepRecord = stepRows == rows ? record : condRecord ?? record
            // Under guidance both halves see the conditional image (one trajectory per image).
            // diffusers' scale_model_input (1 but for the σ-space samplers: x·1 is exact).
            let scale = sampler.modelInputScale(atStep: k)
            for i in 0..<stateSize { input[i] = Float(x[i] * scale) }
            if stepRows > images { for i in 0..<stateSize { input[stateSize + i] = input[i] } }
            let tt = [Float](repeating: Float(modelTimesteps[k]), count: stepRows)
            let yStep = stepRows == rows ? y : labels
            let (branches, residual) = cachingArguments(session?.plan(step: k) ?? .compute, config: c)
            input.withUnsafeBufferPointer { xp in
                out.withUnsafeMutableBufferPointer { op in
                    model.forward(x: xp.baseAddress!, t: tt, y: yStep, out: op.baseAddress!, routing: routing,
                                  record: routing.isDense ? nil : stepRecord, caching: branches, residual: residual, merging: merging)
                }
            }
            let skipped = branches?.mode == .reuse ? 0..<c.depth
                : residual.map { $0.cache.lastPassReused ? $0.blocks : 0..<0 } ?? 0..<0
            if let onModelOutput { out.withUnsafeBufferPointer { onModelOutput(k, $0, stepRows) } }
            // Skipped blocks ran no router: their decisions in the record are stale.
            if !routing.isDense && skipped.isEmpty { onRouting?(k, stepRecord) }
            if let guidance, guided {
                DiT.guide(&out, batch: rows, channels: guidance.channels.count(c), config: c, scale: guidance.scale)
            }
            // The first `images` rows: the guided prediction, and the conditional variance.
            for b in 0..<images {
                let src = b * outChannels * plane, dst = b * channels * plane
                for i in 0..<(channels * plane) { eps[dst + i] = Double(out[src + i]) }
                if v != nil { for i in 0..<(channels * plane) { v![dst + i] = Double(out[src + channels * plane + i]) } }
            }
            var z: [Float]?
            if sampler.drawsNoise(atStep: k) {
                if var g = rng {
                    z = g.normals(x.count)
                    rng = g
                } else {
                    z = supplied[draws]
                }
                draws += 1
            }
            sampler.step(k, eps: eps, v: v, x: &x, noise: z)
            observer?(x)
            let elapsed = clock.now - start
            if let progress {
                progress(Self.report(step: k, steps: sampler.steps, timestep: t, elapsed: elapsed, config: c,
                                     record: routing.isDense ? nil : stepRecord, routing: routing, skipped: skipped, merging: merging,
                                     computedBranches: branches?.computedBranches))
            }
        }
        return x.map { Float($0) }
    }

    /// The forward's arguments for a plan, the caches allocated on first use.
    private func cachingArguments(_ plan: StepCachePlan, config c: DiTConfig) -> (BlockCaching?, ResidualCaching?) {
        func branches(_ mode: BlockCaching.Mode) -> BlockCaching {
            if blockCache == nil { blockCache = BlockCache(config: c) }
            return BlockCaching(cache: blockCache!, mode: mode)
        }
        func residual(_ blocks: Range<Int>, _ mode: ResidualCaching.Mode) -> ResidualCaching {
            if residualCache == nil { residualCache = ResidualCache(config: c) }
            return ResidualCaching(cache: residualCache!, blocks: blocks, mode: mode)
        }
        switch plan {
        case .compute: return (nil, nil)
        case .fillBranches: return (branches(.compute), nil)
        case .reuseBranches: return (branches(.reuse), nil)
        case let .selectBranches(computes): return (branches(.select(computes: computes)), nil)
        case let .fillResidual(blocks): return (nil, residual(blocks, .fill))
        case let .reuseResidual(blocks): return (nil, residual(blocks, .reuse))
        case let .decideResidual(blocks, decider): return (nil, residual(blocks, .decide(decider)))
        case let .skipBlocks(blocks): return (nil, residual(blocks, .skip))
        }
    }

    /// `skipped`: the blocks a step cache did not run (FORA's reuse step skips every block's
    /// attention and MLP; Δ-DiT and TeaCache a range): their MACs are not counted (all of them
    /// skipped: FLOPs ratio 0; the MACs left are the embeddings, adaLN and the final layer).
    /// `computedBranches`: L2C's routed step, which attention (`2l`) and MLP (`2l + 1`)
    /// branches ran (the others were reused: not counted).
    static func report(step: Int, steps: Int, timestep: Int, elapsed: Duration, config c: DiTConfig,
                       record: RoutingRecord?, routing: Routing, skipped: Range<Int> = 0..<0,
                       merging: TokenMerging? = nil, computedBranches: [Bool]? = nil) -> StepReport {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        if let computed = computedBranches {
            let dense = MACs(c), depth = Double(c.depth)
            let attention = Double((0..<c.depth).filter { computed[2 * $0] }.count) / depth
            let mlp = Double((0..<c.depth).filter { computed[2 * $0 + 1] }.count) / depth
            let blocks = attention * dense.attention + mlp * dense.mlp
            return StepReport(step: step, steps: steps, timestep: timestep, seconds: seconds, heads: attention, groups: mlp,
                              tokens: mlp, flopsRatio: blocks / dense.blocks, macs: dense.total - dense.blocks + blocks)
        }
        guard let record else {
            // Token merging runs its blocks on fewer tokens (its MACs counted as computed).
            let dense = MACs(c), ran = Double(c.depth - skipped.count) / Double(c.depth)
            let blocks = (merging?.blockMACs(c) ?? dense.blocks) * ran
            let tokens = merging.map { Double(c.tokens - $0.removed(c)) / Double(c.tokens) } ?? 1
            return StepReport(step: step, steps: steps, timestep: timestep, seconds: seconds, heads: ran, groups: ran,
                              tokens: ran * tokens, flopsRatio: blocks / dense.blocks, macs: dense.total - dense.blocks + blocks)
        }
        if skipped.count == c.depth {
            let dense = MACs(c)
            return StepReport(step: step, steps: steps, timestep: timestep, seconds: seconds, heads: 0, groups: 0,
                              tokens: 0, flopsRatio: 0, macs: dense.total - dense.blocks)
        }
        // Per (sample, block) slices of `units`; a skipped block ran none of them.
        func mean(_ v: [Float], _ units: Int) -> Double {
            var sum = 0.0
            for b in 0..<record.batch {
                for l in 0..<c.depth where !skipped.contains(l) {
                    let start = (b * c.depth + l) * units
                    for i in start..<(start + units) { sum += Double(v[i]) }
                }
            }
            return sum / Double(max(1, record.batch * c.depth * units))
        }
        let dynamic = DynamicMACs(config: c, record: record, widthRouted: routing.width?.routerOutputs != nil,
                                  tokenRouted: routing.token?.runsRouterNetwork ?? false, skipped: skipped)
        return StepReport(step: step, steps: steps, timestep: timestep, seconds: seconds,
                          heads: mean(record.attnMasks, c.numHeads), groups: mean(record.mlpMasks, c.numHeads),
                          tokens: routing.token == nil ? Double(c.depth - skipped.count) / Double(c.depth) : mean(record.tokenMasks, c.tokens),
                          flopsRatio: dynamic.ratio, macs: dynamic.total)
    }
}
