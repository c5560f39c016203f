import DyDiTIO
import XCTest

/// The bitmap font and the grids that use it: class columns named under them, upscaling, and
/// dense | dynamic comparisons with row names and titles.
final class LabeledGridTests: XCTestCase {
    private func blank(_ w: Int, _ h: Int, channels: Int = 1) -> Image {
        Image(width: w, height: h, channels: channels, pixels: [UInt8](repeating: 0, count: w * h * channels))
    }

    private func pixel(_ image: Image, _ x: Int, _ y: Int, _ c: Int = 0) -> UInt8 {
        image.pixels[(y * image.width + x) * image.channels + c]
    }

    /// Lit pixels in the rectangle.
    private func lit(_ image: Image, x: Range<Int>, y: Range<Int>) -> Int {
        var n = 0
        for yy in y { for xx in x where pixel(image, xx, yy) != 0 { n += 1 } }
        return n
    }

    func testGlyphsAreFiveBySevenAndCoverTheLabels() {
        for c in BitmapFont.characters {
            let rows = BitmapFont.glyph(c)
            XCTAssertEqual(rows.count, 7, "\(c)")
            XCTAssertTrue(rows.allSatisfy { $0 < 32 }, "\(c): wider than 5 pixels")
            XCTAssertEqual(c == " ", rows.allSatisfy { $0 == 0 }, "\(c): only the space is blank")
        }
        for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-/ " { XCTAssertTrue(BitmapFont.characters.contains(c), "\(c)") }
        for name in ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot", "CLASS 7"] {
            for c in name.uppercased() { XCTAssertTrue(BitmapFont.characters.contains(c), "\(name): '\(c)' would print as ?") }
        }
        // Distinct glyphs: no letter copied onto another by mistake.
        let shapes = BitmapFont.characters.map { BitmapFont.glyph($0) }
        XCTAssertEqual(Set(shapes.map { $0.map(String.init).joined(separator: ",") }).count, shapes.count)
        // Lower case draws as upper case, an unknown character as "?".
        XCTAssertEqual(BitmapFont.glyph("a"), BitmapFont.glyph("A"))
        XCTAssertEqual(BitmapFont.glyph("λ"), BitmapFont.glyph("?"))
    }

    func testDrawPlacesTheGlyphAtItsScale() {
        var image = blank(14, 18, channels: 3)
        BitmapFont.draw("T", into: &image, x: 2, y: 1, scale: 2, value: 200)
        // T: the top row full (5 pixels → 10 at scale 2), then the middle column.
        for x in 0..<14 {
            let inBar = (2..<12).contains(x)
            XCTAssertEqual(pixel(image, x, 1) == 200, inBar, "x \(x)")
            XCTAssertEqual(pixel(image, x, 2) == 200, inBar, "x \(x)")
            XCTAssertEqual(pixel(image, x, 0), 0)
            XCTAssertEqual(pixel(image, x, 9) == 200, (6..<8).contains(x), "x \(x)")
        }
        XCTAssertEqual(pixel(image, 6, 14, 2), 200, "every channel")
        XCTAssertEqual(pixel(image, 6, 15), 0, "7 rows at scale 2 end at y 14")
        XCTAssertEqual(lit(image, x: 0..<14, y: 0..<18), (5 + 6) * 4, "11 font pixels, each 2×2")
        // Clipped at the edges instead of writing outside the image.
        var small = blank(3, 3)
        BitmapFont.draw("WW", into: &small, x: -2, y: -2, scale: 3)
        XCTAssertEqual(small.pixels.count, 9)
        XCTAssertEqual(BitmapFont.width(of: "AB", scale: 2), 22)
        XCTAssertEqual(BitmapFont.width(of: "", scale: 2), 0)
    }

    func testWrapBreaksAtSpacesSlashesAndDashes() {
        XCTAssertEqual(BitmapFont.wrap("ANKLE BOOT", width: 59), ["ANKLE BOOT"])   // 10 characters: 59 pixels
        XCTAssertEqual(BitmapFont.wrap("ANKLE BOOT", width: 58), ["ANKLE", "BOOT"])
        XCTAssertEqual(BitmapFont.wrap("T-SHIRT/TOP", width: 47), ["T-SHIRT/", "TOP"])
        XCTAssertEqual(BitmapFont.wrap("T-SHIRT/TOP", width: 29), ["T-", "SHIRT", "TOP"])  // a word too long is cut
        XCTAssertEqual(BitmapFont.wrap("PULLOVER", width: 58, scale: 2), ["PULLO"])
        XCTAssertEqual(BitmapFont.wrap("", width: 30), [])
    }

    func testUpscaleRepeatsEachPixel() {
        let image = Image(width: 2, height: 1, channels: 1, pixels: [10, 20])
        let big = image.upscaled(by: 3)
        XCTAssertEqual(big.width, 6)
        XCTAssertEqual(big.height, 3)
        XCTAssertEqual(big.pixels, [10, 10, 10, 20, 20, 20] + [10, 10, 10, 20, 20, 20] + [10, 10, 10, 20, 20, 20])
        XCTAssertEqual(image.upscaled(by: 1), image)
    }

    /// Columns follow the classes in the order they first appear, rows the repeats; the band
    /// under the grid has text under every column and nowhere else.
    func testByClassPutsEachClassInItsColumnAndNamesIt() {
        // Three 2×2 images of classes 2, 0, 2 with values 1, 0.5, -0.5.
        let values: [Float] = [1, 0.5, -0.5]
        let samples = values.flatMap { [Float](repeating: $0, count: 4) }
        let grid = ImageGrid.byClass(samples, labels: [2, 0, 2], channels: 1, height: 2, width: 2,
                                     names: { $0 == 2 ? "BAG" : "TOP" }, scale: 3, margin: 2)
        // Tiles: 2 columns × 2 rows of (2 + 2 margin) · 3 = 12-pixel pitch, 6 pixels of margin first.
        XCTAssertEqual(grid.width, (2 * 4 + 2) * 3)
        let tileTop = { (row: Int) in 6 + row * 12 }, tileLeft = { (col: Int) in 6 + col * 12 }
        XCTAssertEqual(pixel(grid, tileLeft(0), tileTop(0)), ImageGrid.toByte(1))       // class 2, first image
        XCTAssertEqual(pixel(grid, tileLeft(0) + 5, tileTop(1) + 5), ImageGrid.toByte(-0.5)) // class 2, second
        XCTAssertEqual(pixel(grid, tileLeft(1), tileTop(0)), ImageGrid.toByte(0.5))      // class 0
        XCTAssertEqual(pixel(grid, tileLeft(1), tileTop(1)), 0, "a missing image is a black tile")
        let gridHeight = (2 * 4 + 2) * 3
        XCTAssertGreaterThan(grid.height, gridHeight, "a label band under the grid")
        let band = gridHeight..<grid.height
        XCTAssertGreaterThan(lit(grid, x: tileLeft(0)..<(tileLeft(0) + 6), y: band), 0, "BAG under column 0")
        XCTAssertGreaterThan(lit(grid, x: tileLeft(1)..<(tileLeft(1) + 6), y: band), 0, "TOP under column 1")
        XCTAssertEqual(lit(grid, x: 0..<tileLeft(0), y: band), 0)
        // The names differ, so the two columns' text differs.
        let left = (band).flatMap { y in (0..<12).map { pixel(grid, tileLeft(0) - 6 + $0, y) } }
        let right = (band).flatMap { y in (0..<12).map { pixel(grid, tileLeft(1) - 6 + $0, y) } }
        XCTAssertNotEqual(left, right)
    }

    /// With names and titles the comparison gains a left band and a top band, and the images
    /// themselves are the unlabelled comparison's, upscaled.
    func testSideBySideLabelsKeepTheImages() {
        let left: [Float] = [1, 1, 1, 1, -1, -1, -1, -1], right: [Float] = [0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5]
        let plain = ImageGrid.sideBySide(left, right, labels: [3, 1], channels: 1, height: 2, width: 2)
        let named = ImageGrid.sideBySide(left, right, labels: [3, 1], channels: 1, height: 2, width: 2,
                                         names: { "C\($0)" }, titles: ("DENSE", "DYNAMIC"), scale: 2)
        let big = plain.upscaled(by: 2)
        XCTAssertGreaterThan(named.width, big.width)
        XCTAssertGreaterThan(named.height, big.height)
        let dx = named.width - big.width, dy = named.height - big.height
        for y in 0..<big.height {
            for x in 0..<big.width { XCTAssertEqual(pixel(named, x + dx, y + dy), pixel(big, x, y), "(\(x), \(y))") }
        }
        XCTAssertGreaterThan(lit(named, x: 0..<dx, y: dy..<named.height), 0, "row names")
        XCTAssertGreaterThan(lit(named, x: dx..<named.width, y: 0..<dy), 0, "titles")
        XCTAssertEqual(ImageGrid.sideBySide(left, right, labels: [3, 1], channels: 1, height: 2, width: 2, scale: 1), plain)
    }
}
