import DyDiTDiffusion
import DyDiTIO
import DyDiTModels

/// What one optimiser step did.
public struct StepRecord: Sendable {
    public var step: Int
    public var loss: Double
    public var mse: Double
    public var vb: Double
    public var completeLoss: Double?
    public var flopsRatio: Double?
    /// The FLOPs ratio with sampling's router decisions (no Gumbel noise) on the same batch.
    public var decidedFlopsRatio: Double?
    public var flopsLoss: Double?
    public var lambda: Double?
    public var learningRate: Double
    public var gradientNorm: Double

    public init(step: Int, loss: Double, mse: Double, vb: Double, completeLoss: Double?, flopsRatio: Double?, flopsLoss: Double?,
                lambda: Double?, learningRate: Double, gradientNorm: Double, decidedFlopsRatio: Double? = nil) {
        self.step = step
        self.loss = loss
        self.mse = mse
        self.vb = vb
        self.completeLoss = completeLoss
        self.flopsRatio = flopsRatio
        self.decidedFlopsRatio = decidedFlopsRatio
        self.flopsLoss = flopsLoss
        self.lambda = lambda
        self.learningRate = learningRate
        self.gradientNorm = gradientNorm
    }
}

/// The training loop's state and one step of it: batch → timesteps → label dropout → noise
/// → (router noise) → losses and gradients → clip → AdamW → EMA. Everything random comes
/// from one generator, drawn in that order, so a run is a function of its seed and a
/// checkpoint (weights, EMA, moments, step, generator, data position) resumes it exactly.
public final class Trainer {
    public let model: TrainableDiT
    public let ema: ParameterSet
    public let optimizer: AdamW
    public let settings: TrainingSettings
    public var loader: BatchLoader
    public var rng: RandomGenerator
    public internal(set) var step = 0
    let objective: TrainingObjective
    let schedule: LearningRateSchedule
    let dropout: LabelDropout

    public init(model: TrainableDiT, loader: BatchLoader, settings: TrainingSettings) throws {
        let c = model.config
        if settings.dydit != nil && model.routerFormat == nil {
            throw TrainingError.data("DyDiT fine-tuning needs a model with routers")
        }
        self.model = model
        self.loader = loader
        self.settings = settings
        ema = model.parameters.zerosLike()
        ema.copy(from: model.parameters)
        let d = settings.dydit
        optimizer = AdamW(like: model.parameters, settings: settings.adam, scale: d.map { d in { e in
            RouterParameters.isWidthRouterTensor(e.name) ? d.widthRouterLRScale
                : RouterParameters.isTokenRouterTensor(e.name) ? d.tokenRouterLRScale : 1
        } })
        rng = RandomGenerator(seed: settings.seed)
        objective = TrainingObjective(loss: try HybridLoss(learnSigma: c.learnSigma),
                                      flopsWeight: settings.dydit?.flopsWeight ?? 2)
        schedule = LearningRateSchedule(peak: settings.adam.learningRate, warmupSteps: settings.warmupSteps,
                                        decay: settings.lrDecay, floor: settings.lrFloor, totalSteps: settings.steps)
        dropout = LabelDropout(probability: model.hasNullClass ? settings.labelDropout : 0, nullClass: c.numClasses)
        model.products = settings.products
        if let exit = settings.earlyExit {
            if settings.dydit != nil { throw TrainingError.data("early exit trains a dense DiT; DyDiT fine-tuning with it is not implemented") }
            if let problem = exit.problem(depth: c.depth, trainSteps: objective.loss.diffusion.betas.count) {
                throw TrainingError.data("early_exit: \(problem)")
            }
        }
        if let d = settings.dydit {
            model.temperature = Float(d.temperature)
            model.learnsWidth = d.width != .off
            model.tokenLearning = d.tokens
            if d.width == .off && d.tokens == .off {
                throw TrainingError.data("DyDiT fine-tuning with width and token routing both off has nothing to learn")
            }
            if d.width == .static, let frozen = model.parameters.entries.first(where: { RouterParameters.isWidthRouterTensor($0.name) && $0.name.hasSuffix(".weight") && $0.trainable }) {
                throw TrainingError.data("a static width needs the width routers' weights frozen at zero ('\(frozen.name)' is trainable): build the model with TrainableDiT(…, frozen: RouterParameters.widthRouterWeightNames(config))")
            }
        }
    }

    /// One optimiser step. Throws, before touching the weights, when the loss is not finite.
    public func trainStep() throws -> StepRecord {
        let c = model.config
        let b = settings.batch
        let batch = loader.next(&rng)
        let t: [Int]
        if let exit = settings.earlyExit {
            // One interval per batch (a batch runs one depth): a uniform timestep picks it, so
            // each interval trains in proportion to its share of [0, T).
            let steps = objective.loss.diffusion.betas.count
            let interval = exit.interval(of: Double(rng.below(steps)))
            let range = exit.timesteps(of: interval, trainSteps: steps)
            t = (0..<b).map { _ in range.lowerBound + rng.below(range.count) }
            model.activeBlocks = exit.depths[interval]
        } else {
            t = settings.timesteps.draw(batch: b, steps: objective.loss.diffusion.betas.count, &rng)
        }
        let y = dropout.apply(batch.y, &rng)
        let noise = rng.normals(b * c.imageSize)
        var lambda: Double? = nil
        var routerNoise: RouterNoise? = nil
        var complete = false
        // Router noise is drawn inside the forward pass, call by call, from the same generator.
        var local = rng
        if let d = settings.dydit {
            lambda = d.lambda.lambda(at: step)
            complete = step < d.completeModelSteps
            routerNoise = { _, out in
                for i in out.indices { out[i] = local.logistic() }
            }
        }
        model.gradients.zero()
        let losses = objective.accumulate(model: model, x0: batch.x0, t: t, noise: noise, y: y, routerNoise: routerNoise,
                                          lambda: lambda, completeModel: complete)
        if settings.dydit != nil { rng = local }
        guard losses.total.isFinite else {
            throw TrainingError.diverged(step: step, "the loss is \(losses.total); the weights are left as they were before this step (lower the learning rate or set grad_clip)")
        }
        let norm = GradientClipping.clip(model.gradients, maxNorm: settings.gradientClip, ctx: model.ctx)
        guard norm.isFinite else {
            throw TrainingError.diverged(step: step, "the gradient norm is \(norm); the weights are left as they were before this step")
        }
        let lr = schedule.rate(at: step)
        optimizer.update(model.parameters, gradients: model.gradients, learningRate: lr, ctx: model.ctx)
        EMA.update(ema, from: model.parameters, decay: settings.emaDecay, ctx: model.ctx)
        let record = StepRecord(step: step + 1, loss: losses.total, mse: mean(losses.mse), vb: mean(losses.vb),
                                completeLoss: losses.complete, flopsRatio: losses.flopsRatio, flopsLoss: losses.flops,
                                lambda: lambda, learningRate: lr, gradientNorm: norm,
                                decidedFlopsRatio: losses.decidedFlopsRatio)
        step += 1
        return record
    }

    func mean(_ v: [Double]) -> Double { v.isEmpty ? 0 : v.reduce(0, +) / Double(v.count) }
}
