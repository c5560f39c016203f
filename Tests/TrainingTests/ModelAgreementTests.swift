import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTTraining
import ReferenceSupport
import XCTest

/// The two model definitions pinned together: `TrainableDiT` (training: its own kernels,
/// activations kept for backward, Gumbel-sigmoid routers) and `DiT` (inference: the masked
/// reference path and the fast path). With the router noise off, a training forward is what the
/// fine-tuned model will compute at sampling time — the masks must be the same and the outputs
/// agree to float rounding; without noise it is the complete (dense) model. Every routing mode
/// a fine-tune can learn (TDW+SDT, TDW only, SDT only, TDW + whole-layer skip) is checked
/// against the routers that sample with it.
final class ModelAgreementTests: XCTestCase {
    func testTrainingForwardEqualsInferenceForward() throws {
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        let configs = [
            DiTConfig(inputSize: 8, patchSize: 2, inChannels: 4, hiddenSize: 64, depth: 2, numHeads: 4, numClasses: 10),
            DiTConfig(inputSize: 12, patchSize: 3, inChannels: 1, hiddenSize: 48, depth: 3, numHeads: 3, numClasses: 5,
                      learnSigma: false, mlpRatio: 2),
            DiTConfig(inputSize: 16, patchSize: 4, inChannels: 1, hiddenSize: 96, depth: 2, numHeads: 6, numClasses: 7),
        ]
        var rng = RandomGenerator(seed: 11)
        var mixed = (heads: 0, tokens: 0, layers: 0)
        for (ci, c) in configs.enumerated() {
            let params = DiTParameters.initialized(c, seed: UInt64(ci), .random)
            let routers = RouterParameters.mixed(c, seed: UInt64(20 + ci))
            for isa in CPUFeatures.current.supported {
                coverage.ran(isa.rawValue)
                for threads in [1, 2] {
                    let ctx = try ComputeContext(threads: threads, isa: isa)
                    let trainable = try TrainableDiT(params, routers: routers, ctx: ctx)
                    let model = DiT(params, ctx: ctx)
                    let batch = 3
                    let x = rng.normals(batch * c.imageSize)
                    let t = (0..<batch).map { _ in Float(rng.below(1000)) }
                    let y = (0..<batch).map { _ in rng.below(c.numClasses + 1) }
                    let label = "config \(ci) \(isa) \(threads)t"

                    // The complete model: no router noise means no routing in training.
                    let complete = trainable.forward(x: x, t: t, y: y)
                    let dense = try model.forward(x: x, t: t, y: y)
                    assertClose(complete, dense, tolerance: 1e-5, "\(label) complete vs dense")

                    // Each way a fine-tune routes (the full method and its ablations) against the
                    // routers that sample with what it learned.
                    let sdt = LearnedTokenRouter(routers)
                    let modes: [(String, Bool, TokenLearning, WidthRouter?, TokenRouter?)] = [
                        ("tdw+sdt", true, .dynamic, LearnedWidthRouter(routers, isa: isa), sdt),
                        ("tdw only", true, .off, LearnedWidthRouter(routers, isa: isa), nil),
                        ("sdt only", false, .dynamic, nil, sdt),
                        ("tdw+layer-skip", true, .layer(threshold: 0.5), LearnedWidthRouter(routers, isa: isa),
                         try LayerSkipRouter(inner: sdt, threshold: 0.5)),
                    ]
                    for (mode, learnsWidth, tokens, width, token) in modes {
                        trainable.learnsWidth = learnsWidth
                        trainable.tokenLearning = tokens
                        // Noise 0: the Gumbel gate is sigmoid(logit / τ) > 0.5, the inference decision.
                        let dynamic = trainable.forward(x: x, t: t, y: y, routerNoise: { _, noise in
                            noise.update(repeating: 0)
                        })
                        let masks = try XCTUnwrap(trainable.lastMasks(), label)
                        for fast in [false, true] {
                            let record = RoutingRecord(batch: batch, config: c, routerOutputs: c.numHeads - 1)
                            let inference = try model.forward(x: x, t: t, y: y, routing: Routing(width: width, token: token, fast: fast),
                                                              record: record)
                            let path = "\(label) \(mode) \(fast ? "fast" : "masked")"
                            XCTAssertEqual(masks.attention, record.attnMasks, "\(path): attention-head masks")
                            XCTAssertEqual(masks.mlp, record.mlpMasks, "\(path): MLP-group masks")
                            XCTAssertEqual(masks.token, record.tokenMasks, "\(path): token masks")
                            assertClose(dynamic, inference, tolerance: 1e-5, "\(path): training vs inference")
                        }
                        // The test is only worth something if the routers switched things off.
                        if masks.attention.contains(0) || masks.mlp.contains(0) { mixed.heads += 1 }
                        if masks.token.contains(0) && masks.token.contains(1) { mixed.tokens += 1 }
                        if case .layer = tokens, masks.token.contains(0) { mixed.layers += 1 }
                    }
                }
            }
        }
        XCTAssertGreaterThan(mixed.heads, 0, "no case turned a head or MLP group off")
        XCTAssertGreaterThan(mixed.tokens, 0, "no case routed some tokens and not others")
        XCTAssertGreaterThan(mixed.layers, 0, "no case skipped a whole MLP layer")
    }
}
