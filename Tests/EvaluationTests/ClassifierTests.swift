import DyDiTEvaluation
import DyDiTIO
import DyDiTKernels
import DyDiTTraining
import ReferenceSupport
import XCTest

/// The classifier's gradients against central differences, its file format, and the
/// conversions between PyTorch's layout and the GEMMs'.
final class ClassifierTests: XCTestCase {
    var tiny: ClassifierArchitecture {
        var a = ClassifierArchitecture()
        a.inputSize = 9
        a.convs = [.init(inChannels: 1, outChannels: 3, stride: 1), .init(inChannels: 3, outChannels: 4, stride: 2)]
        a.featureSize = 6
        a.numClasses = 3
        return a
    }

    /// The optimised forward and backward against the Double reference on every ISA build
    /// (the same weights, in PyTorch's layout through `stateDict`), and the reference's own
    /// gradient against central differences in Double.
    func testGradientsAgainstScalarReference() throws {
        var rng = RandomGenerator(seed: 9)
        let batch = 5
        let x = rng.normals(batch * 81).map { max(-1, min(1, $0 * 0.6)) }
        let labels = [0, 2, 1, 1, 0]
        var reference: ClassifierReference?
        var referenceGrads: [String: [Double]] = [:]
        var referenceLoss = 0.0
        for isa in CPUFeatures.current.supported {
            let ctx = try ComputeContext(threads: 2, isa: isa)
            let m = FashionClassifier.initialized(tiny, seed: 5, ctx: ctx)
            if reference == nil {
                reference = ClassifierReference(a: tiny, weights: m.stateDict().mapValues { $0.map(Double.init) })
                (referenceLoss, referenceGrads) = reference!.lossAndGradients(x.map(Double.init), labels: labels)
            }
            let grads = m.parameters.zerosLike()
            let (loss, _) = m.lossAndGradients(x, labels: labels, into: grads)
            assertClose(loss, referenceLoss, relative: 1e-5, "\(isa): loss")
            for (name, got) in m.stateDict(grads).sorted(by: { $0.key < $1.key }) {
                let err = assertClose(got, referenceGrads[name]!, tolerance: 1e-4, "\(isa) \(name) gradient")
                print(String(format: "%@ %@: max|a-b|/max|b| = %.2e", isa.rawValue, name, err))
            }
        }
        // The reference's gradient along random directions against central differences.
        let r = try XCTUnwrap(reference)
        for (name, g) in referenceGrads.sorted(by: { $0.key < $1.key }) {
            let v = (0..<g.count).map { _ in Double(rng.normal()) }
            let eps = 1e-6
            var plus = r, minus = r
            plus.weights[name] = zip(r.weights[name]!, v).map { $0 + eps * $1 }
            minus.weights[name] = zip(r.weights[name]!, v).map { $0 - eps * $1 }
            let numeric = (plus.lossAndGradients(x.map(Double.init), labels: labels).0
                           - minus.lossAndGradients(x.map(Double.init), labels: labels).0) / (2 * eps)
            let analytic = zip(g, v).reduce(0) { $0 + $1.0 * $1.1 }
            assertClose(analytic, numeric, absolute: 1e-7, relative: 1e-5, "reference \(name): central difference")
        }
    }

    /// Written in PyTorch's layout, read back into the GEMMs' layout: the same function.
    func testSaveLoadRoundTripAndLayout() throws {
        let ctx = try ComputeContext(threads: 1)
        let m = FashionClassifier.initialized(tiny, seed: 2, ctx: ctx)
        let dir = NSTemporaryDirectory() + "classifier-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try m.save(to: "\(dir)/c.safetensors")
        let back = try FashionClassifier.load("\(dir)/c.safetensors", ctx: ctx)
        XCTAssertEqual(back.architecture, tiny)
        XCTAssertEqual(back.fingerprint, m.fingerprint)
        var rng = RandomGenerator(seed: 4)
        let x = rng.normals(3 * 81)
        XCTAssertEqual(back.evaluate(x, count: 3).features, m.evaluate(x, count: 3).features)
        // conv1's PyTorch weight [o, c, ky, kx] sits at [o, (ky, kx, c)] in compute layout.
        let file = try SafeTensorsFile(path: "\(dir)/c.safetensors")
        let torch = try file.floats("conv2.weight", shape: [4, 3, 3, 3])
        let compute = m.parameters["conv2.weight"]
        let torchIndex = ((1 * 3 + 2) * 3 + 0) * 3 + 1  // o 1, c 2, ky 0, kx 1
        let computeIndex = 1 * 27 + (0 * 3 + 1) * 3 + 2  // o 1, (ky 0, kx 1), c 2
        XCTAssertEqual(torch[torchIndex], compute[computeIndex])
        // fc1's PyTorch input index c·s² + p is compute index p·C + c (s = 5 after conv2, C = 4).
        let fcTorch = try file.floats("fc1.weight", shape: [6, 100])
        let fcCompute = m.parameters["fc1.weight"]
        XCTAssertEqual(fcTorch[200 + 75 + 7], fcCompute[200 + 28 + 3])
    }

    /// The same seed and thread count train the same classifier, bit for bit; and it learns.
    func testTrainingIsDeterministicAndLearns() throws {
        var rng = RandomGenerator(seed: 8)
        // Two classes a small CNN tells apart: bright upper half or bright lower half, with noise.
        var pixels: [UInt8] = [], labels: [Int] = []
        for i in 0..<256 {
            let label = i % 2
            labels.append(label)
            for y in 0..<28 { for _ in 0..<28 {
                let bright = (y < 14) == (label == 0)
                pixels.append(UInt8(max(0, min(255, (bright ? 180 : 40) + Int(rng.normal() * 40)))))
            } }
        }
        let data = ImageDataset(name: "halves", width: 28, height: 28, channels: 1, pixels: pixels, labels: labels, classNames: ["upper", "lower"])
        var settings = ClassifierTraining()
        settings.epochs = 2
        settings.batch = 32
        settings.warmupSteps = 4
        var runs: [[Float]] = []
        var accuracy = 0.0
        for _ in 0..<2 {
            let model = try ClassifierTrainer.train(settings, train: data, test: data, ctx: try ComputeContext(threads: 2),
                                                    progress: { accuracy = $0.testAccuracy })
            runs.append(Array(UnsafeBufferPointer(start: model.parameters.pointer, count: model.parameters.count)))
        }
        XCTAssertEqual(runs[0], runs[1])
        XCTAssertGreaterThan(accuracy, 0.95)
    }

    func testBadFilesAreClearErrors() throws {
        let ctx = try ComputeContext(threads: 1)
        let dir = NSTemporaryDirectory() + "classifier-bad-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try SafeTensorsWriter.write([("x", Tensor([1] as [Float], shape: [1]))], to: "\(dir)/plain.safetensors")
        XCTAssertThrowsError(try FashionClassifier.load("\(dir)/plain.safetensors", ctx: ctx)) { error in
            XCTAssertTrue("\(error)".contains("no metadata 'classifier'"), "\(error)")
        }
        let m = FashionClassifier.initialized(tiny, seed: 2, ctx: ctx)
        m.parameters["fc2.bias"] = [0, .nan, 0]
        try m.save(to: "\(dir)/nan.safetensors")
        XCTAssertThrowsError(try FashionClassifier.load("\(dir)/nan.safetensors", ctx: ctx)) { error in
            XCTAssertTrue("\(error)".contains("fc2.bias") && "\(error)".contains("non-finite"), "\(error)")
        }
    }
}
