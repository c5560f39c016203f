import DyDiTIO
import DyDiTKernels
import DyDiTModels
import XCTest

/// Weights files whose config or values used to trap or give all-NaN outputs (issue 13 §3).
final class HostileWeightsTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dydit-hostile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// `mlp_ratio: 1e19` in the config metadata: Double → Int trapped in `problems()`.
    func testHugeMLPRatioInTheMetadataIsAnError() throws {
        for ratio in ["1e19", "1e12", "-4", "1e308"] {
            let config = #"{"input_size": 8, "patch_size": 2, "in_channels": 4, "hidden_size": 32, "depth": 2, "num_heads": 2, "num_classes": 5, "learn_sigma": true, "mlp_ratio": \#(ratio)}"#
            let path = "\(dir)/w.safetensors"
            try SafeTensorsWriter.write([("x", Tensor([Float(1)], shape: [1]))], metadata: ["config": config], to: path)
            XCTAssertThrowsError(try Checkpoint(path: path), ratio) { error in
                XCTAssertTrue("\(error)".contains("w.safetensors") && "\(error)".contains("mlp_ratio"), "\(error)")
            }
        }
    }

    func testSizesPastAnyRealModelAreErrors() {
        let c = DiTConfig(inputSize: 1 << 20, patchSize: 1, inChannels: 4, hiddenSize: 1 << 30, depth: 2, numHeads: 2)
        XCTAssertTrue(c.problems().contains { $0.contains("input_size") && $0.contains("over the limit") }, "\(c.problems())")
        XCTAssertTrue(c.problems().contains { $0.contains("hidden_size") }, "\(c.problems())")
    }

    /// NaN weights gave all-NaN samples; loading names the tensor instead.
    func testNonFiniteWeightsAreNamed() throws {
        let config = DiTConfig(inputSize: 8, patchSize: 2, inChannels: 4, hiddenSize: 32, depth: 2, numHeads: 2, numClasses: 5)
        var tensors = DiTParameters.initialized(config, seed: 1).namedTensors().map { ($0.name, $0.tensor) }
        let i = tensors.firstIndex { $0.0 == "blocks.1.mlp.fc2.weight" }!
        var values = tensors[i].1.floats()
        values[7] = .nan
        values[9] = .infinity
        tensors[i].1 = Tensor(values, shape: tensors[i].1.shape)
        let path = "\(dir)/nan.safetensors"
        try SafeTensorsWriter.write(tensors, metadata: ["config": config.json.serialized()], to: path)
        XCTAssertThrowsError(try Checkpoint(path: path)) { error in
            XCTAssertTrue("\(error)".contains("tensor 'blocks.1.mlp.fc2.weight'") && "\(error)".contains("2 of 4096 values are not finite")
                          && "\(error)".contains("at index 7"), "\(error)")
        }
    }
}
