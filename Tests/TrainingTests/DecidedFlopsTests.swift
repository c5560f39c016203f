import DyDiTIO
import DyDiTKernels
import Foundation
import DyDiTModels
import DyDiTTraining
import XCTest

/// `decidedFlopsRatio`: the FLOPs a training batch would cost with sampling's router decisions
/// (a unit on when sigmoid(logit) > 0.5), beside `flopsRatio`, which counts the Gumbel-noisy
/// decisions the loss sees. Found on the router ablation's static-width row: its biases ended
/// at 0–3, training logged FLOPs 0.50 and the model evaluated at 0.53 (an undecided unit is on
/// with probability sigmoid(z) in training, always at sampling).
final class DecidedFlopsTests: XCTestCase {
    let config = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 4, hiddenSize: 64, depth: 2, numHeads: 4, numClasses: 10)

    /// `[B, depth, NH]` head/group masks and `[B, depth, N]` token masks → the FLOPs ratio by
    /// METHOD §5, written out here apart from the model's own accounting.
    func ratio(_ masks: (attention: [Float], mlp: [Float], token: [Float]), batch: Int) -> Double {
        let c = config, nh = c.numHeads, n = c.tokens
        let attn = MACs.attentionPerBlock(c), mlp = MACs.mlpPerBlock(c)
        var total = 0.0
        for b in 0..<batch {
            for l in 0..<c.depth {
                let row = (b * c.depth + l)
                let a = masks.attention[row * nh..<(row + 1) * nh].reduce(0, +) / Float(nh)
                let g = masks.mlp[row * nh..<(row + 1) * nh].reduce(0, +) / Float(nh)
                let k = masks.token[row * n..<(row + 1) * n].reduce(0, +) / Float(n)
                total += Double(a) * attn + Double(g) * Double(k) * mlp
            }
        }
        return total / Double(batch * c.depth) / (attn + mlp)
    }

    /// Without noise the training decisions are sampling's: both ratios agree with the masks
    /// the inference model records on the same input, for every way a fine-tune routes. With
    /// noise the noisy ratio moves; the decided one does not where the routers' inputs do not
    /// depend on the noise (the width routers read only the timestep).
    func testDecidedRatioIsSamplingsRatio() throws {
        let c = config
        let params = DiTParameters.initialized(c, seed: 3, .random)
        let routers = RouterParameters.mixed(c, seed: 21)
        let ctx = try ComputeContext(threads: 1)
        let trainable = try TrainableDiT(params, routers: routers, ctx: ctx)
        let model = DiT(params, ctx: ctx)
        var rng = RandomGenerator(seed: 5)
        let batch = 4
        let x = rng.normals(batch * c.imageSize)
        let t = (0..<batch).map { _ in Float(rng.below(1000)) }
        let y = (0..<batch).map { _ in rng.below(c.numClasses) }
        let sdt = LearnedTokenRouter(routers)
        let modes: [(String, Bool, TokenLearning, WidthRouter?, TokenRouter?)] = [
            ("tdw+sdt", true, .dynamic, LearnedWidthRouter(routers, isa: ctx.isa), sdt),
            ("tdw only", true, .off, LearnedWidthRouter(routers, isa: ctx.isa), nil),
            ("sdt only", false, .dynamic, nil, sdt),
            ("tdw+layer-skip", true, .layer(threshold: 0.5), LearnedWidthRouter(routers, isa: ctx.isa), try LayerSkipRouter(inner: sdt, threshold: 0.5)),
        ]
        var moved = 0
        for (mode, learnsWidth, tokens, width, token) in modes {
            trainable.learnsWidth = learnsWidth
            trainable.tokenLearning = tokens
            _ = trainable.forward(x: x, t: t, y: y, routerNoise: { _, noise in noise.update(repeating: 0) })
            let record = RoutingRecord(batch: batch, config: c, routerOutputs: c.numHeads - 1)
            _ = try model.forward(x: x, t: t, y: y, routing: Routing(width: width, token: token, fast: false), record: record)
            let sampling = ratio((record.attnMasks, record.mlpMasks, record.tokenMasks), batch: batch)
            XCTAssertLessThan(sampling, 1, "\(mode): the routers switch something off")
            XCTAssertEqual(trainable.decidedFlopsRatio(), sampling, accuracy: 1e-12, mode)
            XCTAssertEqual(trainable.flopsRatio(), sampling, accuracy: 1e-12, mode)

            var noiseRNG = RandomGenerator(seed: 9)
            _ = trainable.forward(x: x, t: t, y: y, routerNoise: { _, noise in
                for i in noise.indices { noise[i] = 3 * noiseRNG.normal() }
            })
            if trainable.flopsRatio() != sampling { moved += 1 }
            if tokens == .off {
                XCTAssertEqual(trainable.decidedFlopsRatio(), sampling, accuracy: 1e-12, "\(mode): noise does not move sampling's decisions")
            }
        }
        XCTAssertGreaterThan(moved, 0, "the noise never changed a noisy decision: the comparison says nothing")
        // The complete model (no router noise) costs the whole model either way.
        _ = trainable.forward(x: x, t: t, y: y)
        XCTAssertEqual(trainable.decidedFlopsRatio(), 1)
    }

    /// An undecided static width (every width logit a small positive bias): sampling keeps every
    /// unit, training keeps each with probability sigmoid(bias) — the gap the decided ratio shows.
    func testUndecidedStaticWidthTrainsThinnerThanItSamples() throws {
        let c = config
        var routers = RouterParameters.initialized(c, seed: 1).withStaticWidth()
        for name in routers.tensors.keys where name.contains("_rate.") && name.hasSuffix(".bias") {
            routers.tensors[name] = routers.tensors[name]!.map { _ in 0.5 }
        }
        let ctx = try ComputeContext(threads: 1)
        let trainable = try TrainableDiT(DiTParameters.initialized(c, seed: 2, .random), routers: routers, ctx: ctx)
        trainable.tokenLearning = .off
        var rng = RandomGenerator(seed: 4)
        let batch = 8
        let x = rng.normals(batch * c.imageSize)
        let t = (0..<batch).map { _ in Float(rng.below(1000)) }
        let y = (0..<batch).map { _ in rng.below(c.numClasses) }
        var noisy = 0.0
        let draws = 40
        for _ in 0..<draws {
            _ = trainable.forward(x: x, t: t, y: y, routerNoise: { _, noise in
                // Logistic noise, as the trainer draws it.
                for i in noise.indices {
                    let u = max(Float(rng.uniform()), 1e-7)
                    noise[i] = logf(u) - logf(1 - u)
                }
            })
            XCTAssertEqual(trainable.decidedFlopsRatio(), 1, accuracy: 1e-12, "every bias is positive: sampling keeps every unit")
            noisy += trainable.flopsRatio() / Double(draws)
        }
        // Routed units are on with probability sigmoid(0.5) ≈ 0.62; the forced first unit always.
        XCTAssertLessThan(noisy, 0.9, "training's noisy width")
        XCTAssertGreaterThan(noisy, 0.5)
    }
}
