import DyDiTKernels
import Foundation

/// AdamW as PyTorch computes it (`torch.optim.AdamW`, single-tensor path): decoupled weight
/// decay first, then the moment updates and the bias-corrected step, in float32 with the
/// bias corrections in Double. The moments share the parameters' layout.
public final class AdamW {
    public struct Settings: Sendable, Equatable {
        public var learningRate: Double = 1e-4
        public var beta1: Double = 0.9
        public var beta2: Double = 0.999
        public var epsilon: Double = 1e-8
        public var weightDecay: Double = 0
        public init() {}
    }

    public var settings: Settings
    public let firstMoment: ParameterSet
    public let secondMoment: ParameterSet
    /// Optimiser steps taken (PyTorch's `state['step']`).
    public var step = 0

    /// The learning-rate factor of each trainable chunk (`ParameterSet.trainableChunks`):
    /// 1 but where `scale` says otherwise for the chunk's tensor (DyDiT's routers, say).
    public let chunkScales: [Double]

    /// `scale` gives a tensor's learning-rate factor (default 1 for all): its step and its
    /// weight decay use `lr·scale`, as a PyTorch parameter group with its own lr would.
    public init(like parameters: ParameterSet, settings: Settings, scale: ((ParameterSet.Entry) -> Double)? = nil) {
        self.settings = settings
        firstMoment = parameters.zerosLike()
        secondMoment = parameters.zerosLike()
        let trainable = parameters.entries.filter(\.trainable)
        chunkScales = parameters.trainableChunks.map { chunk in
            guard let scale, let e = trainable.first(where: { $0.offset <= chunk.lowerBound && chunk.lowerBound < $0.offset + $0.count }) else { return 1 }
            return scale(e)
        }
    }

    /// One update of every trainable tensor of `parameters` from `gradients`, at `learningRate`
    /// (the schedule's value for this step), on `ctx`'s threads (element-wise: the result does
    /// not depend on the thread count).
    public func update(_ parameters: ParameterSet, gradients: ParameterSet, learningRate lr: Double,
                       ctx: ComputeContext? = nil) {
        step += 1
        let s = settings
        // 1 − β in Double before rounding, as PyTorch passes `1 - beta` (a Python float) to
        // lerp_ and addcmul_: 1 − Float(0.999) is 9.99987e-4, which made v 1.3e-5 too small.
        func constants(_ lr: Double) -> Constants {
            Constants(decay: Float(1 - lr * s.weightDecay), b2: Float(s.beta2),
                      oneMinusB1: Float(1 - s.beta1), oneMinusB2: Float(1 - s.beta2),
                      stepSize: Float(lr / (1 - pow(s.beta1, Double(step)))),
                      correction2: Float((1 - pow(s.beta2, Double(step))).squareRoot()), eps: Float(s.epsilon))
        }
        let k = constants(lr)
        let scaled = Dictionary(Set(chunkScales).filter { $0 != 1 }.map { ($0, constants(lr * $0)) }, uniquingKeysWith: { a, _ in a })
        let scales = chunkScales
        let p = parameters.pointer, g = gradients.pointer, m = firstMoment.pointer, v = secondMoment.pointer
        parameters.forEachTrainableChunk(ctx: ctx) { index, range in
            Self.update(p + range.lowerBound, g + range.lowerBound, m + range.lowerBound, v + range.lowerBound,
                        count: range.count, scales[index] == 1 ? k : scaled[scales[index]]!)
        }
    }

    struct Constants {
        let decay, b2, oneMinusB1, oneMinusB2, stepSize, correction2, eps: Float
    }

    /// The update of `count` consecutive elements, sixteen lanes at a time: the same float32
    /// operations in the same order as the scalar tail, so lanes and tail round alike.
    @inline(__always)
    static func update(_ p: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                       _ v: UnsafeMutablePointer<Float>, count: Int, _ k: Constants) {
        typealias V = SIMD16<Float>
        var i = 0
        while i + 16 <= count {
            let raw = { (q: UnsafeMutablePointer<Float>) in UnsafeMutableRawPointer(q + i) }
            let gv = raw(g).loadUnaligned(as: V.self)
            var pv = raw(p).loadUnaligned(as: V.self) * k.decay
            // lerp(m, g, 1 − β1) as PyTorch writes it: m + (1 − β1)·(g − m).
            let mv = raw(m).loadUnaligned(as: V.self) + k.oneMinusB1 * (gv - raw(m).loadUnaligned(as: V.self))
            let vv = raw(v).loadUnaligned(as: V.self) * k.b2 + k.oneMinusB2 * gv * gv
            pv -= k.stepSize * (mv / (vv.squareRoot() / k.correction2 + k.eps))
            raw(p).storeBytes(of: pv, as: V.self)
            raw(m).storeBytes(of: mv, as: V.self)
            raw(v).storeBytes(of: vv, as: V.self)
            i += 16
        }
        while i < count {
            p[i] *= k.decay
            m[i] += k.oneMinusB1 * (g[i] - m[i])
            v[i] = v[i] * k.b2 + k.oneMinusB2 * g[i] * g[i]
            p[i] -= k.stepSize * (m[i] / (v[i].squareRoot() / k.correction2 + k.eps))
            i += 1
        }
    }
}

extension ParameterSet {
    /// Runs `body` on every trainable chunk (its index and range), on `ctx`'s threads when given.
    func forEachTrainableChunk(ctx: ComputeContext?, _ body: (_ index: Int, _ range: Range<Int>) -> Void) {
        let chunks = trainableChunks
        guard let ctx, ctx.threadCount > 1 else {
            for (i, c) in chunks.enumerated() { body(i, c) }
            return
        }
        ctx.pool.run(tasks: chunks.count) { task, _ in body(task, chunks[task]) }
    }
}
