import DyDiTDiffusion
import DyDiTIO
import Foundation
import ReferenceSupport
import XCTest

/// Every case of `schedulers.safetensors` (diffusers 0.42.1 with an analytic model, configs
/// in the metadata), run from its xT with its recorded noise: every step within 1e-4.
final class SchedulerParityTests: XCTestCase {
    static let tolerance = 1e-4

    /// The analytic model: data ~ N(mu, s²·I), so `eps(x, t) = σ_t (x − α_t mu) / (α_t² s² + σ_t²)`
    /// with α_t, σ_t from the scheduler's own ᾱ; rounded to float32 as a model output is.
    static func analyticEps(_ x: [Double], t: Int, alphasCumprod: [Double], mu: Double, s: Double) -> [Double] {
        let a = alphasCumprod[t].squareRoot(), sg = (1 - alphasCumprod[t]).squareRoot()
        return x.map { Double(Float(sg * ($0 - a * mu) / (a * a * s * s + sg * sg))) }
    }

    func testEveryCaseMatchesDiffusers() throws {
        let path = "\(ReferenceVectors.directory)/schedulers.safetensors"
        let file = try SafeTensorsFile(path: path)
        let ledger = ReferenceLedger(file, label: "schedulers")
        let data = try JSONParser.parse(try XCTUnwrap(file.metadata["data"], "no 'data' metadata"))
        let mu = try XCTUnwrap(data["mu"]?.doubleValue), s = try XCTUnwrap(data["s"]?.doubleValue)
        let cases = file.metadata.keys.filter { $0 != "data" && $0 != "betas" }.sorted()
        XCTAssertFalse(cases.isEmpty)
        for name in cases {
            let config: DiffusersConfig
            do {
                config = try DiffusersConfig(json: try JSONParser.parse(file.metadata[name]!), source: "\(path) case \(name)")
            } catch {
                XCTFail("case \(name): \(error)")
                continue
            }
            let trajectory = try file.tensor("\(name)/trajectory")
            let steps = trajectory.shape[0], perStep = trajectory.count / steps
            let sampler = try config.makeSampler(steps: steps)
            let timesteps = try file.tensor("\(name)/timesteps").integers().map { Int($0) }
            XCTAssertEqual(sampler.timesteps, timesteps, "\(name): timesteps")
            let noise = file.contains("\(name)/noise") ? try file.tensor("\(name)/noise").floats() : []
            XCTAssertEqual(noise.count, sampler.noiseDraws * perStep, "\(name): noise draws")
            let ac = config.alphasCumprod
            var x = try file.tensor("\(name)/xT").floats().map(Double.init)
            let want = trajectory.floats()
            var worst = Worst(), draws = 0
            for k in 0..<steps {
                let eps = Self.analyticEps(x, t: sampler.timesteps[k], alphasCumprod: ac, mu: mu, s: s)
                var z: [Float]?
                if sampler.drawsNoise(atStep: k) {
                    z = Array(noise[(draws * perStep)..<((draws + 1) * perStep)])
                    draws += 1
                }
                sampler.step(k, eps: eps, v: nil, x: &x, noise: z)
                let ref = want[(k * perStep)..<((k + 1) * perStep)].map(Double.init)
                worst.record(relativeError(x, ref))
            }
            print(String(format: "schedulers %@ (%@, %d steps): worst step max|a-b|/max|b| = %.2e", name,
                         config.kind.rawValue, steps, worst.value))
            worst.assertWithin(Double(Self.tolerance), name)
            ledger.inputs(["\(name)/xT", "\(name)/timesteps", "\(name)/trajectory", "\(name)/noise"])
        }
        ledger.finish()
    }
}
