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

    func testNotAPNG() throws {
        try writeBytes(Array("hello".utf8), "x.png")
        XCTAssertThrowsError(try PNGFile.read(path("x.png"))) { XCTAssertTrue("\($0)".contains("x.png")) }
    }
}
