import DyDiTDiffusion
import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTTraining
import ReferenceSupport
import XCTest

/// Early exit against ASE's official code (`scripts/reference/make_early_exit_cases.py`:
/// `taehong-moon/ee-diffusion` dbe38d3, its DiT with `drop_scheduler.py`'s ten intervals):
/// the training forward (each sample leaves at its interval's block) equals our trainer's
/// forward with that many blocks, and guided DDIM and DDPM loops with the schedule equal
/// `EarlyExitPolicy`'s at every step.
final class EarlyExitParityTests: XCTestCase {
    struct Case {
        let file: SafeTensorsFile
        let params: DiTParameters
        let schedule: EarlyExitSchedule
        func floats(_ name: String) throws -> [Float] { try file.tensor(name).floats() }
    }

    func cases() throws -> [Case] {
        let files = try ReferenceVectors.files(prefix: "early_exit")
        XCTAssertFalse(files.isEmpty, "no early_exit*.safetensors in \(ReferenceVectors.extraDirectory)")
        return try files.map { path in
            let file = try SafeTensorsFile(path: path)
            let config = try DiTConfig(json: try JSONParser.parse(file.metadata["config"] ?? "", path: path), source: path)
            let exits = try XCTUnwrap(try JSONParser.parse(file.metadata["exits"] ?? "", path: path).arrayValue).compactMap { $0.intValue }.map { Int($0) }
            XCTAssertEqual(exits.count, 10, "\(path): one exit per interval of 100 timesteps")
            let tensors = try file.floats(under: "weights/")
            // drop_scheduler.py's intervals: [0, 100), [100, 200), …, [900, 1000).
            return Case(file: file, params: DiTParameters(config: config, tensors: tensors, hasNullClass: true),
                        schedule: EarlyExitSchedule(boundaries: Array(stride(from: 100, through: 900, by: 100)), depths: exits))
        }
    }

    func testTrainingForwardLeavesAtEachSamplesExit() throws {
        for k in try cases() {
            let c = k.params.config
            let x = try k.floats("train/x"), want = try k.floats("train/out")
            let t = try k.file.tensor("train/t").integers().map { Int($0) }, y = try k.file.tensor("train/y").integers().map { Int($0) }
            let model = try TrainableDiT(k.params, ctx: try ComputeContext(threads: 2))
            let out = c.imageSize / c.inChannels * c.outChannels
            var depths = Set<Int>()
            for (i, ti) in t.enumerated() {
                let blocks = k.schedule.blocks(at: Double(ti))
                depths.insert(blocks)
                model.activeBlocks = blocks
                let got = model.forward(x: Array(x[(i * c.imageSize)..<((i + 1) * c.imageSize)]), t: [Float(ti)], y: [y[i]])
                assertAllClose(got, Array(want[(i * out)..<((i + 1) * out)]), absolute: 1e-5, relative: 1e-4, "sample \(i), t = \(ti), \(blocks) blocks")
                // Leaving elsewhere gives another output: the case tells the exits apart.
                model.activeBlocks = blocks == c.depth ? 1 : c.depth
                let other = model.forward(x: Array(x[(i * c.imageSize)..<((i + 1) * c.imageSize)]), t: [Float(ti)], y: [y[i]])
                XCTAssertGreaterThan(relativeError(other, Array(want[(i * out)..<((i + 1) * out)])), 1e-2, "sample \(i)")
            }
            XCTAssertEqual(depths.count, 3, "the batch covers every exit depth")
        }
    }

    func testGuidedLoopsMatchTheOfficialCode() throws {
        var checked = 0
        for k in try cases() {
            let c = k.params.config
            let model = DiT(k.params, ctx: try ComputeContext(threads: 2))
            let kinds = Set(k.file.names.filter { $0.contains("_cfg_") }.map { String($0.split(separator: "/")[0]) })
            for key in kinds.sorted() {
                let parts = key.split(separator: "_")
                let steps = try XCTUnwrap(Int(parts.last!), key)
                let diffusion = try DiTDiffusion(respacing: "\(steps)", varianceType: c.learnSigma ? .learnedRange : .fixedLarge)
                let sampler: Sampler
                switch parts[0] {
                case "ddpm": sampler = DiTDDPM(diffusion)
                case "ddim0": sampler = try DiTDDIM(diffusion, eta: 0)
                default: XCTFail("\(key): unknown sampler"); continue
                }
                XCTAssertEqual(sampler.timesteps, try k.file.tensor("\(key)/timesteps").integers().map { Int($0) }, key)
                let xT = try k.floats("\(key)/xT"), want = try k.floats("\(key)/trajectory")
                let labels = try k.file.tensor("\(key)/y").integers().map { Int($0) }
                let perDraw = xT.count
                let noise = NoiseSource.supplied(rows(try k.floats("\(key)/noise"), count: steps))
                let guidance = Guidance(scale: try k.floats("\(key)/scale")[0], channels: .dit)
                func trajectory(_ caching: StepCachePolicy?) throws -> [[Double]] {
                    var states: [[Double]] = []
                    _ = try SamplingLoop(model: model, sampler: sampler, guidance: guidance, caching: caching)
                        .run(xT: xT, labels: labels, noise: noise, observer: { states.append($0) })
                    return states
                }
                let states = try trajectory(EarlyExitPolicy(schedule: k.schedule))
                XCTAssertEqual(states.count, steps, key)
                var worst = Worst(), apart: Float = 0
                let dense = try trajectory(nil)
                for (s, x) in states.enumerated() {
                    let w = Array(want[(s * perDraw)..<((s + 1) * perDraw)])
                    worst.record(relativeError(x, w))
                    apart = max(apart, relativeError(dense[s], w))
                }
                print(String(format: "%@: %d steps, worst step %.2e (≤ 1e-4); the dense loop up to %.2e away", key, steps, worst.value, apart))
                worst.assertWithin(1e-4, key)
                XCTAssertTrue(apart.isFinite && apart > 1e-3, "\(key): the dense loop stays within \(apart); the case cannot tell an exit from none")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 0)
    }
}
