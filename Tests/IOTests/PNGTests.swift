import XCTest
import DyDiTIO

final class PNGTests: TemporaryDirectoryTestCase {
    func testGrayAndRGBRoundTrip() throws {
        for channels in [1, 3] {
            let (w, h) = (5, 3)
            let pixels = (0..<(w * h * channels)).map { UInt8(($0 * 37) % 256) }
            let image = Image(width: w, height: h, channels: channels, pixels: pixels)
            try PNGFile.write(image, to: path("i\(channels).png"))
            XCTAssertEqual(try PNGFile.read(path("i\(channels).png")), image)
        }
    }

    func testGridPlacesTilesWithMarginsAndMapsValues() {
        // Two 1×2 gray images in a row, margin 1: width 1 + 2 + 1 + 2 + 1 = 7, height 3.
        let grid = ImageGrid.compose([-1, 1, 0, 2], count: 2, channels: 1, height: 1, width: 2, columns: 2, margin: 1, background: 9)
        XCTAssertEqual(grid.width, 7)
        XCTAssertEqual(grid.height, 3)
        XCTAssertEqual(Array(grid.pixels[7..<14]), [9, 0, 255, 9, 128, 255, 9])
        XCTAssertEqual(grid.pixels[0..<7].allSatisfy { $0 == 9 }, true)
    }

    func testSideBySidePutsEachClassOnItsRowAndEachSetOnItsSide() {
        // 1×1 gray images, labels 1, 0, 1 (class 0 has one image, class 1 two): rows are
        // classes 0 and 1, two columns per half, margin 1, gap 2 with divider 50.
        // One half: width 1 + 2·(1 + 1) = 5, height 1 + 2·(1 + 1) = 5; whole: 5 + 2 + 5.
        let left: [Float] = [1, 0, 1], right: [Float] = [-1, 1, 0]
        let g = ImageGrid.sideBySide(left, right, labels: [1, 0, 1], channels: 1, height: 1, width: 1, gap: 2, margin: 1, divider: 50)
        XCTAssertEqual(g.width, 12)
        XCTAssertEqual(g.height, 5)
        func at(_ x: Int, _ y: Int) -> UInt8 { g.pixels[y * g.width + x] }
        // Row of class 0 (y 1): left image 1 (value 0 → 128), then an empty tile (black).
        XCTAssertEqual([at(1, 1), at(3, 1)], [128, 0])
        // Row of class 1 (y 3): left images 0 and 2 in label order.
        XCTAssertEqual([at(1, 3), at(3, 3)], [255, 255])
        // The right half starts after the gap: the same places, the other set's values.
        XCTAssertEqual([at(8, 1), at(10, 1), at(8, 3), at(10, 3)], [255, 0, 0, 128])
        XCTAssertEqual([at(5, 0), at(6, 4)], [50, 50])
    }

    func testNotAPNG() throws {
        try writeBytes(Array("hello".utf8), "x.png")
        XCTAssertThrowsError(try PNGFile.read(path("x.png"))) { XCTAssertTrue("\($0)".contains("x.png")) }
    }
}
