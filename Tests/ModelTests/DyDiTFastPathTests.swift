import DyDiTIO
import DyDiTKernels
import DyDiTModels
import ReferenceSupport
import XCTest

/// The fast path (sliced weights, gathered tokens) against the masked reference path, on
/// random configs, timesteps, batches and routers, with guidance.
final class DyDiTFastPathTests: XCTestCase {
    func testFastEqualsMaskedOnRandomConfigs() throws {
        var coverage = BuildCoverage(name)
        defer { coverage.finish() }
        var rng = RandomGenerator(seed: 42)
        let configs = [
            DiTConfig(inputSize: 8, patchSize: 2, inChannels: 4, hiddenSize: 64, depth: 2, numHeads: 4, numClasses: 10),
            DiTConfig(inputSize: 12, patchSize: 2, inChannels: 3, hiddenSize: 48, depth: 3, numHeads: 3, numClasses: 5, learnSigma: false),
            DiTConfig(inputSize: 16, patchSize: 4, inChannels: 1, hiddenSize: 96, depth: 2, numHeads: 6, numClasses: 7, mlpRatio: 2),
        ]
        var checked = 0
        for (ci, c) in configs.enumerated() {
            let params = DiTParameters.initialized(c, seed: UInt64(ci), .random)
            let routers = RouterParameters.mixed(c, seed: UInt64(10 + ci))
            for isa in CPUFeatures.current.supported {
                coverage.ran(isa.rawValue)
                for threads in [1, 2] {
                    let ctx = try ComputeContext(threads: threads, isa: isa)
                    let model = DiT(params, ctx: ctx)
                    let learned = (LearnedWidthRouter(routers, isa: isa) as WidthRouter, LearnedTokenRouter(routers) as TokenRouter)
                    let choices: [(String, WidthRouter?, () throws -> TokenRouter?)] = [
                        ("tdw+sdt", learned.0, { learned.1 }),
                        ("tdw", learned.0, { nil }),
                        ("sdt", nil, { learned.1 }),
                        ("random", try RandomWidthRouter(config: c, keep: 0.5, seed: 3), { try RandomTokenRouter(keep: 0.6, seed: 4) }),
                    ]
                    for (name, width, token) in choices {
                        for batch in [1, 3] {
                            let x = rng.normals(batch * c.imageSize)
                            let t = (0..<batch).map { _ in Float(rng.below(1000)) }
                            let y = (0..<batch).map { _ in rng.below(c.numClasses + 1) }
                            // Fresh token routers per path so random ones draw the same masks.
                            let maskedRecord = RoutingRecord(batch: batch, config: c, routerOutputs: c.numHeads - 1)
                            let fastRecord = RoutingRecord(batch: batch, config: c, routerOutputs: c.numHeads - 1)
                            let masked = try model.forward(x: x, t: t, y: y, routing: Routing(width: width, token: try token(), fast: false),
                                                           record: maskedRecord)
                            let fast = try model.forward(x: x, t: t, y: y, routing: Routing(width: width, token: try token(), fast: true),
                                                         record: fastRecord)
                            let label = "config \(ci) \(isa) \(threads)t \(name) batch \(batch)"
                            XCTAssertLessThanOrEqual(relativeError(fast, masked), 1e-5, label)
                            XCTAssertEqual(fastRecord.attnMasks, maskedRecord.attnMasks, label)
                            XCTAssertEqual(fastRecord.tokenMasks, maskedRecord.tokenMasks, label)
                            checked += 1
                        }
                        // Guidance: cond and uncond halves share t, so one width pattern; token masks differ.
                        let half = rng.normals(c.imageSize)
                        let t: [Float] = [Float(rng.below(1000)), 0], y = [1, c.numClasses]
                        let tt = [t[0], t[0]]
                        let masked = try model.forwardWithCFG(x: half + half, t: tt, y: y, scale: 4,
                                                              routing: Routing(width: width, token: try token(), fast: false))
                        let fast = try model.forwardWithCFG(x: half + half, t: tt, y: y, scale: 4,
                                                            routing: Routing(width: width, token: try token(), fast: true))
                        XCTAssertLessThanOrEqual(relativeError(fast, masked), 1e-5, "config \(ci) \(isa) \(name) cfg")
                    }
                }
            }
        }
        print("fast path equals masked path on \(checked) random cases")
    }

    func testSliceCacheIsBoundedAndReported() throws {
        let c = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 4, hiddenSize: 64, depth: 2, numHeads: 4, numClasses: 10)
        let model = DiT(DiTParameters.initialized(c, seed: 1, .random), ctx: try ComputeContext(threads: 1), sliceBudgetBytes: 150_000)
        let width = try RandomWidthRouter(config: c, keep: 0.5, seed: 9)
        var rng = RandomGenerator(seed: 2)
        for step in 0..<20 {
            _ = try model.forward(x: rng.normals(c.imageSize), t: [Float(step * 50)], y: [0], routing: Routing(width: width))
            XCTAssertLessThanOrEqual(model.slices.bytes, 150_000)
        }
        XCTAssertGreaterThan(model.slices.uncached, 0, "20 random patterns (40–64 kB a slice) should overflow a 150 kB budget")
        print("slice cache: \(model.slices.count) entries, \(model.slices.bytes) bytes, \(model.slices.builds) built, \(model.slices.uncached) not kept")
    }
}
