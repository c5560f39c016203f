import DyDiTDiffusion
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import ReferenceSupport
import XCTest

/// TeaCache against its official code: the decision rule of `teacache_flux.py` run by
/// `scripts/reference/make_teacache_cases.py` on synthetic modulated inputs (every step's
/// decision and accumulated distance), and the fit against `np.polyfit`; then the cache in
/// the sampling loop: threshold 0 is the plain model bit for bit, a skipped step runs no block,
/// and the calibration records what the fit needs.
final class TeaCacheTests: XCTestCase {
    func testDecisionsMatchTheOfficialCode() throws {
        let files = try ReferenceVectors.files(prefix: "teacache")
        XCTAssertFalse(files.isEmpty, "no teacache*.safetensors in \(ReferenceVectors.extraDirectory)")
        var cases = 0
        for path in files {
            let file = try SafeTensorsFile(path: path)
            for (name, text) in file.metadata.sorted(by: { $0.key < $1.key }) where name != "generator" {
                let config = try JSONParser.parse(text, path: "\(path) metadata \(name)")
                let coefficients = try XCTUnwrap(config.objectValue?["coefficients"]?.arrayValue).compactMap(\.doubleValue)
                let threshold = try XCTUnwrap(config.objectValue?["threshold"]?.doubleValue)
                let inputs = try file.tensor("\(name)/inputs")
                let (steps, rows, d) = (inputs.shape[0], inputs.shape[1], inputs.shape[2])
                let values = inputs.floats()
                let calc = try file.tensor("\(name)/should_calc").integers()
                let accumulated = try file.tensor("\(name)/accumulated").doubles()
                let session = try TeaCachePolicy(coefficients: coefficients, threshold: threshold)
                    .session(steps: steps, depth: 3) as! TeaCachePolicy.Session
                for k in 0..<steps {
                    guard case let .decideResidual(blocks, _) = session.plan(step: k) else { return XCTFail("\(name): step \(k) does not decide") }
                    XCTAssertEqual(blocks, 0..<3, "TeaCache skips every block")
                    let reuse = values.withUnsafeBufferPointer {
                        session.reuse(modulatedInput: UnsafeBufferPointer(rebasing: $0[(k * rows * d)..<((k + 1) * rows * d)]), rows: rows, tokens: 1)
                    }
                    XCTAssertEqual(!reuse, calc[k] != 0, "\(name): step \(k)")
                    // The official mean is float32 in torch, ours sums in Double.
                    XCTAssertEqual(session.accumulated, accumulated[k], accuracy: 1e-5 * max(1, abs(accumulated[k])), "\(name): step \(k)")
                }
                cases += 1
            }
            let x = try file.tensor("polyfit/x").doubles(), y = try file.tensor("polyfit/y").doubles()
            let want = try file.tensor("polyfit/coefficients").doubles()
            let got = try PolynomialFit.fit(x: x, y: y, degree: want.count - 1)
            for (g, w) in zip(got, want) { XCTAssertEqual(g, w, accuracy: 1e-9 * max(1, abs(w)), "np.polyfit: \(want), ours: \(got)") }
            let probe = try file.tensor("polyfit/probe").doubles(), probeValues = try file.tensor("polyfit/probe_values").doubles()
            let policy = try TeaCachePolicy(coefficients: got, threshold: 1)
            for (p, v) in zip(probe, probeValues) { XCTAssertEqual(policy.rescale(p), v, accuracy: 1e-12, "np.poly1d at \(p)") }
        }
        XCTAssertGreaterThanOrEqual(cases, 4)
    }

