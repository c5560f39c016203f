import CPNG

/// An 8-bit image: gray (1 channel) or RGB (3), rows top to bottom, channels interleaved.
public struct Image: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public let channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(channels == 1 || channels == 3, "images are gray (1 channel) or RGB (3)")
        precondition(pixels.count == width * height * channels, "pixel count does not match the size")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }
}

/// PNG through libpng's simplified `png_image_*` API (Swift cannot call `setjmp`, which the
/// classic API needs for error handling).
public enum PNGFile {
    public static func write(_ image: Image, to path: String) throws {
        var png = png_image()
        png.version = png_uint_32(PNG_IMAGE_VERSION)
        png.width = png_uint_32(image.width)
        png.height = png_uint_32(image.height)
        png.format = image.channels == 3 ? png_uint_32(PNG_FORMAT_RGB) : png_uint_32(PNG_FORMAT_GRAY)
        let stride = Int32(image.width * image.channels)
        var size: png_alloc_size_t = 0
        // First call sizes the buffer, second fills it.
        let sized = image.pixels.withUnsafeBytes { px in
            png_image_write_to_memory(&png, nil, &size, 0, px.baseAddress, stride, nil)
        }
        guard sized != 0 else { throw IOError(path, "cannot encode PNG: \(message(&png))") }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let written = bytes.withUnsafeMutableBytes { out in
            image.pixels.withUnsafeBytes { px in
                png_image_write_to_memory(&png, out.baseAddress, &size, 0, px.baseAddress, stride, nil)
            }
        }
        guard written != 0 else { throw IOError(path, "cannot encode PNG: \(message(&png))") }
        try AtomicFile.write(Array(bytes.prefix(Int(size))), to: path)
    }

    /// The most decoded bytes a PNG may take (16384 × 16384 RGB is 768 MiB).
    public static let maxDecodedBytes = 1 << 30

    /// Reads a PNG as gray when it has no colour, else as RGB (alpha composited on black).
    public static func read(_ path: String) throws -> Image {
        try decode(try FileReader.read(path), path: path)
    }

    /// Decodes PNG bytes (`path` names them in errors).
    public static func decode(_ bytes: [UInt8], path: String) throws -> Image {
        var bytes = bytes
        var png = png_image()
        png.version = png_uint_32(PNG_IMAGE_VERSION)
        let begun = bytes.withUnsafeMutableBytes { png_image_begin_read_from_memory(&png, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw IOError(path, "not a readable PNG: \(message(&png))") }
        let color = png.format & png_uint_32(PNG_FORMAT_FLAG_COLOR) != 0
        png.format = color ? png_uint_32(PNG_FORMAT_RGB) : png_uint_32(PNG_FORMAT_GRAY)
        let channels = color ? 3 : 1
        let width = Int(png.width), height = Int(png.height)
        if let problem = implausibleSize(width: width, height: height, channels: channels, fileBytes: bytes.count) {
            png_image_free(&png)
            throw IOError(path, problem)
        }
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        let finished = pixels.withUnsafeMutableBytes { out in
            png_image_finish_read(&png, nil, out.baseAddress, Int32(width * channels), nil)
        }
        guard finished != 0 else { throw IOError(path, "cannot decode PNG: \(message(&png))") }
        return Image(width: width, height: height, channels: channels, pixels: pixels)
    }

    /// Why a header's size cannot be believed, checked before the pixels are allocated: a
    /// 69-byte file may claim 10⁶ × 10⁶ pixels (a terabyte). Besides a fixed cap, the file must
    /// be large enough to hold the image: every row is at least a filter byte and one bit per
    /// pixel, and deflate compresses at most 1032 : 1.
    static func implausibleSize(width: Int, height: Int, channels: Int, fileBytes: Int) -> String? {
        let decoded = Double(width) * Double(height) * Double(channels)
        if decoded > Double(maxDecodedBytes) {
            return "claims \(width)×\(height) pixels (\(Int(decoded / 1_048_576)) MiB decoded), over the \(maxDecodedBytes >> 20) MiB limit for an image"
        }
        let minimumRaw = Double(height) * (1 + Double((width + 7) / 8))
        if minimumRaw > 1032 * Double(fileBytes) + 1024 {
            return "claims \(width)×\(height) pixels, which cannot fit in its \(fileBytes) bytes: a corrupt or malicious header"
        }
        return nil
    }

    private static func message(_ png: inout png_image) -> String {
        withUnsafeBytes(of: &png.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

/// Tiles of images in a grid, as torchvision's `save_image(normalize=True, value_range=(-1, 1))`
/// does for DiT samples.
public enum ImageGrid {
    /// - Parameters:
    ///   - samples: `[n, channels, height, width]` floats, mapped from [-1, 1] to 0…255
    ///     (`clamp(round-half-up((x + 1) / 2 · 255))`, torchvision's rule).
    ///   - columns: tiles per row (torchvision's `nrow`).
    ///   - margin: pixels between tiles and around the grid, filled with `background`.
    public static func compose(_ samples: [Float], count n: Int, channels: Int, height: Int, width: Int,
                               columns: Int, margin: Int = 2, background: UInt8 = 0) -> Image {
        precondition(channels == 1 || channels == 3, "grids are gray or RGB")
        precondition(samples.count == n * channels * height * width)
        let cols = max(1, min(columns, n))
        let rows = (n + cols - 1) / cols
        let gw = cols * (width + margin) + margin
        let gh = rows * (height + margin) + margin
        var pixels = [UInt8](repeating: background, count: gw * gh * channels)
        for s in 0..<n {
            let top = margin + (s / cols) * (height + margin)
            let left = margin + (s % cols) * (width + margin)
            for c in 0..<channels {
                for y in 0..<height {
                    for x in 0..<width {
                        let v = samples[((s * channels + c) * height + y) * width + x]
                        pixels[((top + y) * gw + left + x) * channels + c] = toByte(v)
                    }
                }
            }
        }
        return Image(width: gw, height: gh, channels: channels, pixels: pixels)
    }

    /// [-1, 1] → 0…255 as torchvision: `(x + 1) / 2`, clamp to [0, 1], `·255 + 0.5`, truncate.
    @inline(__always) public static func toByte(_ v: Float) -> UInt8 {
        let unit = min(max((v + 1) / 2, 0), 1)
        return v.isNaN ? 0 : UInt8(unit * 255 + 0.5)
    }
}
