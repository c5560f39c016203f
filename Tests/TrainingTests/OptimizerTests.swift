import DyDiTIO
import DyDiTKernels
import DyDiTTraining
import Foundation
import ReferenceSupport
import XCTest

/// The optimiser pieces against PyTorch's own numbers (torch 2.x, printed by:
/// `torch.manual_seed(0); p0 = torch.randn(7); grads = [torch.randn(7) for _ in range(3)];
/// AdamW([p], lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)`, three steps; and
/// `clip_grad_norm_` of two tensors to 5).
final class OptimizerTests: XCTestCase {
    static let p0: [Float] = [1.5409960746765137, -0.293428897857666, -2.1787893772125244, 0.5684312582015991, -1.0845223665237427, -1.3985954523086548, 0.40334683656692505]
    static let grads: [[Float]] = [
        [0.8380263447761536, -0.7192575931549072, -0.40334352850914, -0.5966353416442871, 0.18203648924827576, -0.8566746115684509, 1.1006041765213013],
        [-1.0711873769760132, 0.1227012425661087, -0.5663174986839294, 0.3731146454811096, -0.8919953107833862, -1.5091077089309692, 0.3703935444355011],
        [1.4565025568008423, 0.9398099184036255, 0.7748488187789917, 0.19186942279338837, 1.2637947797775269, -1.2904350757598877, -0.7911027073860168],
    ]
    static let torchAfter: [[Float]] = [
        [1.5294550657272339, -0.28313547372817993, -2.1666107177734375, 0.5778627991676331, -1.0934377908706665, -1.3871968984603882, 0.39294350147247314],
        [1.5296592712402344, -0.2774878144264221, -2.154503345489502, 0.5790200233459473, -1.0864046812057495, -1.376042127609253, 0.3838099539279938],
        [1.524379849433899, -0.27971911430358887, -2.1519715785980225, 0.5780507922172546, -1.087807059288025, -1.3647971153259277, 0.3814503252506256],
    ]

    func testAdamWMatchesPyTorch() {
        // A frozen tensor beside the trained one must stay as it is.
        let params = ParameterSet(layout: [("w", [7], true), ("frozen", [3], false)])
        let grads = params.zerosLike()
        params["w"] = Self.p0
        params["frozen"] = [1, 2, 3]
        var settings = AdamW.Settings()
        settings.learningRate = 1e-2
        settings.beta2 = 0.99
        settings.weightDecay = 0.1
        let adam = AdamW(like: params, settings: settings)
        for (step, g) in Self.grads.enumerated() {
            grads["w"] = g
            grads["frozen"] = [5, 5, 5]
            adam.update(params, gradients: grads, learningRate: 1e-2)
            // float32 arithmetic in a different order than PyTorch's: a few ulps.
            assertWithinULPs(params["w"], Self.torchAfter[step], ulps: 4, "step \(step + 1)")
        }
        assertClose(params["frozen"], [Float](arrayLiteral: 1, 2, 3), tolerance: 0, "frozen")
        XCTAssertEqual(adam.step, 3)
    }

    /// PyTorch's AdamW written out independently, in Double (`torch.optim.AdamW` docs):
    /// `p ← p − lr·wd·p` (decoupled decay, before the update); `m ← β1·m + (1 − β1)·g`;
    /// `v ← β2·v + (1 − β2)·g²`; `p ← p − lr·m̂ / (√v̂ + eps)` with `m̂ = m/(1 − β1ᵗ)`,
    /// `v̂ = v/(1 − β2ᵗ)` (eps outside the square root).
    struct ReferenceAdamW {
        var p: [Double], m: [Double], v: [Double], t = 0
        let lr, beta1, beta2, eps, wd: Double

        mutating func step(_ g: [Double]) {
            t += 1
            for i in p.indices {
                p[i] -= lr * wd * p[i]
                m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
                let mHat = m[i] / (1 - pow(beta1, Double(t))), vHat = v[i] / (1 - pow(beta2, Double(t)))
                p[i] -= lr * mHat / (vHat.squareRoot() + eps)
            }
        }
    }

