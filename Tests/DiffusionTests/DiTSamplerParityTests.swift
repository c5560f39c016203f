import DyDiTDiffusion
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import ReferenceSupport
import XCTest

/// The official DiT sampling loops (`p_sample_loop` and `ddim_sample_loop` on a respaced
/// schedule), driven by our DiT forward with the recorded noise: every step of every
/// `sample/*` trajectory within 1e-4, plain and guided (`<kind>_cfg_<steps>`: DiT's
/// `sample.py` with `forward_with_cfg`), for DiT files and for DyDiT files (eval-mode routers,
/// on the masked path and on the fast path).
final class DiTSamplerParityTests: XCTestCase {
    static let tolerance = 1e-4

    /// `ddpm_10`, `ddim05_cfg_10`, …: the sampler, whether guided, and the step count.
    struct Case {
        let kind: String
        let sampler: String
        let guided: Bool
        let steps: Int

        init?(_ kind: String) {
            let parts = kind.split(separator: "_").map(String.init)
            guard parts.count == 2 || (parts.count == 3 && parts[1] == "cfg"), let steps = Int(parts.last!), steps > 0 else { return nil }
            self.kind = kind
            sampler = parts[0]
            guided = parts.count == 3
            self.steps = steps
        }
    }

    func testTrajectoriesMatchOfficialLoops() throws {
        let pairs = try ReferenceVectors.pairs()
        var checked = 0, guided = 0
        for pair in pairs {
            let io = try SafeTensorsFile(path: pair.io)
            let kinds = Set(io.names.filter { $0.hasPrefix("sample/") }.map { String($0.split(separator: "/")[1]) })
            if kinds.isEmpty { continue }
            let ckpt = try Checkpoint(path: pair.weights)
            let c = ckpt.config
            let ctx = try ComputeContext(threads: 2)
            let model = DiT(ckpt.parameters, ctx: ctx)
            let ledger = ReferenceLedger(io, label: pair.name)
            // DyDiT files sample with their routers in eval mode; both of our paths must match.
            let routings: [(String, Routing)] = try ckpt.routers.map { routers in
                let width = LearnedWidthRouter(routers, isa: ctx.isa), token = LearnedTokenRouter(routers)
                return [("masked", Routing(width: width, token: token, fast: false)),
                        ("fast", Routing(width: width, token: token, fast: true))]
            } ?? [("dense", Routing())]
            for kind in kinds.sorted() {
                let key = "sample/\(kind)"
                guard let spec = Case(kind) else {
                    XCTFail("\(pair.name): unknown sampler case '\(kind)' (expected <sampler>_<steps> or <sampler>_cfg_<steps>)")
                    continue
                }
                let variance: DiTDiffusion.VarianceType = c.learnSigma ? .learnedRange : .fixedLarge
                let diffusion = try DiTDiffusion(respacing: "\(spec.steps)", varianceType: variance)
                let sampler: Sampler
                switch spec.sampler {
                case "ddpm": sampler = DiTDDPM(diffusion)
                case "ddim0": sampler = try DiTDDIM(diffusion, eta: 0)
                case "ddim05": sampler = try DiTDDIM(diffusion, eta: 0.5)
                default:
                    XCTFail("\(pair.name): unknown sampler '\(spec.sampler)' in case '\(kind)'")
                    continue
                }
                XCTAssertEqual(sampler.timesteps, try io.tensor("\(key)/timesteps").integers().map { Int($0) }, "\(pair.name) \(kind) timesteps")
                var guidance: Guidance?
                if spec.guided {
                    let scale = try io.tensor("\(key)/scale").floats()
                    XCTAssertEqual(scale.count, 1, "\(pair.name) \(key)/scale")
                    // forward_with_cfg guides DiT's first 3 channels (all of them when fewer).
                    guidance = Guidance(scale: scale[0], channels: .dit)
                    guided += 1
                }
                let noise = try io.tensor("\(key)/noise")
                let perDraw = noise.count / noise.shape[0]
                let draws = noise.floats()
                let want = try io.tensor("\(key)/trajectory").floats()
                let xT = try io.tensor("\(key)/xT").floats()
                let labels = try io.tensor("\(key)/y").integers().map { Int($0) }
                XCTAssertEqual(perDraw, xT.count, "\(pair.name) \(key): one noise draw per step, shaped like xT")
                for (path, routing) in routings {
                    let loop = SamplingLoop(model: model, sampler: sampler, routing: routing, guidance: guidance)
                    var worst = Worst()
                    var k = 0
                    _ = try loop.run(xT: xT, labels: labels,
                                     noise: .supplied((0..<noise.shape[0]).map { Array(draws[($0 * perDraw)..<(($0 + 1) * perDraw)]) }),
                                     observer: { x in
                                         worst.record(relativeError(x, Array(want[(k * perDraw)..<((k + 1) * perDraw)])))
                                         k += 1
                                     })
                    XCTAssertEqual(k, sampler.steps)
                    print(String(format: "%@ %@ [%@]: %d steps, worst step max|a-b|/max|b| = %.2e (≤ %.0e)", pair.name, key, path, k,
                                 worst.value, Self.tolerance))
                    worst.assertWithin(Self.tolerance, "\(pair.name) \(key) [\(path)]")
                }
                ledger.inputs(["\(key)/xT", "\(key)/noise", "\(key)/trajectory", "\(key)/timesteps", "\(key)/y", "\(key)/scale"])
                checked += 1
            }
            ledger.checkedElsewhere(["x", "t", "y", "out", "act/", "cfg/", "complete_out", "attn_masks", "mlp_masks",
                                     "token_masks", "token_logits", "tdw/", "flops/"], by: "DiTParityTests/DyDiTParityTests")
            ledger.checkedElsewhere(["train/", "grad/"], by: "GradientParityTests")
            ledger.finish()
        }
        XCTAssertGreaterThan(checked, 0, "no sample/* trajectories in \(ReferenceVectors.directory)")
        print("DiT sampler parity: \(checked) cases, \(guided) guided")
    }

    /// Case names are read, never guessed: an unknown form fails the parity test above.
    func testCaseNamesParse() {
        XCTAssertEqual(Case("ddpm_10")?.guided, false)
        XCTAssertEqual(Case("ddim05_cfg_250")?.steps, 250)
        XCTAssertEqual(Case("ddim05_cfg_250")?.guided, true)
        XCTAssertNil(Case("ddpm"))
        XCTAssertNil(Case("ddpm_x_10"))
    }
}
