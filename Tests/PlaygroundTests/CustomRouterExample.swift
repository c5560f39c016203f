import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTPlayground
import XCTest

// The README's worked example, compiled: a new width router is one type…

/// Keeps the first `count` heads and MLP groups of every block (a prefix, for comparison
/// with TDW's free subsets).
final class PrefixWidthRouter: WidthRouter, WidthRouterPlugin {
    static let name = "prefix"
    static let summary = "the first `count` heads and MLP groups of every block"
    static let options = [PluginOption("count", .int(1), "units kept per block",
                                       check: OptionCheck(failure: "is below 1") { ($0.intValue ?? 0) >= 1 })]
    static func make(_ o: PluginOptions, _ c: PluginContext) throws -> WidthRouter? {
        PrefixWidthRouter(config: c.config, count: o.int("count"))
    }

    let name = "prefix"
    let config: DiTConfig
    let count: Int
    init(config: DiTConfig, count: Int) {
        self.config = config
        self.count = count
    }

    func decide(te: UnsafePointer<Float>, t: [Float], attn: UnsafeMutablePointer<Float>, mlp: UnsafeMutablePointer<Float>,
                logits: (attn: UnsafeMutablePointer<Float>, mlp: UnsafeMutablePointer<Float>)?, ctx: ComputeContext) {
        let nh = config.numHeads
        for row in 0..<(t.count * config.depth) {
            for u in 0..<nh {
                attn[row * nh + u] = u < count ? 1 : 0
                mlp[row * nh + u] = u < count ? 1 : 0
            }
        }
    }
}

// …and one line in `Registry.widthRouters` (`PrefixWidthRouter.self`), which this test
// cannot add to the library's list; it checks the type works as the registry would use it.
final class CustomRouterExampleTests: XCTestCase {
    func testTheExampleRouterRuns() throws {
        let c = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 4, hiddenSize: 32, depth: 2, numHeads: 4, numClasses: 3)
        let ctx = try ComputeContext(threads: 1)
        let context = PluginContext(config: c, routers: RouterParameters.initialized(c, seed: 0), isa: ctx.isa, seed: 0,
                                    resolvePath: { $0 })
        let router = try XCTUnwrap(try PrefixWidthRouter.make(PluginOptions(values: .init([("count", .int(2))])), context))
        let model = DiT(DiTParameters.initialized(c, seed: 1, .random), ctx: ctx)
        let record = RoutingRecord(batch: 1, config: c, routerOutputs: 3)
        _ = try model.forward(x: [Float](repeating: 0.1, count: c.imageSize), t: [5], y: [1], routing: Routing(width: router), record: record)
        XCTAssertEqual(record.attnMasks, [1, 1, 0, 0, 1, 1, 0, 0])
        // The declared check is what the spec decoder and --router-option apply.
        XCTAssertEqual(PrefixWidthRouter.options[0].problem(with: .int(0)), "0 is below 1")
        XCTAssertNil(PrefixWidthRouter.options[0].problem(with: .int(3)))
    }
}
