import DyDiTEvaluation
import DyDiTIO
import DyDiTKernels
import DyDiTTraining
import ReferenceSupport
import XCTest

/// What `dydit metrics` accepts as images, and the clear errors for what it does not.
final class ImageSourceTests: XCTestCase {
    var dir = ""
    let a = ClassifierArchitecture()

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "image-source-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func expectError(_ fragments: [String], line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), line: line) { error in
            for f in fragments { XCTAssertTrue("\(error)".contains(f), "'\(f)' missing in: \(error)", line: line) }
        }
    }

    func samples(_ path: String, _ values: [Float], shape: [Int], classes: [Int64]? = nil, classShape: [Int]? = nil) throws {
        var t = [("samples", Tensor(values, shape: shape))]
        if let classes { t.append(("classes", Tensor(classes, shape: classShape ?? [classes.count]))) }
        try SafeTensorsWriter.write(t, to: path)
    }

    /// A 32×32 sample is the DiT's canvas: its centre 28×28 is what the classifier sees, rounded
    /// to 8 bits as a PNG would store it.
    func testCanvasCropAndQuantization() throws {
        var rng = RandomGenerator(seed: 1)
        let canvas = rng.normals(32 * 32).map { $0 * 0.7 }
        try samples("\(dir)/s.safetensors", canvas, shape: [1, 1, 32, 32], classes: [3])
        let set = try ImageSource.load("\(dir)/s.safetensors", a)
        XCTAssertEqual(set.count, 1)
        XCTAssertEqual(set.classes, [3])
        for y in 0..<28 {
            for x in 0..<28 {
                let v = min(1, max(-1, canvas[(y + 2) * 32 + x + 2]))
                XCTAssertEqual(set.images[y * 28 + x], ((v + 1) * 127.5).rounded() / 127.5 - 1)
            }
        }
    }

    func testBadInputs() throws {
        let p = "\(dir)/bad.safetensors"
        try samples(p, [Float](repeating: .nan, count: 784), shape: [1, 1, 28, 28])
        expectError(["non-finite", "sample 0"]) { _ = try ImageSource.load(p, a) }
        try samples(p, [Float](repeating: 0, count: 3 * 784), shape: [1, 3, 28, 28])
        expectError(["3-channel"]) { _ = try ImageSource.load(p, a) }
        try samples(p, [Float](repeating: 0, count: 30 * 30), shape: [1, 1, 30, 30])
        expectError(["30×30", "not resampled"]) { _ = try ImageSource.load(p, a) }
        try samples(p, [Float](repeating: 0, count: 784), shape: [1, 1, 784, 1])
        expectError(["square"]) { _ = try ImageSource.load(p, a) }
        try samples(p, [], shape: [0, 1, 28, 28])
        expectError(["no images"]) { _ = try ImageSource.load(p, a) }
        try samples(p, [Float](repeating: 0, count: 2 * 784), shape: [2, 1, 28, 28], classes: [1, 10])
        expectError(["classes[1] is 10", "0…9"]) { _ = try ImageSource.load(p, a) }
        try samples(p, [Float](repeating: 0, count: 2 * 784), shape: [2, 1, 28, 28], classes: [1], classShape: [1])
        expectError(["'classes'", "I64 [2]"]) { _ = try ImageSource.load(p, a) }
        try SafeTensorsWriter.write([("images", Tensor([Float](repeating: 0, count: 784), shape: [1, 1, 28, 28]))], to: p)
        expectError(["no tensor 'samples'", "images"]) { _ = try ImageSource.load(p, a) }
        expectError(["does not exist"]) { _ = try ImageSource.load("\(dir)/missing.safetensors", a) }
        expectError(["not a dataset reference"]) { _ = try ImageSource.load("fashion-mnist:validation", a) }
        expectError(["not found", "Fashion-MNIST test split"]) { _ = try ImageSource.load("fashion-mnist:test:5", a, dataDirectory: dir) }
        if FileReader.exists("\(ImageDataset.fashionMNISTDirectory)/t10k-images-idx3-ubyte.gz") {
            expectError(["asks for '0' images"]) { _ = try ImageSource.load("fashion-mnist:test:0", a) }
            expectError(["asks for '10001' images"]) { _ = try ImageSource.load("fashion-mnist:test:10001", a) }
        }
        // A PNG folder: empty, then mixed sizes.
        let folder = "\(dir)/pngs"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        expectError(["no .png files"]) { _ = try ImageSource.load(folder, a) }
        try PNGFile.write(Image(width: 28, height: 28, channels: 1, pixels: [UInt8](repeating: 0, count: 784)), to: "\(folder)/a.png")
        try PNGFile.write(Image(width: 32, height: 32, channels: 1, pixels: [UInt8](repeating: 0, count: 1024)), to: "\(folder)/b.png")
        expectError(["b.png", "32×32", "share one size"]) { _ = try ImageSource.load(folder, a) }
    }

    /// The same images as a samples file and as a PNG folder score alike (both 8-bit).
    func testSamplesFileAndPNGFolderAgree() throws {
        var rng = RandomGenerator(seed: 2)
        let values = rng.normals(3 * 784).map { max(-1, min(1, $0 * 0.5)) }
        try samples("\(dir)/s.safetensors", values, shape: [3, 1, 28, 28])
        let folder = "\(dir)/pngs"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for i in 0..<3 {
            let pixels = values[(i * 784)..<((i + 1) * 784)].map { UInt8(((min(1, max(-1, $0)) + 1) * 127.5).rounded()) }
            try PNGFile.write(Image(width: 28, height: 28, channels: 1, pixels: pixels), to: "\(folder)/\(i).png")
        }
        XCTAssertEqual(try ImageSource.load("\(dir)/s.safetensors", a).images, try ImageSource.load(folder, a).images)
    }

    /// An empty or one-image set is a clear error from the metrics, not a crash or a NaN.
    func testTooFewImagesForAMetric() throws {
        let ctx = try ComputeContext(threads: 1)
        let evaluator = QualityEvaluator(classifier: FashionClassifier.initialized(seed: 1, ctx: ctx), cacheDirectory: nil)
        let one = ImageSet(name: "one", count: 1, images: [Float](repeating: 0, count: 784), classes: nil)
        let many = ImageSet(name: "many", count: 5, images: [Float](repeating: 0, count: 5 * 784), classes: [0, 1, 2, 3, 4])
        for metric in ["fd", "kid", "precision", "recall"] {
            XCTAssertThrowsError(try evaluator.evaluate(one, metrics: [metric]) { many }, metric)
        }
        XCTAssertEqual(try evaluator.evaluate(many, metrics: ["class-accuracy"]) { many }.map(\.key), ["class_accuracy"])
        XCTAssertThrowsError(try evaluator.evaluate(one, metrics: ["class-accuracy"]) { many }) { error in
            XCTAssertTrue("\(error)".contains("needs the classes"), "\(error)")
        }
        XCTAssertThrowsError(try evaluator.evaluate(many, metrics: ["fid"]) { many }) { error in
            XCTAssertTrue("\(error)".contains("unknown metric 'fid'"), "\(error)")
        }
    }

    /// Reference features are cached on disk, keyed by the classifier's weights and the images:
    /// the second scoring reads the cache (and gives the same features); another classifier or
    /// other images miss it.
    func testReferenceFeaturesAreCachedByClassifierAndImages() throws {
        let ctx = try ComputeContext(threads: 1)
        var rng = RandomGenerator(seed: 6)
        let set = ImageSet(name: "r", count: 4, images: rng.normals(4 * 784).map { max(-1, min(1, $0)) }, classes: [0, 1, 2, 3])
        let other = ImageSet(name: "r", count: 4, images: set.images.map { -$0 }, classes: set.classes)
        let a = QualityEvaluator(classifier: FashionClassifier.initialized(seed: 1, ctx: ctx), cacheDirectory: "\(dir)/cache")
        let b = QualityEvaluator(classifier: FashionClassifier.initialized(seed: 2, ctx: ctx), cacheDirectory: "\(dir)/cache")
        let (first, cached1) = try a.scoreReference(set)
        let (second, cached2) = try a.scoreReference(set)
        XCTAssertFalse(cached1)
        XCTAssertTrue(cached2)
        XCTAssertEqual(first.features.values, second.features.values)
        XCTAssertEqual(first.predictions, second.predictions)
        XCTAssertFalse(try b.scoreReference(set).cached, "another classifier")
        XCTAssertFalse(try a.scoreReference(other).cached, "other images")
    }
}
