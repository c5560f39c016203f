import DyDiTDiffusion
import DyDiTIO
import Foundation
import ReferenceSupport
import XCTest

/// Every case of every `schedulers*.safetensors` — the official `schedulers.safetensors`
/// (diffusers 0.42.1) in the reference folder and the option cases made by
/// `scripts/reference/make_scheduler_cases.py` in the extra folder — with an analytic model
/// and the configs in the metadata, run from its xT with its recorded noise: every step
/// within 1e-4.
final class SchedulerParityTests: XCTestCase {
    static let tolerance = 1e-4
    /// Metadata keys that are not cases.
    static let reserved: Set<String> = ["data", "betas", "generator"]

    /// The analytic model: data ~ N(mu, s²·I), so `eps(x, t) = σ_t (x − α_t mu) / (α_t² s² + σ_t²)`
    /// with α_t, σ_t from the scheduler's own ᾱ; rounded to float32 as a model output is.
    static func analyticEps(_ x: [Double], t: Int, alphasCumprod: [Double], mu: Double, s: Double) -> [Double] {
        let a = alphasCumprod[t].squareRoot(), sg = (1 - alphasCumprod[t]).squareRoot()
        return x.map { Double(Float(sg * ($0 - a * mu) / (a * a * s * s + sg * sg))) }
    }

    /// The analytic model for a σ-space sampler (diffusers' Euler family): `xIn` is the state
    /// times `inputScale` = α = 1/√(σ²+1), at noise level σ_vp = σ·α = √(1 − α²).
    static func sigmaSpaceEps(_ xIn: [Double], inputScale a: Double, mu: Double, s: Double) -> [Double] {
        let sv = (1 - a * a).squareRoot()
        return xIn.map { Double(Float(sv * ($0 - a * mu) / (a * a * s * s + sv * sv))) }
    }

    /// The model's variance output `v` for learned-variance cases (`_variance_model` in the
    /// case's metadata), elementwise on the sample, rounded to float32.
    static func varianceModel(_ name: String) -> ((Double) -> Double)? {
        switch name {
        case "tanh(x)": return { Double(Float(tanh($0))) }
        case "sigmoid(x)": return { Double(Float(1 / (1 + exp(-$0)))) }
        default: return nil
        }
    }

    func testEveryCaseMatchesDiffusers() throws {
        let files = try ReferenceVectors.files(prefix: "schedulers")
        XCTAssertTrue(files.contains { $0.hasPrefix(ReferenceVectors.directory + "/") },
                      "no schedulers*.safetensors in \(ReferenceVectors.directory)")
        var total = 0
        for path in files {
            total += try checkFile(path)
        }
        print("scheduler parity: \(total) cases in \(files.count) file(s)")
    }

    func checkFile(_ path: String) throws -> Int {
        let file = try SafeTensorsFile(path: path)
        let label = URL(fileURLWithPath: path).lastPathComponent
        let ledger = ReferenceLedger(file, label: label)
        let data = try JSONParser.parse(try XCTUnwrap(file.metadata["data"], "\(label): no 'data' metadata"))
        let mu = try XCTUnwrap(data["mu"]?.doubleValue), s = try XCTUnwrap(data["s"]?.doubleValue)
        let cases = file.metadata.keys.filter { !Self.reserved.contains($0) }.sorted()
        XCTAssertFalse(cases.isEmpty, "\(label): no cases")
        for name in cases {
            let json = try JSONParser.parse(file.metadata[name]!)
            let config: DiffusersConfig
            do {
                config = try DiffusersConfig(json: json, source: "\(path) case \(name)")
            } catch {
                XCTFail("\(label) case \(name): \(error)")
                continue
            }
            var variance: ((Double) -> Double)?
            if let model = json["_variance_model"]?.stringValue {
                variance = Self.varianceModel(model)
                XCTAssertNotNil(variance, "\(label) case \(name): unknown _variance_model '\(model)'")
            }
            let trajectory = try file.tensor("\(name)/trajectory")
            let steps = trajectory.shape[0], perStep = trajectory.count / steps
            // Heun calls the model twice per step: its trajectory has 2n − 1 states for n steps.
            let inferenceSteps = json["_inference_steps"]?.intValue.map(Int.init) ?? steps
            let sampler = try config.makeSampler(steps: inferenceSteps)
            XCTAssertEqual(sampler.steps, steps, "\(label) \(name): model calls")
            if sampler.learnedVarianceOption != nil {
                XCTAssertNotNil(variance, "\(label) case \(name): a learned variance needs _variance_model")
            }
            // Integers (I64) for DDPM, DDIM and DPM-Solver; the Euler family's may be fractional
            // (F32; Karras σs map to timesteps through a log, within an ulp of diffusers').
            let timesteps = try file.tensor("\(name)/timesteps").floats().map(Double.init)
            XCTAssertEqual(sampler.modelTimesteps.count, timesteps.count, "\(label) \(name): timesteps")
            for (a, b) in zip(sampler.modelTimesteps, timesteps) where !(abs(a - b) <= 1e-3) {
                XCTFail("\(label) \(name): timesteps \(sampler.modelTimesteps) != \(timesteps)")
                break
            }
            let noise = file.contains("\(name)/noise") ? try file.tensor("\(name)/noise").floats() : []
            XCTAssertEqual(noise.count, sampler.noiseDraws * perStep, "\(label) \(name): noise draws")
            let ac = config.alphasCumprod
            // The state starts at the noise times init_noise_sigma (1 but for the Euler family).
            var x = try file.tensor("\(name)/xT").floats().map { Double($0) * sampler.initNoiseSigma }
            let want = trajectory.floats()
            var worst = Worst(), draws = 0
            for k in 0..<min(steps, sampler.steps) {
                let scale = sampler.modelInputScale(atStep: k)
                let eps = scale == 1 ? Self.analyticEps(x, t: sampler.timesteps[k], alphasCumprod: ac, mu: mu, s: s)
                    : Self.sigmaSpaceEps(x.map { Double(Float($0 * scale)) }, inputScale: scale, mu: mu, s: s)
                var z: [Float]?
                if sampler.drawsNoise(atStep: k) {
                    guard (draws + 1) * perStep <= noise.count else { break }
                    z = Array(noise[(draws * perStep)..<((draws + 1) * perStep)])
                    draws += 1
                }
                sampler.step(k, eps: eps, v: variance.map { x.map($0) }, x: &x, noise: z)
                let ref = want[(k * perStep)..<((k + 1) * perStep)].map(Double.init)
                worst.record(relativeError(x, ref))
            }
            print(String(format: "%@ %@ (%@, %d steps): worst step max|a-b|/max|b| = %.2e", label, name,
                         config.kind.rawValue, steps, worst.value))
            worst.assertWithin(Double(Self.tolerance), "\(label) \(name)")
            ledger.inputs(["\(name)/xT", "\(name)/timesteps", "\(name)/trajectory", "\(name)/noise"])
        }
        ledger.finish()
        return cases.count
    }
}
