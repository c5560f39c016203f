import DyDiTIO
import DyDiTTraining
import Foundation
import XCTest

/// Datasets and batches on small synthetic files (the real Fashion-MNIST is only used by
/// training runs, not by the unit tests).
final class DataTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dydit-data-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// Five 3×2 images whose pixel (r, c) of image i is 10·i + 3·r + c, labels i mod 3.
    func writeSynthetic(gz: Bool = true) throws {
        var pixels: [UInt8] = []
        for i in 0..<5 { for r in 0..<3 { for c in 0..<2 { pixels.append(UInt8(10 * i + 3 * r + c)) } } }
        let ext = gz ? ".gz" : ""
        try IDXFile.write(shape: [5, 3, 2], bytes: pixels, to: "\(dir)/train-images-idx3-ubyte\(ext)")
        try IDXFile.write(shape: [5], bytes: (0..<5).map { UInt8($0 % 3) }, to: "\(dir)/train-labels-idx1-ubyte\(ext)")
    }

    func testIDXRoundTripCompressedAndPlain() throws {
        for gz in [true, false] {
            try writeSynthetic(gz: gz)
            let d = try ImageDataset.fashionMNIST(directory: dir)
            XCTAssertEqual(d.count, 5)
            XCTAssertEqual([d.width, d.height, d.channels], [2, 3, 1])
            XCTAssertEqual(d.labels, [0, 1, 2, 0, 1])
            XCTAssertEqual(Array(d.pixels[6..<12]), [10, 11, 13, 14, 16, 17])
            XCTAssertEqual(d.classNames, ["T-shirt/top", "Trouser", "Pullover"])
            for f in try FileManager.default.contentsOfDirectory(atPath: dir) { try FileManager.default.removeItem(atPath: "\(dir)/\(f)") }
        }
    }

    func testIDXErrorsNameTheFileAndTheProblem() throws {
        let path = "\(dir)/bad-idx"
        try AtomicFile.write([0, 0, 0x0D, 1, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8], to: path)
        XCTAssertThrowsError(try IDXFile(path: path)) { XCTAssert("\($0)".contains(path) && "\($0)".contains("0xd"), "\($0)") }
        try AtomicFile.write([0, 0, 8, 1, 0, 0, 0, 9, 1, 2], to: path)
        XCTAssertThrowsError(try IDXFile(path: path)) { XCTAssert("\($0)".contains("truncated"), "\($0)") }
        try AtomicFile.write(Array("hello world".utf8), to: path)
        XCTAssertThrowsError(try IDXFile(path: path)) { XCTAssert("\($0)".contains("not an IDX file"), "\($0)") }
        XCTAssertThrowsError(try ImageDataset.fashionMNIST(directory: "\(dir)/nowhere")) { XCTAssert("\($0)".contains("not found"), "\($0)") }
        // Labels that do not match the images.
        try writeSynthetic()
        try IDXFile.write(shape: [4], bytes: [0, 1, 2, 3], to: "\(dir)/train-labels-idx1-ubyte.gz")
        XCTAssertThrowsError(try ImageDataset.fashionMNIST(directory: dir)) { XCTAssert("\($0)".contains("[4] labels for 5 images"), "\($0)") }
    }

    func testBatchesArePaddedNormalisedShuffledAndFlipped() throws {
        try writeSynthetic()
        let data = try ImageDataset.fashionMNIST(directory: dir)
        var loader = try BatchLoader(dataset: data, batch: 2, inputSize: 4, channels: 1, flip: false, seed: 9)
        XCTAssertEqual(loader.batchesPerEpoch, 2)
        var rng = RandomGenerator(seed: 1)
        var seen: [Int] = []
        for _ in 0..<2 {
            let (x, y) = loader.next(&rng)
            XCTAssertEqual(x.count, 2 * 16)
            for b in 0..<2 {
                let image = Array(x[(b * 16)..<(b * 16 + 16)])
                // 3×2 centred in 4×4: rows 0…2 (top = 0), columns 1…2.
                let i = (Int(((image[1] + 1) * 127.5).rounded()) / 10)
                seen.append(i)
                XCTAssertEqual(y[b], data.labels[i])
                for r in 0..<4 {
                    for c in 0..<4 {
                        let inside = r < 3 && (1...2).contains(c)
                        let want = inside ? Float(10 * i + 3 * r + (c - 1)) / 127.5 - 1 : -1
                        XCTAssertEqual(image[r * 4 + c], want, accuracy: 1e-6, "image \(i) (\(r), \(c))")
                    }
                }
            }
        }
        XCTAssertEqual(Set(seen).count, 4, "an epoch draws distinct images")
        XCTAssertEqual(loader.epoch, 0)
        _ = loader.next(&rng)
        XCTAssertEqual(loader.epoch, 1, "the last partial batch is dropped")

        // The same seed and position give the same batches; seek reproduces a position.
        var a = try BatchLoader(dataset: data, batch: 2, inputSize: 4, channels: 1, flip: true, seed: 5)
        var b = a
        var ra = RandomGenerator(seed: 2), rb = RandomGenerator(seed: 2)
        for _ in 0..<3 { _ = a.next(&ra) }
        b.seek(epoch: a.epoch, batch: a.batchInEpoch)
        rb = ra
        XCTAssertEqual(a.next(&ra).x0, b.next(&rb).x0)

        // Flips mirror columns: over many draws both orientations appear.
        var flipped = 0, straight = 0
        var f = try BatchLoader(dataset: data, batch: 1, inputSize: 3, channels: 3, flip: true, seed: 3)
        for _ in 0..<40 {
            let (x, _) = f.next(&rng)
            XCTAssertEqual(x.count, 3 * 3 * 3)
            if x[0] < x[1] { straight += 1 } else { flipped += 1 }
            XCTAssertEqual(x[2], -1, "padding on the right of a 2-wide image")
            XCTAssertEqual(Array(x[0..<9]), Array(x[9..<18]), "a gray image feeds every channel")
        }
        XCTAssert(flipped > 5 && straight > 5, "flipped \(flipped), straight \(straight)")
    }

    func testBatchLoaderRefusesWhatItCannotFeed() throws {
        try writeSynthetic()
        let data = try ImageDataset.fashionMNIST(directory: dir)
        XCTAssertThrowsError(try BatchLoader(dataset: data, batch: 6, inputSize: 4, channels: 1, flip: false, seed: 0)) {
            XCTAssert("\($0)".contains("fewer than one batch"), "\($0)")
        }
        XCTAssertThrowsError(try BatchLoader(dataset: data, batch: 2, inputSize: 2, channels: 1, flip: false, seed: 0)) {
            XCTAssert("\($0)".contains("padded, never resized"), "\($0)")
        }
    }

    func testImageFolder() throws {
        for (name, value) in [("cat", UInt8(200)), ("ant", UInt8(50))] {
            try FileManager.default.createDirectory(atPath: "\(dir)/pets/\(name)", withIntermediateDirectories: true)
            for k in 0..<2 {
                let rgb = Image(width: 3, height: 2, channels: 3, pixels: [UInt8](repeating: value &+ UInt8(k), count: 18))
                try PNGFile.write(rgb, to: "\(dir)/pets/\(name)/\(k).png")
            }
        }
        let gray = try ImageDataset.imageFolder("\(dir)/pets", channels: 1)
        XCTAssertEqual(gray.classNames, ["ant", "cat"])
        XCTAssertEqual(gray.labels, [0, 0, 1, 1])
        XCTAssertEqual([gray.width, gray.height, gray.channels], [3, 2, 1])
        XCTAssertEqual(gray.pixels[0], 50)
        XCTAssertEqual(gray.pixels[6 * 3], 201)
        let colour = try ImageDataset.imageFolder("\(dir)/pets", channels: 3)
        XCTAssertEqual(colour.pixels.count, 4 * 18)
        try FileManager.default.createDirectory(atPath: "\(dir)/empty/none", withIntermediateDirectories: true)
        XCTAssertThrowsError(try ImageDataset.imageFolder("\(dir)/empty", channels: 1)) { XCTAssert("\($0)".contains("no .png"), "\($0)") }
    }
}
