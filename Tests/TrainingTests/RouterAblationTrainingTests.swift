import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTTraining
import ReferenceSupport
import XCTest

/// The paper's router ablations as fine-tunes: each mode learns what it routes and leaves the
/// rest as it was — TDW only never touches the token routers, SDT only never the width routers,
/// a static width keeps the width routers' weights at zero (so its masks cannot depend on t),
/// and whole-layer skip learns the token routers through the layer's vote.
final class RouterAblationTrainingTests: XCTestCase {
    /// A tiny DyDiT, eight random images, and routers whose biases sit near 0 so that both
    /// routers' decisions move and the FLOPs target pulls on them.
    static func tinyFineTune() -> (config: DiTConfig, data: ImageDataset, routers: RouterParameters, params: DiTParameters) {
        let c = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 1, hiddenSize: 32, depth: 2, numHeads: 4, numClasses: 2)
        var rng = RandomGenerator(seed: 3)
        let pixels = (0..<(8 * 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let data = ImageDataset(name: "random", width: 8, height: 8, channels: 1, pixels: pixels, labels: [0, 1, 0, 1, 0, 1, 0, 1],
                                classNames: ["a", "b"])
        return (c, data, RouterParameters.initialized(c, seed: 1, widthBias: 0.5, tokenBias: 0.5), DiTParameters.initialized(c, seed: 2, .random))
    }

    func testEachModeLearnsOnlyItsRouters() throws {
        let (c, data, routers, params) = Self.tinyFineTune()
        let cases: [(String, WidthLearning, TokenLearning)] = [
            ("tdw+sdt", .dynamic, .dynamic), ("tdw only", .dynamic, .off), ("sdt only", .off, .dynamic),
            ("static width", .static, .dynamic), ("tdw+layer-skip", .dynamic, .layer(threshold: 0.5)),
        ]
        for (name, width, tokens) in cases {
            let staticWidth = width == .static
            let start = staticWidth ? routers.withStaticWidth() : routers
            let model = try TrainableDiT(params, routers: start, frozen: staticWidth ? RouterParameters.widthRouterWeightNames(c) : [],
                                         ctx: try ComputeContext(threads: 1))
            var settings = TrainingSettings()
            settings.batch = 4
            settings.adam.learningRate = 1e-2
            var f = TrainingSettings.FineTuning(lambda: LambdaSchedule(target: 0.3, holdSteps: 0, rampSteps: 1), completeModelSteps: 1)
            f.width = width
            f.tokens = tokens
            settings.dydit = f
            let trainer = try Trainer(model: model, loader: try BatchLoader(dataset: data, batch: 4, inputSize: 8, channels: 1, flip: false,
                                                                            seed: 4), settings: settings)
            var ratios: [Double] = []
            for _ in 0..<5 { ratios.append(try XCTUnwrap(trainer.trainStep().flopsRatio, name)) }
            let after = try XCTUnwrap(model.routerParameters(), name)
            func moved(_ select: (String) -> Bool) -> Bool {
                start.tensors.keys.filter(select).contains { after.tensors[$0]! != start.tensors[$0]! }
            }
            let widthWeights = RouterParameters.widthRouterWeightNames(c)
            XCTAssertEqual(moved { RouterParameters.isWidthRouterTensor($0) }, width != .off, "\(name): width routers moved")
            XCTAssertEqual(moved { RouterParameters.isTokenRouterTensor($0) }, tokens != .off, "\(name): token routers moved")
            if staticWidth {
                XCTAssertFalse(moved { widthWeights.contains($0) }, "\(name): the width routers' weights stay frozen")
                XCTAssertTrue(widthWeights.allSatisfy { after.tensors[$0]!.allSatisfy { $0 == 0 } }, name)
            }
            XCTAssertTrue(ratios.allSatisfy { $0.isFinite && $0 > 0 && $0 <= 1 }, "\(name): FLOPs ratios \(ratios)")
            // The routed part's share is what a mode can cut: with everything routed off but
            // one kind, the ratio still moves below 1 during these steps.
            XCTAssertLessThan(ratios.min()!, 1, "\(name): the routers never cut any work: \(ratios)")
        }
    }

    func testNothingToLearnIsRefused() throws {
        let c = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 1, hiddenSize: 32, depth: 1, numHeads: 2, numClasses: 2)
        let data = ImageDataset(name: "one", width: 8, height: 8, channels: 1, pixels: [UInt8](repeating: 0, count: 64), labels: [0],
                                classNames: ["a"])
        let model = try TrainableDiT(DiTParameters.initialized(c, seed: 0), routers: RouterParameters.initialized(c, seed: 0),
                                     ctx: try ComputeContext(threads: 1))
        var settings = TrainingSettings()
        settings.batch = 1
        var f = TrainingSettings.FineTuning(lambda: LambdaSchedule(target: 0.5, holdSteps: 0, rampSteps: 1), completeModelSteps: 0)
        f.width = .off
        f.tokens = .off
        settings.dydit = f
        let loader = try BatchLoader(dataset: data, batch: 1, inputSize: 8, channels: 1, flip: false, seed: 0)
        XCTAssertThrowsError(try Trainer(model: model, loader: loader, settings: settings)) {
            XCTAssertTrue("\($0)".contains("nothing to learn"), "\($0)")
        }
        // A static width on a model whose width-router weights are trainable is a programming error, said plainly.
        f.width = .static
        f.tokens = .dynamic
        settings.dydit = f
        XCTAssertThrowsError(try Trainer(model: model, loader: loader, settings: settings)) {
            XCTAssertTrue("\($0)".contains("frozen at zero"), "\($0)")
        }
    }
}
