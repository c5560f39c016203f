/// The losses of one training step.
public struct TrainingLosses: Sendable {
    /// Mean hybrid loss of the (dynamic, for DyDiT) model, and its per-sample parts.
    public var diffusion: Double
    public var perSample: [Double]
    public var mse: [Double]
    public var vb: [Double]
    /// DyDiT: the complete model's mean hybrid loss (when that term is on).
    public var complete: Double?
    /// DyDiT: the FLOPs ratio of the dynamic pass, and `w·(ratio − λ)²` (when a target is set).
    public var flopsRatio: Double?
    public var flops: Double?
    /// DyDiT: the FLOPs ratio of the dynamic pass with sampling's decisions (no Gumbel noise;
    /// `TrainableDiT.decidedFlopsRatio`).
    public var decidedFlopsRatio: Double?
    /// DyDiT: the dynamic pass's hard masks (`attention`, `mlp` `[B, depth, NH]`, `token`
    /// `[B, depth, N]`), when asked for.
    public var masks: (attention: [Float], mlp: [Float], token: [Float])?

    public var total: Double { diffusion + (complete ?? 0) + (flops ?? 0) }
}

/// DiT's training objective, and DyDiT's fine-tuning objective on top of it:
/// `loss = hybrid(dynamic pass) + hybrid(complete model) + w·(ratio − λ)²`.
public struct TrainingObjective: Sendable {
    public let loss: HybridLoss
    /// `w` of the FLOPs loss (2 in the official code).
    public var flopsWeight: Double = 2

    public init(loss: HybridLoss, flopsWeight: Double = 2) {
        self.loss = loss
        self.flopsWeight = flopsWeight
    }

    /// Evaluates the losses at `x0`, `t`, `noise`, `y` and adds their gradients to
    /// `model.gradients` (the caller zeroes them between optimiser steps).
    /// - Parameters:
    ///   - routerNoise: the routers' logistic noise; nil trains the model as a plain DiT
    ///     (a DyDiT's routers are then not used).
    ///   - lambda: the FLOPs target λ; nil leaves the FLOPs loss out.
    ///   - completeModel: adds the complete-model loss (DyDiT only).
    ///   - keepMasks: returns the dynamic pass's masks in the result.
    public func accumulate(model: TrainableDiT, x0: [Float], t: [Int], noise: [Float], y: [Int],
                           routerNoise: RouterNoise? = nil, lambda: Double? = nil, completeModel: Bool = false,
                           keepMasks: Bool = false) -> TrainingLosses {
        let c = model.config
        let xt = loss.noisy(x0: x0, t: t, noise: noise)
        let tf = t.map { Float($0) }
        let dynamic = routerNoise != nil && model.routerFormat != nil
        let out = model.forward(x: xt, t: tf, y: y, routerNoise: dynamic ? routerNoise : nil)
        let main = loss.evaluate(output: out, x0: x0, xt: xt, t: t, noise: noise, channels: c.inChannels)
        var result = TrainingLosses(diffusion: main.loss, perSample: main.perSample, mse: main.mse, vb: main.vb)
        var dRatio = 0.0
        if dynamic {
            let ratio = model.flopsRatio()
            result.flopsRatio = ratio
            result.decidedFlopsRatio = model.decidedFlopsRatio()
            if keepMasks { result.masks = model.lastMasks() }
            if let lambda {
                result.flops = flopsWeight * (ratio - lambda) * (ratio - lambda)
                dRatio = 2 * flopsWeight * (ratio - lambda)
            }
        }
        model.backward(dOutput: main.gradient, dRatio: dRatio)
        if dynamic && completeModel {
            let full = model.forward(x: xt, t: tf, y: y, routerNoise: nil)
            let second = loss.evaluate(output: full, x0: x0, xt: xt, t: t, noise: noise, channels: c.inChannels)
            result.complete = second.loss
            model.backward(dOutput: second.gradient)
        }
        return result
    }
}