    /// Our float32 AdamW against that reference on 1 037 elements (64 chunks of 16 lanes and
    /// a 13-element tail, two tensors, one frozen), six steps with weight decay, gradients of
    /// every size: ordinary, 1e-8 (where eps decides the step: inside the square root it would
    /// be √eps = 1e-4 and the step 100× smaller), and zero (decay alone moves p). Float32
    /// rounding of p ~ 1 and of moments is ~1e-7 relative; the bound is 1e-6.
    func testAdamWMatchesAnIndependentReference() {
        let sizes = [1000, 37]
        let params = ParameterSet(layout: [("a", [sizes[0]], true), ("frozen", [5], false), ("b", [sizes[1]], true)])
        let grads = params.zerosLike()
        var rng = RandomGenerator(seed: 21)
        let p0 = (0..<(sizes[0] + sizes[1])).map { _ in rng.normal() }
        params["a"] = Array(p0[..<sizes[0]])
        params["b"] = Array(p0[sizes[0]...])
        params["frozen"] = [1, 2, 3, 4, 5]
        var settings = AdamW.Settings()
        settings.learningRate = 1e-2
        settings.beta1 = 0.9
        settings.beta2 = 0.999
        settings.epsilon = 1e-8
        settings.weightDecay = 0.1
        let adam = AdamW(like: params, settings: settings)
        var reference = ReferenceAdamW(p: p0.map(Double.init), m: Array(repeating: 0, count: p0.count),
                                       v: Array(repeating: 0, count: p0.count), lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, wd: 0.1)
        let ctx = try! ComputeContext(threads: 2)
        for step in 1...6 {
            let g: [Float] = (0..<p0.count).map { i in
                switch i % 10 {
                case 0: return 0
                case 1: return 1e-8 * (rng.normal() > 0 ? 1 : -1)
                default: return rng.normal() * Float(step)
                }
            }
            grads["a"] = Array(g[..<sizes[0]])
            grads["b"] = Array(g[sizes[0]...])
            grads["frozen"] = [9, 9, 9, 9, 9]
            adam.update(params, gradients: grads, learningRate: settings.learningRate, ctx: step % 2 == 0 ? ctx : nil)
            reference.step(g.map(Double.init))
            let got = params["a"] + params["b"]
            assertAllClose(got, reference.p, absolute: 1e-6, relative: 1e-6, "parameters after step \(step)")
            // m cancels (0.9·m + 0.1·g with g of either sign): its float32 rounding is a few
            // ulps of the terms (|g| ≤ ~20), not of m itself.
            assertAllClose(adam.firstMoment["a"] + adam.firstMoment["b"], reference.m, absolute: 1e-6, relative: 1e-6, "m after step \(step)")
            assertAllClose(adam.secondMoment["a"] + adam.secondMoment["b"], reference.v, absolute: 1e-20, relative: 1e-6, "v after step \(step)")
            // The step itself, relative to its own size: a wrong eps or bias correction shows here first.
            let moved = zip(got, p0).map { Double($0 - $1) }, want = zip(reference.p, p0).map { $0 - Double($1) }
            assertClose(moved, want, tolerance: 1e-4, "total update after step \(step)")
        }
        assertClose(params["frozen"], [Float](arrayLiteral: 1, 2, 3, 4, 5), tolerance: 0, "frozen")
    }

    /// A tensor with learning-rate factor s moves exactly as it would under lr·s (PyTorch's
    /// parameter group with its own lr: step and decoupled decay both scale), the others as
    /// under lr; with a layout whose tensors span several optimiser chunks.
    func testLearningRateScalePerTensor() {
        let layout: [(name: String, shape: [Int], trainable: Bool)] = [("a", [70_000], true), ("router", [70_000], true), ("b", [5], true)]
        var rng = RandomGenerator(seed: 4)
        let p0 = (0..<3).map { i in rng.normals(layout[i].shape[0]) }
        let g = (0..<3).map { _ in (0..<3).map { i in rng.normals(layout[i].shape[0]) } }
        var settings = AdamW.Settings()
        settings.weightDecay = 0.05
        func train(scale: ((ParameterSet.Entry) -> Double)?, lr: Double) -> ParameterSet {
            let params = ParameterSet(layout: layout), grads = params.zerosLike()
            for (i, e) in layout.enumerated() { params[e.name] = p0[i] }
            let adam = AdamW(like: params, settings: settings, scale: scale)
            for step in g {
                for (i, e) in layout.enumerated() { grads[e.name] = step[i] }
                adam.update(params, gradients: grads, learningRate: lr, ctx: try! ComputeContext(threads: 2))
            }
            return params
        }
        let scaled = train(scale: { $0.name == "router" ? 10 : 1 }, lr: 1e-3)
        let plain = train(scale: nil, lr: 1e-3), tenfold = train(scale: nil, lr: 1e-2)
        XCTAssertEqual(scaled["a"], plain["a"])
        XCTAssertEqual(scaled["b"], plain["b"])
        XCTAssertEqual(scaled["router"], tenfold["router"])
        XCTAssertNotEqual(scaled["router"], plain["router"])
    }

