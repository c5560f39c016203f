import DyDiTDiffusion
import DyDiTIO
import DyDiTModels
import Foundation
import ReferenceSupport
import XCTest

/// DiT's sampling loops on options the official reference files never use, against
/// facebookresearch/DiT's own `diffusion/` package run by
/// `scripts/reference/make_dit_sampler_cases.py` (`dit_samplers*.safetensors` in the extra
/// folder) with an analytic model: `clip_denoised`, the learned-range, fixed-large and
/// fixed-small variances and the squaredcos_cap_v2 schedule, each sampler built through
/// `SamplerRegistry` as a spec or the CLI builds it. Every step within 1e-4.
final class DiTAnalyticSamplerTests: XCTestCase {
    static let tolerance = 1e-4

    struct Case {
        let sampler: String, eta: Double, steps: Int, schedule: String
        let learnSigma: Bool, sigmaSmall: Bool, clip: Bool

        init(_ json: JSONValue, name: String) throws {
            func value<T>(_ key: String, _ get: (JSONValue) -> T?) throws -> T {
                try XCTUnwrap(json[key].flatMap(get), "case \(name): no valid '\(key)'")
            }
            sampler = try value("sampler") { $0.stringValue }
            eta = try value("eta") { $0.doubleValue }
            let respacing = try value("respacing") { $0.stringValue }
            steps = try XCTUnwrap(Int(respacing), "case \(name): respacing '\(respacing)' is not a step count")
            schedule = try value("noise_schedule") { $0.stringValue }
            learnSigma = try value("learn_sigma") { $0.boolValue }
            sigmaSmall = try value("sigma_small") { $0.boolValue }
            clip = try value("clip_denoised") { $0.boolValue }
        }

        /// The sampler as a spec asks for it (`convention: dit`, the default).
        func make(clip: Bool) throws -> Sampler {
            var options: [(String, JSONValue)] = [("clip_denoised", .bool(clip)), ("beta_schedule", .string(schedule))]
            if !learnSigma { options.append(("variance_type", .string(sigmaSmall ? "fixed_small" : "fixed_large"))) }
            if sampler == "ddim" { options.append(("eta", .double(eta))) }
            let config = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 32, depth: 1, numHeads: 2,
                                   learnSigma: learnSigma)
            return try SamplerRegistry.make(sampler, steps: steps, options: JSONObject(options), config: config)
        }
    }

    /// Runs `sampler` from xT with the recorded noise; the worst step's relative error.
    func run(_ sampler: Sampler, _ file: SafeTensorsFile, _ name: String, alphasCumprod ac: [Double], mu: Double, s: Double,
             learnSigma: Bool) throws -> Double {
        let trajectory = try file.tensor("\(name)/trajectory")
        let perStep = trajectory.count / trajectory.shape[0]
        let want = trajectory.floats(), noise = try file.tensor("\(name)/noise").floats()
        var x = try file.tensor("\(name)/xT").floats().map(Double.init)
        var worst = Worst()
        for k in 0..<sampler.steps {
            let t = sampler.timesteps[k]
            let a = ac[t].squareRoot(), sg = (1 - ac[t]).squareRoot()
            let eps = x.map { Double(Float(sg * ($0 - a * mu) / (a * a * s * s + sg * sg))) }
            let v = learnSigma ? x.map { Double(Float(tanh($0))) } : nil
            // DiT draws noise at every step (the last one multiplied by 0).
            let z = Array(noise[(k * perStep)..<((k + 1) * perStep)])
            sampler.step(k, eps: eps, v: v, x: &x, noise: z)
            worst.record(relativeError(x, Array(want[(k * perStep)..<((k + 1) * perStep)])))
        }
        XCTAssertEqual(worst.count, trajectory.shape[0], "\(name): steps run")
        return worst.value
    }

    func testEveryCaseMatchesOfficialLoops() throws {
        let files = try ReferenceVectors.files(prefix: "dit_samplers")
        XCTAssertFalse(files.isEmpty, "no dit_samplers*.safetensors in \(ReferenceVectors.extraDirectory)")
        var checked = 0
        for path in files {
            let file = try SafeTensorsFile(path: path)
            let label = URL(fileURLWithPath: path).lastPathComponent
            let ledger = ReferenceLedger(file, label: label)
            let data = try JSONParser.parse(try XCTUnwrap(file.metadata["data"], "\(label): no 'data' metadata"))
            let mu = try XCTUnwrap(data["mu"]?.doubleValue), s = try XCTUnwrap(data["s"]?.doubleValue)
            for name in file.metadata.keys.filter({ $0 != "data" && $0 != "generator" }).sorted() {
                let json = try JSONParser.parse(file.metadata[name]!)
                let spec = try Case(json, name: name)
                if spec.learnSigma {
                    XCTAssertEqual(json["variance_model"]?.stringValue, "tanh(x)", "\(label) \(name): variance model")
                }
                let sampler = try spec.make(clip: spec.clip)
                XCTAssertEqual(sampler.timesteps, try file.tensor("\(name)/timesteps").integers().map { Int($0) }, "\(name) timesteps")
                // The model sees original timesteps: ᾱ of the base 1000-step schedule.
                let base = spec.schedule == "linear" ? NoiseSchedule.ditLinear(1000) : NoiseSchedule.squaredCosCapV2(1000)
                let ac = NoiseSchedule.alphasCumprod(base)
                let err = try run(sampler, file, name, alphasCumprod: ac, mu: mu, s: s, learnSigma: spec.learnSigma)
                print(String(format: "%@ %@ (%@): worst step max|a-b|/max|b| = %.2e (≤ %.0e)", label, name, sampler.name, err, Self.tolerance))
                XCTAssertLessThanOrEqual(err, Self.tolerance, "\(label) \(name)")
                if spec.clip {
                    // The case must exercise clipping: without it the trajectory is visibly different.
                    let unclipped = try run(try spec.make(clip: false), file, name, alphasCumprod: ac, mu: mu, s: s,
                                            learnSigma: spec.learnSigma)
                    XCTAssertGreaterThan(unclipped, 100 * Self.tolerance, "\(label) \(name): clipping changes nothing here")
                }
                ledger.inputs(["\(name)/xT", "\(name)/noise", "\(name)/trajectory", "\(name)/timesteps"])
                checked += 1
            }
            ledger.finish()
        }
        XCTAssertGreaterThan(checked, 0)
    }
}
