/// Sample grids a person can read: upscaled (a 28-pixel garment is a speck at 1:1), one
/// column per class with the class named under it, and dense | DyDiT comparisons with their
/// rows named and their halves titled. Text is white on the black grid background.
extension Image {
    /// Every pixel as a `factor`×`factor` square (nearest neighbour: no new values).
    public func upscaled(by factor: Int) -> Image {
        precondition(factor >= 1, "an upscale factor is at least 1")
        guard factor > 1 else { return self }
        let w = width * factor, h = height * factor
        var out = [UInt8](repeating: 0, count: w * h * channels)
        for y in 0..<h {
            let src = (y / factor) * width
            for x in 0..<w {
                for c in 0..<channels { out[(y * w + x) * channels + c] = pixels[(src + x / factor) * channels + c] }
            }
        }
        return Image(width: w, height: h, channels: channels, pixels: out)
    }

    /// A black image: the background of the label bands.
    static func black(width: Int, height: Int, channels: Int) -> Image {
        Image(width: width, height: height, channels: channels, pixels: [UInt8](repeating: 0, count: width * height * channels))
    }

    /// `self` above `below` (equal widths and channels).
    func stacked(above below: Image) -> Image {
        precondition(width == below.width && channels == below.channels)
        return Image(width: width, height: height + below.height, channels: channels, pixels: pixels + below.pixels)
    }

    /// `self` left of `right` (equal heights and channels).
    func placed(leftOf right: Image) -> Image {
        precondition(height == right.height && channels == right.channels)
        var out: [UInt8] = []
        out.reserveCapacity((width + right.width) * height * channels)
        for y in 0..<height {
            out += pixels[(y * width * channels)..<((y + 1) * width * channels)]
            out += right.pixels[(y * right.width * channels)..<((y + 1) * right.width * channels)]
        }
        return Image(width: width + right.width, height: height, channels: channels, pixels: out)
    }
}

extension ImageGrid {
    /// The font scale that goes with a grid upscaled by `scale`: text about a quarter of a tile.
    public static func fontScale(forGridScale scale: Int) -> Int { max(1, scale / 2) }

    /// One column per class, in the order the classes first appear in `labels`, one row per
    /// repeat (a class with fewer images leaves black tiles at the bottom of its column), the
    /// grid upscaled by `scale`, and each class's name under its column (wrapped to the column).
    /// - Parameters:
    ///   - samples: `[n, channels, height, width]` floats in [-1, 1], image i of class `labels[i]`.
    ///   - names: the text under class c's column, e.g. "TROUSER" or "CLASS 3".
    public static func byClass(_ samples: [Float], labels: [Int], channels: Int, height: Int, width: Int,
                               names: (Int) -> String, scale: Int = 1, margin: Int = 2) -> Image {
        let n = labels.count, tile = channels * height * width
        precondition(samples.count == n * tile, "one image per label")
        var order: [Int] = []
        var column: [Int: Int] = [:], filled: [Int] = []
        for label in labels where column[label] == nil {
            column[label] = order.count
            order.append(label)
            filled.append(0)
        }
        let cols = max(1, order.count)
        var rowOf = [Int](repeating: 0, count: n)
        for (i, label) in labels.enumerated() {
            rowOf[i] = filled[column[label]!]
            filled[column[label]!] += 1
        }
        let rows = max(1, filled.max() ?? 1)
        // -1 is black after the [-1, 1] → 0…255 mapping.
        var tiles = [Float](repeating: -1, count: rows * cols * tile)
        for i in 0..<n {
            let slot = rowOf[i] * cols + column[labels[i]]!
            tiles.replaceSubrange((slot * tile)..<((slot + 1) * tile), with: samples[(i * tile)..<((i + 1) * tile)])
        }
        let grid = compose(tiles, count: rows * cols, channels: channels, height: height, width: width,
                           columns: cols, margin: margin).upscaled(by: scale)
        return grid.stacked(above: columnLabels(order.map(names), width: grid.width, channels: channels,
                                                 pitch: (width + margin) * scale, offset: margin * scale,
                                                 fontScale: fontScale(forGridScale: scale)))
    }

    /// A band `width` pixels wide with `labels[i]` centred under the column that starts at
    /// `offset + i·pitch` and is `pitch − offset` wide; long labels wrap onto more lines.
    static func columnLabels(_ labels: [String], width: Int, channels: Int, pitch: Int, offset: Int, fontScale s: Int) -> Image {
        let room = pitch - offset
        let lines = labels.map { BitmapFont.wrap($0, width: room, scale: s) }
        let lineHeight = (BitmapFont.glyphHeight + 3) * s
        let height = max(1, lines.map(\.count).max() ?? 0) * lineHeight + 2 * s
        var band = Image.black(width: width, height: height, channels: channels)
        for (i, text) in lines.enumerated() {
            for (j, line) in text.enumerated() {
                let x = offset + i * pitch + (room - BitmapFont.width(of: line, scale: s)) / 2
                BitmapFont.draw(line, into: &band, x: x, y: s + j * lineHeight, scale: s)
            }
        }
        return band
    }

    /// `grid` with a band on its left naming each row (`labels[i]` centred on the row that starts
    /// at `offset + i·pitch`), and a band on top with `titles`, each centred over its x range of
    /// the grid.
    static func labelled(_ grid: Image, rowLabels labels: [String], pitch: Int, offset: Int,
                         titles: [(text: String, columns: Range<Int>)], fontScale s: Int) -> Image {
        let widest = labels.map { BitmapFont.width(of: $0, scale: s) }.max() ?? 0
        let bandWidth = labels.isEmpty ? 0 : widest + 4 * s
        var left = Image.black(width: bandWidth, height: grid.height, channels: grid.channels)
        for (i, label) in labels.enumerated() {
            let y = offset + i * pitch + (pitch - offset - BitmapFont.glyphHeight * s) / 2
            BitmapFont.draw(label, into: &left, x: bandWidth - 2 * s - BitmapFont.width(of: label, scale: s), y: y, scale: s)
        }
        let body = bandWidth > 0 ? left.placed(leftOf: grid) : grid
        guard !titles.isEmpty else { return body }
        let height = (BitmapFont.glyphHeight + 4) * s
        var top = Image.black(width: body.width, height: height, channels: grid.channels)
        for title in titles {
            let x = bandWidth + title.columns.lowerBound + (title.columns.count - BitmapFont.width(of: title.text, scale: s)) / 2
            BitmapFont.draw(title.text, into: &top, x: x, y: 2 * s, scale: s)
        }
        return top.stacked(above: body)
    }
}