    func testGradientClippingMatchesPyTorch() {
        let g = ParameterSet(layout: [("a", [5], true), ("b", [3], true)])
        g["a"] = [3, -4, 1, 2, 0.5]
        g["b"] = [10, -2, 0.25]
        let norm = GradientClipping.clip(g, maxNorm: 5)
        assertClose(Double(norm), 11.589326858520508, absolute: 1e-5, "norm")
        let wantA: [Float] = [1.2942942380905151, -1.7257256507873535, 0.4314314126968384, 0.8628628253936768, 0.2157157063484192]
        let wantB: [Float] = [4.314313888549805, -0.8628628253936768, 0.1078578531742096]
        assertWithinULPs(g["a"] + g["b"], wantA + wantB, ulps: 2, "clipped gradients")
        // Under the limit nothing changes.
        assertClose(Double(GradientClipping.clip(g, maxNorm: 100)), 5, absolute: 1e-5, "norm under the limit")
        assertClose([g["b"][0]], [wantB[0]], tolerance: 0, "unchanged under the limit")
    }

    func testEMA() {
        let p = ParameterSet(layout: [("w", [2], true)]), e = p.zerosLike()
        p["w"] = [1, -2]
        e["w"] = [0, 0]
        EMA.update(e, from: p, decay: 0.75)
        assertClose(e["w"], [Float](arrayLiteral: 0.25, -0.5), tolerance: 0, "EMA")
    }

    func testSchedules() {
        let lr = LearningRateSchedule(peak: 1e-3, warmupSteps: 4)
        XCTAssertEqual((0..<6).map { lr.rate(at: $0) }, [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])
        XCTAssertEqual(LearningRateSchedule(peak: 1e-4, warmupSteps: 0).rate(at: 0), 1e-4)
        // Decays: the peak right after warm-up, the floor at the run's last step (index 12 of 13),
        // a cosine at the floor-peak midpoint halfway, and the floor past the end.
        let cosine = LearningRateSchedule(peak: 1e-3, warmupSteps: 2, decay: .cosine, floor: 1e-4, totalSteps: 13)
        XCTAssertEqual(cosine.rate(at: 0), 5e-4)
        XCTAssertEqual(cosine.rate(at: 2), 1e-3)
        assertClose(cosine.rate(at: 7), 5.5e-4, absolute: 1e-15, "cosine halfway")
        assertClose(cosine.rate(at: 12), 1e-4, absolute: 1e-15, "cosine at the last step")
        assertClose(cosine.rate(at: 50), 1e-4, absolute: 1e-15, "cosine past the end")
        XCTAssertGreaterThan(cosine.rate(at: 4), cosine.rate(at: 5))
        let linear = LearningRateSchedule(peak: 1e-3, warmupSteps: 0, decay: .linear, floor: 0, totalSteps: 11)
        for step in 0...10 { assertClose(linear.rate(at: step), 1e-3 * Double(10 - step) / 10, absolute: 1e-15, "linear at \(step)") }
        // A run no longer than its warm-up never decays.
        XCTAssertEqual(LearningRateSchedule(peak: 1e-3, warmupSteps: 4, decay: .cosine, totalSteps: 4).rate(at: 3), 1e-3)

        let lambda = LambdaSchedule(target: 0.5, holdSteps: 100, rampSteps: 10)
        XCTAssertEqual(lambda.lambda(at: 0), 1)
        XCTAssertEqual(lambda.lambda(at: 99), 1)
        assertClose(lambda.lambda(at: 105), 0.75, absolute: 1e-12, "λ mid-ramp")
        XCTAssertEqual(lambda.lambda(at: 110), 0.5)
        XCTAssertEqual(lambda.lambda(at: 10_000), 0.5)

        var rng = RandomGenerator(seed: 3)
        let t = TimestepSampling.stratified.draw(batch: 40_000, steps: 1000, &rng)
        for (i, v) in t.enumerated() { XCTAssert((i % 4) * 250 <= v && v < (i % 4 + 1) * 250, "sample \(i): t = \(v)") }
        XCTAssertEqual(Set(t).count, 1000, "every timestep is reachable")
        let u = TimestepSampling.uniform.draw(batch: 4000, steps: 1000, &rng)
        XCTAssert(u.allSatisfy { (0..<1000).contains($0) })
        XCTAssertGreaterThan(Set(u.map { $0 / 250 }).count, 3)

        let dropout = LabelDropout(probability: 0.1, nullClass: 10)
        let labels = dropout.apply(Array(repeating: 3, count: 10_000), &rng)
        let dropped = labels.filter { $0 == 10 }.count
        XCTAssert(labels.allSatisfy { $0 == 3 || $0 == 10 })
        XCTAssert((800...1200).contains(dropped), "\(dropped) of 10000 dropped at p = 0.1")
        XCTAssertEqual(LabelDropout(probability: 0, nullClass: 10).apply([1, 2], &rng), [1, 2])
    }
}