    var config: DiTConfig {
        var c = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 32, depth: 3, numHeads: 2, numClasses: 4)
        c.learnSigma = false
        return c
    }

    func sample(_ model: DiT, _ caching: StepCachePolicy?, routing: Routing = Routing(), steps: Int = 10,
                recorder: TeaCacheRecorder? = nil) throws -> (samples: [Float], ratios: [Double], bytes: Int) {
        let c = model.config
        var rng = RandomGenerator(seed: 2)
        let xT = rng.normals(2 * c.imageSize)
        let loop = SamplingLoop(model: model, sampler: try SamplerRegistry.make("ddim", steps: steps, config: c), routing: routing,
                                guidance: Guidance(scale: 1.5, channels: .eps), caching: caching)
        if let recorder { loop.onModelOutput = { _, out, rows in recorder.recordOutput(out, samples: rows) } }
        var ratios: [Double] = []
        let samples = try loop.run(xT: xT, labels: [0, 2], noise: .seeded(3)) { ratios.append($0.flopsRatio) }
        return (samples, ratios, loop.cacheBytes)
    }

    /// Threshold 0 with a non-negative rescaling runs every step: the plain model bit for bit.
    /// A threshold above every change skips all but the first and last steps, which then
    /// report no block MACs; the samples change but stay finite; the cache holds its three
    /// [rows, D] buffers.
    func testThresholdSetsTheFullSteps() throws {
        let c = config
        let model = DiT(DiTParameters.initialized(c, seed: 5, .random), ctx: try ComputeContext(threads: 2))
        let dense = try sample(model, nil)
        let always = try sample(model, try TeaCachePolicy(coefficients: [1, 0], threshold: 0))
        XCTAssertEqual(always.samples, dense.samples)
        XCTAssertEqual(always.ratios, [Double](repeating: 1, count: 10))
        let never = try sample(model, try TeaCachePolicy(coefficients: [1, 0], threshold: 1e9))
        XCTAssertEqual(never.ratios, [1] + [Double](repeating: 0, count: 8) + [1])
        XCTAssertNotEqual(never.samples, dense.samples)
        XCTAssertTrue(never.samples.allSatisfy(\.isFinite))
        XCTAssertEqual(never.bytes, 3 * 4 * c.tokens * c.hiddenSize * MemoryLayout<Float>.stride, "2 images × 2 (guidance) rows")
    }

    /// A skipped pass adds the residual of the last full pass to its own input: at the full
    /// pass's inputs it reproduces that pass (to the rounding of h + (h' − h)).
    func testReusedResidualReproducesTheFullPass() throws {
        let c = config
        let model = DiT(DiTParameters.initialized(c, seed: 6, .random), ctx: try ComputeContext(threads: 2))
        var rng = RandomGenerator(seed: 1)
        let x = rng.normals(2 * c.imageSize), y = [1, 3]
        func run(_ t: Float, _ residual: ResidualCaching?) -> [Float] {
            var out = [Float](repeating: 0, count: 2 * c.outChannels * c.inputSize * c.inputSize)
            x.withUnsafeBufferPointer { xp in
                out.withUnsafeMutableBufferPointer { model.forward(x: xp.baseAddress!, t: [t, t], y: y, out: $0.baseAddress!, residual: residual) }
            }
            return out
        }
        for blocks in [0..<3, 1..<3, 0..<1, 1..<2] {
            let cache = ResidualCache(config: c)
            let full = run(500, ResidualCaching(cache: cache, blocks: blocks, mode: .fill))
            XCTAssertEqual(full, run(500, nil), "a filling pass is the plain forward")
            XCTAssertEqual(cache.filled, blocks)
            let reused = run(500, ResidualCaching(cache: cache, blocks: blocks, mode: .reuse))
            XCTAssertTrue(cache.lastPassReused)
            let scale = full.map(abs).max()!
            for (a, b) in zip(reused, full) { XCTAssertEqual(a, b, accuracy: 1e-5 * scale, "blocks \(blocks)") }
            let elsewhere = run(100, ResidualCaching(cache: cache, blocks: blocks, mode: .reuse))
            XCTAssertNotEqual(elsewhere, run(100, nil), "blocks \(blocks) really skipped")
            XCTAssertTrue(elsewhere.allSatisfy(\.isFinite))
        }
    }

    /// TeaCache on DyDiT's fast path: threshold 0 is DyDiT without a cache bit for bit; skipped
    /// steps count no block MACs, full steps their routers' ratio.
    func testStacksOnDyDiT() throws {
        let c = config
        let model = DiT(DiTParameters.initialized(c, seed: 8, .random), ctx: try ComputeContext(threads: 2))
        func routing() throws -> Routing {
            Routing(width: try RandomWidthRouter(config: c, keep: 0.5, seed: 3), token: try RandomTokenRouter(keep: 0.5, seed: 4))
        }
        let dydit = try sample(model, nil, routing: try routing())
        XCTAssertEqual(try sample(model, try TeaCachePolicy(coefficients: [1, 0], threshold: 0), routing: try routing()).samples, dydit.samples)
        let stacked = try sample(model, try TeaCachePolicy(coefficients: [1, 0], threshold: 0.5), routing: try routing())
        XCTAssertTrue(stacked.samples.allSatisfy(\.isFinite))
        XCTAssertTrue(stacked.ratios.contains(0), "\(stacked.ratios)")
        XCTAssertTrue(stacked.ratios.enumerated().allSatisfy { $0.element == 0 || abs($0.element - dydit.ratios[$0.offset]) < 1e-12 })
    }

    /// The calibration run samples as the plain model does, and records one (input change,
    /// output change) pair per forward sample for every step after the first; the whole
    /// batch's change per step; and a fit through them.
    func testCalibrationRecordsPairsWithoutChangingTheSamples() throws {
        let c = config
        let model = DiT(DiTParameters.initialized(c, seed: 9, .random), ctx: try ComputeContext(threads: 1))
        let recorder = TeaCacheRecorder()
        let calibrated = try sample(model, TeaCacheCalibration(recorder: recorder), recorder: recorder)
        XCTAssertEqual(calibrated.samples, try sample(model, nil).samples)
        XCTAssertEqual(recorder.pairs.count, 9 * 4, "9 step pairs × 4 forward samples (2 images, guided)")
        XCTAssertTrue(recorder.pairs.allSatisfy { $0.x.isFinite && $0.y.isFinite && $0.x > 0 && $0.y > 0 })
        XCTAssertEqual(recorder.batchChanges.count, 1)
        XCTAssertEqual(recorder.batchChanges[0].count, 10)
        XCTAssertTrue(recorder.batchChanges[0][0].isNaN)
        let coefficients = try PolynomialFit.fit(x: recorder.pairs.map(\.x), y: recorder.pairs.map(\.y), degree: 4)
        XCTAssertEqual(coefficients.count, 5)
        XCTAssertTrue(coefficients.allSatisfy(\.isFinite))
        // The prediction applies the sampling-time rule to the batch changes: threshold 0
        // (non-negative rescaling) runs all 10 steps, a huge one only the ends.
        XCTAssertEqual(try TeaCachePolicy(coefficients: [1, 0], threshold: 0).predictedFullSteps(changes: recorder.batchChanges[0]), 10)
        XCTAssertEqual(try TeaCachePolicy(coefficients: [1, 0], threshold: 1e9).predictedFullSteps(changes: recorder.batchChanges[0]), 2)
    }

    /// Options and files: clear errors for what is missing or wrong.
    func testCoefficientsFilesAndErrors() throws {
        func expect(_ fragments: [String], _ body: () throws -> Void) {
            XCTAssertThrowsError(try body()) { error in
                for f in fragments { XCTAssertTrue("\(error)".contains(f), "'\(f)' missing in: \(error)") }
            }
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("teacache-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let weights = "\(dir)/model.safetensors"
        try AtomicFile.write("weights", to: weights)
        XCTAssertEqual(TeaCachePolicy.coefficientsPath(weights: weights), "\(dir)/model.teacache.json")
        expect(["no coefficients at \(dir)/model.teacache.json", "--fit-teacache"]) {
            _ = try StepCacheRegistry.make("teacache", context: StepCacheContext(weights: weights))
        }
        expect(["no coefficients", "random-init"]) { _ = try StepCacheRegistry.make("teacache") }
        let sha = try FileDigest.sha256(weights).sha256
        try AtomicFile.write(#"{"coefficients": [2, 0.5], "weights_sha256": "\#(sha)"}"#, to: "\(dir)/model.teacache.json")
        let policy = try XCTUnwrap(try StepCacheRegistry.make("teacache", options: JSONObject([("threshold", .double(0.2))]),
                                                              context: StepCacheContext(weights: weights)) as? TeaCachePolicy)
        XCTAssertEqual(policy.coefficients, [2, 0.5])
        XCTAssertEqual(policy.threshold, 0.2)
        try AtomicFile.write("other weights", to: weights)
        expect(["fitted on weights with SHA-256", "fit again"]) { _ = try StepCacheRegistry.make("teacache", context: StepCacheContext(weights: weights)) }
        let inline = try XCTUnwrap(try StepCacheRegistry.make("teacache", options: JSONObject([("coefficients", .array([.int(1), .int(0)]))])) as? TeaCachePolicy)
        XCTAssertEqual(inline.coefficients, [1, 0])
        expect(["threshold", "negative"]) { _ = try StepCacheRegistry.make("teacache", options: JSONObject([("threshold", .double(-1)), ("coefficients", .array([.int(1)]))])) }
        expect(["not all numbers"]) { _ = try StepCacheRegistry.make("teacache", options: JSONObject([("coefficients", .array([.string("a")]))])) }
        try AtomicFile.write(#"{"coefficients": []}"#, to: "\(dir)/empty.json")
        expect(["no 'coefficients' list"]) { _ = try StepCacheRegistry.make("teacache", options: JSONObject([("coefficients", .string("\(dir)/empty.json"))])) }
        expect(["needs at least 5 points"]) { _ = try PolynomialFit.fit(x: [0.1, 0.2], y: [1, 2], degree: 4) }
        expect(["not all finite"]) { _ = try PolynomialFit.fit(x: [0.1, .nan, 0.3], y: [1, 2, 3], degree: 1) }
    }
}
