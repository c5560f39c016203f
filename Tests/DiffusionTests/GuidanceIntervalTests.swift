import DyDiTDiffusion
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import ReferenceSupport
import XCTest

/// `Guidance.interval` (Kynkäänniemi et al. 2024): guided steps mix the conditional and
/// unconditional predictions, the others take the conditional prediction alone and run no
/// unconditional forward. Checked against a loop written out from that definition.
final class GuidanceIntervalTests: XCTestCase {
    let config = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 4, hiddenSize: 32, depth: 2, numHeads: 2, numClasses: 4)
    let labels = [1, 3]

    func sampler(_ name: String) throws -> Sampler { try SamplerRegistry.make(name, steps: 6, config: config) }

    /// The sampling loop as the interval defines it, one step at a time through the model's
    /// array forward: guided steps forward [x; x] with [y; null] and mix, the others forward
    /// x with y. `DiT.guide` and `sampler.step` are the loop's own pieces.
    func definition(_ model: DiT, _ s: Sampler, xT: [Float], scale: Float, interval: ClosedRange<Double>, noiseSeed: UInt64) throws -> [Float] {
        let c = model.config, n = labels.count, plane = c.inputSize * c.inputSize
        var x = xT.map { Double($0) * s.initNoiseSigma }
        var rng = RandomGenerator(seed: noiseSeed)
        s.reset()
        for k in 0..<s.steps {
            let tk = s.modelTimesteps[k]
            let guided = interval.contains(tk)
            let input = x.map { Float($0 * s.modelInputScale(atStep: k)) }
            let rows = guided ? 2 * n : n
            var out = try model.forward(x: guided ? input + input : input, t: [Float](repeating: Float(tk), count: rows),
                                        y: guided ? labels + [Int](repeating: c.numClasses, count: n) : labels)
            if guided { DiT.guide(&out, batch: rows, channels: c.inChannels, config: c, scale: scale) }
            var eps = [Double](), v = [Double]()
            for b in 0..<n {
                let row = out[(b * c.outChannels * plane)...].prefix(c.outChannels * plane)
                eps += row.prefix(c.inChannels * plane).map(Double.init)
                v += row.dropFirst(c.inChannels * plane).map(Double.init)
            }
            let z = s.drawsNoise(atStep: k) ? rng.normals(x.count) : nil
            s.step(k, eps: eps, v: c.outChannels > c.inChannels ? v : nil, x: &x, noise: z)
        }
        return x.map { Float($0) }
    }

    func testAnIntervalGuidesExactlyItsSteps() throws {
        let model = DiT(DiTParameters.initialized(config, seed: 7, .random), ctx: try ComputeContext(threads: 2))
        var rng = RandomGenerator(seed: 2)
        let xT = rng.normals(labels.count * config.imageSize)
        for name in ["ddpm", "dpm-solver++"] {
            let steps = try sampler(name).modelTimesteps
            // Half the schedule's timesteps inside: guided, unguided and guided-again boundaries.
            let interval = steps.sorted()[1]...steps.sorted()[3]
            let guide = Guidance(scale: 2.5, channels: .eps, interval: interval)
            XCTAssertEqual(guide.forwards(modelTimesteps: steps).filter { $0 == 2 }.count, 3, name)
            let loop = try SamplingLoop(model: model, sampler: sampler(name), guidance: guide)
            var rows: [Int] = []
            loop.onModelOutput = { _, _, r in rows.append(r) }
            let got = try loop.run(xT: xT, labels: labels, noise: .seeded(5))
            let want = try definition(model, sampler(name), xT: xT, scale: 2.5, interval: interval, noiseSeed: 5)
            XCTAssertFalse(got.contains { !$0.isFinite }, name)
            XCTAssertEqual(got, want, "\(name): the interval loop against its definition")
            // The unconditional rows ran only where guided.
            XCTAssertEqual(rows, steps.map { interval.contains($0) ? 4 : 2 }, name)
        }
    }

    func testWholeAndEmptyIntervals() throws {
        let model = DiT(DiTParameters.initialized(config, seed: 8, .random), ctx: try ComputeContext(threads: 1))
        var rng = RandomGenerator(seed: 3)
        let xT = rng.normals(labels.count * config.imageSize)
        func run(_ g: Guidance?) throws -> [Float] {
            try SamplingLoop(model: model, sampler: sampler("ddpm"), guidance: g).run(xT: xT, labels: labels, noise: .seeded(4))
        }
        let everyStep = try run(Guidance(scale: 2, channels: .eps))
        XCTAssertEqual(try run(Guidance(scale: 2, channels: .eps, interval: 0...999)), everyStep, "an interval holding every step")
        // No step inside: conditional sampling, bit for bit.
        XCTAssertEqual(try run(Guidance(scale: 2, channels: .eps, interval: 1000...2000)), try run(nil), "an interval holding no step")
        XCTAssertNotEqual(everyStep, try run(nil))
    }

    /// DyDiT's routers on the conditional rows alone: their record is the conditional rows',
    /// and the samples equal the routed model sampled without guidance when no step is guided.
    func testRoutedModelOutsideTheInterval() throws {
        let ctx = try ComputeContext(threads: 2)
        let model = DiT(DiTParameters.initialized(config, seed: 9, .random), ctx: ctx)
        let routers = RouterParameters.initialized(config, seed: 1, widthBias: 0, tokenBias: 0)
        var rng = RandomGenerator(seed: 6)
        let xT = rng.normals(labels.count * config.imageSize)
        func run(_ g: Guidance?) throws -> ([Float], [Int]) {
            let routing = Routing(width: LearnedWidthRouter(routers, isa: ctx.isa), token: LearnedTokenRouter(routers), fast: true)
            let loop = try SamplingLoop(model: model, sampler: sampler("dpm-solver++"), routing: routing, guidance: g)
            var batches: [Int] = []
            loop.onRouting = { _, record in batches.append(record.batch) }
            return (try loop.run(xT: xT, labels: labels, noise: .seeded(1)), batches)
        }
        let (none, plainBatches) = try run(Guidance(scale: 2, channels: .eps, interval: 1000...1000))
        let (unguided, _) = try run(nil)
        XCTAssertEqual(none, unguided)
        XCTAssertEqual(plainBatches, [Int](repeating: 2, count: 6))
        let (mixed, mixedBatches) = try run(Guidance(scale: 2, channels: .eps, interval: 0...500))
        XCTAssertFalse(mixed.contains { !$0.isFinite })
        let steps = try sampler("dpm-solver++").modelTimesteps
        XCTAssertEqual(mixedBatches, steps.map { $0 <= 500 ? 4 : 2 })
    }
}
