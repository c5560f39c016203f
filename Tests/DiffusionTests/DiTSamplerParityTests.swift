import DyDiTDiffusion
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import ReferenceSupport
import XCTest

/// The official DiT sampling loops (`p_sample_loop` and `ddim_sample_loop` on a 10-step
/// respaced schedule), driven by our DiT forward with the recorded noise: every step of
/// every `sample/*` trajectory within 1e-4.
final class DiTSamplerParityTests: XCTestCase {
    static let tolerance: Float = 1e-4

    func testTrajectoriesMatchOfficialLoops() throws {
        let pairs = try ReferenceVectors.pairs()
        var checked = 0
        for pair in pairs {
            let io = try SafeTensorsFile(path: pair.io)
            let kinds = Set(io.names.filter { $0.hasPrefix("sample/") }.map { String($0.split(separator: "/")[1]) })
            if kinds.isEmpty { continue }
            let ckpt = try Checkpoint(path: pair.weights)
            let c = ckpt.config
            let model = DiT(ckpt.parameters, ctx: try ComputeContext(threads: 2))
            let ledger = ReferenceLedger(io, label: pair.name)
            for kind in kinds.sorted() {
                let key = "sample/\(kind)"
                guard let underscore = kind.lastIndex(of: "_"), let steps = Int(kind[kind.index(after: underscore)...]) else {
                    XCTFail("\(pair.name): unknown sampler case '\(kind)'")
                    continue
                }
                let variance: DiTDiffusion.VarianceType = c.learnSigma ? .learnedRange : .fixedLarge
                let diffusion = try DiTDiffusion(respacing: "\(steps)", varianceType: variance)
                let sampler: Sampler
                switch kind[..<underscore] {
                case "ddpm": sampler = DiTDDPM(diffusion)
                case "ddim0": sampler = try DiTDDIM(diffusion, eta: 0)
                case "ddim05": sampler = try DiTDDIM(diffusion, eta: 0.5)
                default:
                    XCTFail("\(pair.name): unknown sampler case '\(kind)'")
                    continue
                }
                XCTAssertEqual(sampler.timesteps, try io.tensor("\(key)/timesteps").integers().map { Int($0) }, "\(pair.name) \(kind) timesteps")
                let noise = try io.tensor("\(key)/noise")
                let perDraw = noise.count / noise.shape[0]
                let draws = noise.floats()
                let loop = SamplingLoop(model: model, sampler: sampler)
                let want = try io.tensor("\(key)/trajectory").floats()
                var worst: Float = 0
                var k = 0
                _ = try loop.run(xT: try io.tensor("\(key)/xT").floats(), labels: try io.tensor("\(key)/y").integers().map { Int($0) },
                                 noise: .supplied((0..<noise.shape[0]).map { Array(draws[($0 * perDraw)..<(($0 + 1) * perDraw)]) }),
                                 observer: { x in
                                     let ref = Array(want[(k * perDraw)..<((k + 1) * perDraw)])
                                     worst = max(worst, relativeError(x.map { Float($0) }, ref))
                                     k += 1
                                 })
                XCTAssertEqual(k, sampler.steps)
                print(String(format: "%@ %@: %d steps, worst step max|a-b|/max|b| = %.2e (≤ %.0e)", pair.name, key, k,
                             Double(worst), Double(Self.tolerance)))
                XCTAssertLessThanOrEqual(worst, Self.tolerance, "\(pair.name) \(key)")
                ledger.inputs(["\(key)/xT", "\(key)/noise", "\(key)/trajectory", "\(key)/timesteps", "\(key)/y"])
                checked += 1
            }
            ledger.checkedElsewhere(["x", "t", "y", "out", "act/", "cfg/", "complete_out", "attn_masks", "mlp_masks",
                                     "token_masks", "token_logits", "tdw/", "flops/"], by: "DiTParityTests/DyDiTParityTests")
            ledger.checkedElsewhere(["train/", "grad/"], by: "GradientParityTests")
            ledger.finish()
        }
        XCTAssertGreaterThan(checked, 0, "no sample/* trajectories in \(ReferenceVectors.directory)")
    }
}
