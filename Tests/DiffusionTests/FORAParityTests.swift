import DyDiTDiffusion
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import ReferenceSupport
import XCTest

/// FORA against its official code (`scripts/reference/make_fora_cases.py`: `prathebaselva/FORA`
/// 29f4cf9, its DiT in mode `boost_infer_static` sampled by its own `p_sample_loop`, guided as
/// its `sample.py` guides and once unguided): every step of every trajectory within 1e-4, with
/// the recorded noise, and the steps that ran the blocks equal to the official code's.
final class FORAParityTests: XCTestCase {
    static let tolerance = 1e-4

    func testTrajectoriesMatchTheOfficialCode() throws {
        let files = try ReferenceVectors.files(prefix: "fora")
        XCTAssertFalse(files.isEmpty, "no fora*.safetensors in \(ReferenceVectors.extraDirectory)")
        var checked = 0
        for path in files {
            let file = try SafeTensorsFile(path: path)
            let config = try DiTConfig(json: try JSONParser.parse(file.metadata["config"] ?? "", path: path), source: path)
            let weights = try file.floats(under: "weights/")
            let model = DiT(DiTParameters(config: config, tensors: weights, hasNullClass: true), ctx: try ComputeContext(threads: 2))
            let cases = file.metadata.keys.filter { $0 != "config" && $0 != "generator" }.sorted()
            XCTAssertFalse(cases.isEmpty, "\(path): no cases in its metadata")
            for key in cases {
                let meta = try XCTUnwrap(try JSONParser.parse(file.metadata[key] ?? "", path: path).objectValue, "\(path) \(key)")
                let interval = Int(try XCTUnwrap(meta["interval"]?.intValue)), steps = Int(try XCTUnwrap(meta["steps"]?.intValue))
                let guided = try XCTUnwrap(meta["guided"]?.boolValue)
                let sampler = DiTDDPM(try DiTDiffusion(respacing: "\(steps)", varianceType: config.learnSigma ? .learnedRange : .fixedLarge))
                XCTAssertEqual(sampler.timesteps, try file.tensor("\(key)/timesteps").integers().map { Int($0) }, "\(key) timesteps")
                // forward_with_cfg guides the first 3 output channels (DiT's convention).
                let guidance = guided ? Guidance(scale: try file.tensor("\(key)/scale").floats()[0], channels: .dit) : nil
                let xT = try file.tensor("\(key)/xT").floats()
                let labels = try file.tensor("\(key)/y").integers().map { Int($0) }
                let noise = try file.tensor("\(key)/noise")
                let perDraw = xT.count
                XCTAssertEqual(noise.shape[0], steps, "\(key): one noise draw per step")
                let supplied = NoiseSource.supplied(rows(noise.floats(), count: steps))
                let want = try file.tensor("\(key)/trajectory").floats()
                let computed = try file.tensor("\(key)/computed").integers().map { $0 != 0 }

                func trajectory(_ caching: StepCachePolicy?) throws -> (states: [[Double]], ran: [Bool]) {
                    let loop = SamplingLoop(model: model, sampler: sampler, guidance: guidance, caching: caching)
                    var states: [[Double]] = [], ran: [Bool] = []
                    // A reuse step runs no block: its blocks' FLOPs ratio is 0.
                    _ = try loop.run(xT: xT, labels: labels, noise: supplied, progress: { ran.append($0.flopsRatio > 0) },
                                     observer: { states.append($0) })
                    return (states, ran)
                }
                let fora = try trajectory(try FORAPolicy(interval: interval))
                XCTAssertEqual(fora.ran, computed, "\(key): the steps that ran the blocks")
                XCTAssertEqual(fora.states.count, steps, key)
                var worst = Worst()
                for (k, x) in fora.states.enumerated() {
                    worst.record(relativeError(x, Array(want[(k * perDraw)..<((k + 1) * perDraw)])))
                }
                print(String(format: "%@ %@: %d steps, worst step max|a-b|/max|b| = %.2e (≤ %.0e)", path, key, steps, worst.value, Self.tolerance))
                worst.assertWithin(Self.tolerance, "\(key)")
                // The cache must matter on these weights: somewhere along the way the dense loop is (at
                // least 10× the tolerance) away from FORA's, or the case could not tell a cache from none.
                let dense = try trajectory(nil)
                let apart = dense.states.enumerated().map { k, x in relativeError(x, Array(want[(k * perDraw)..<((k + 1) * perDraw)])) }.max() ?? 0
                XCTAssertTrue(apart.isFinite && apart > 10 * Float(Self.tolerance),
                              "\(key): the dense loop stays within \(apart) of FORA's; the case cannot tell a cache from none")
                print(String(format: "%@: the dense loop is up to %.2e away", key, apart))
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 0)
    }
}
