/// Two sample sets drawn from the same noise, side by side with one row per class: the
/// left set's images of that class, a divider, the right set's. This is how a run shows the
/// dense model beside DyDiT: a reader compares each image with its twin at the same place
/// across the divider.
extension ImageGrid {
    /// - Parameters:
    ///   - left, right: `[n, channels, height, width]` floats in [-1, 1], image i of both
    ///     from the same noise and label.
    ///   - labels: the class of each image; rows follow the classes in increasing order, and
    ///     a class with fewer images than the widest row leaves black tiles at its end.
    ///   - divider: the gray value of the `gap` pixels between the two halves.
    ///   - names: when given, each row's class named on the left (e.g. "TROUSER").
    ///   - titles: when given, the halves' titles above them (e.g. "DENSE", "DYDIT").
    ///   - scale: the whole grid upscaled by this factor (nearest neighbour) before labelling.
    public static func sideBySide(_ left: [Float], _ right: [Float], labels: [Int], channels: Int, height: Int, width: Int,
                                  gap: Int = 6, margin: Int = 2, divider: UInt8 = 128, names: ((Int) -> String)? = nil,
                                  titles: (left: String, right: String)? = nil, scale: Int = 1) -> Image {
        let n = labels.count, tile = channels * height * width
        precondition(left.count == n * tile && right.count == n * tile, "both sets hold one image per label")
        let classes = Array(Set(labels)).sorted()
        let rowOf = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        var column = [Int](repeating: 0, count: classes.count)
        var place = [Int](repeating: 0, count: n)
        for (i, label) in labels.enumerated() {
            let r = rowOf[label]!
            place[i] = column[r]
            column[r] += 1
        }
        let cols = max(1, column.max() ?? 1), rows = max(1, classes.count)
        func half(_ set: [Float]) -> Image {
            // -1 is black after the [-1, 1] → 0…255 mapping: empty tiles stay dark.
            var tiles = [Float](repeating: -1, count: rows * cols * tile)
            for i in 0..<n {
                let slot = rowOf[labels[i]]! * cols + place[i]
                tiles.replaceSubrange((slot * tile)..<((slot + 1) * tile), with: set[(i * tile)..<((i + 1) * tile)])
            }
            return compose(tiles, count: rows * cols, channels: channels, height: height, width: width,
                           columns: cols, margin: margin)
        }
        let a = half(left), b = half(right)
        let w = a.width + gap + b.width
        var pixels = [UInt8](repeating: divider, count: w * a.height * channels)
        for y in 0..<a.height {
            let row = y * w * channels
            for x in 0..<(a.width * channels) { pixels[row + x] = a.pixels[y * a.width * channels + x] }
            let right = row + (a.width + gap) * channels
            for x in 0..<(b.width * channels) { pixels[right + x] = b.pixels[y * b.width * channels + x] }
        }
        let grid = Image(width: w, height: a.height, channels: channels, pixels: pixels).upscaled(by: scale)
        guard names != nil || titles != nil else { return grid }
        let halves: [(text: String, columns: Range<Int>)] = titles.map {
            [($0.left, 0..<(a.width * scale)), ($0.right, ((a.width + gap) * scale)..<(w * scale))]
        } ?? []
        return labelled(grid, rowLabels: names.map { name in classes.map(name) } ?? [], pitch: (height + margin) * scale,
                        offset: margin * scale, titles: halves, fontScale: fontScale(forGridScale: scale))
    }
}
