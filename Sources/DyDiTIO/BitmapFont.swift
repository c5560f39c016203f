/// A 5×7 bitmap font (upper case, digits, common punctuation) for labels on sample grids, so
/// a grid names its classes without a font library (the package links libpng, json-c and zlib
/// only). Lower case is drawn as upper case; a character without a glyph is drawn as "?".
/// The glyphs were drawn for this project in the style of the classic 5×7 LCD character sets.
public enum BitmapFont {
    public static let glyphWidth = 5
    public static let glyphHeight = 7
    /// Pixels from one character's left edge to the next's (one column of space), at scale 1.
    public static let advance = 6

    /// Each glyph's 7 rows, top first; bit 4 is the leftmost pixel.
    static let glyphs: [Character: [UInt8]] = Dictionary(uniqueKeysWithValues: table)
    static let table: [(Character, [UInt8])] = [
        (" ", [0, 0, 0, 0, 0, 0, 0]),
        ("A", [0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001]),
        ("B", [0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110]),
        ("C", [0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110]),
        ("D", [0b11110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11110]),
        ("E", [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111]),
        ("F", [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000]),
        ("G", [0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111]),
        ("H", [0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001]),
        ("I", [0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110]),
        ("J", [0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100]),
        ("K", [0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001]),
        ("L", [0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111]),
        ("M", [0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001]),
        ("N", [0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001]),
        ("O", [0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110]),
        ("P", [0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000]),
        ("Q", [0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101]),
        ("R", [0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001]),
        ("S", [0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110]),
        ("T", [0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100]),
        ("U", [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110]),
        ("V", [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100]),
        ("W", [0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010]),
        ("X", [0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001]),
        ("Y", [0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100, 0b00100]),
        ("Z", [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111]),
        ("0", [0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110]),
        ("1", [0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110]),
        ("2", [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111]),
        ("3", [0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110]),
        ("4", [0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010]),
        ("5", [0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110]),
        ("6", [0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110]),
        ("7", [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000]),
        ("8", [0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110]),
        ("9", [0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100]),
        ("-", [0b00000, 0b00000, 0b00000, 0b01110, 0b00000, 0b00000, 0b00000]),
        ("/", [0b00000, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b00000]),
        (".", [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b01100]),
        (",", [0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b00100, 0b01000]),
        (":", [0b00000, 0b01100, 0b01100, 0b00000, 0b01100, 0b01100, 0b00000]),
        ("(", [0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0b00100, 0b00010]),
        (")", [0b01000, 0b00100, 0b00010, 0b00010, 0b00010, 0b00100, 0b01000]),
        ("=", [0b00000, 0b00000, 0b11111, 0b00000, 0b11111, 0b00000, 0b00000]),
        ("+", [0b00000, 0b00100, 0b00100, 0b11111, 0b00100, 0b00100, 0b00000]),
        ("|", [0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100]),
        ("%", [0b11000, 0b11001, 0b00010, 0b00100, 0b01000, 0b10011, 0b00011]),
        ("_", [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b11111]),
        ("?", [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b00000, 0b00100]),
    ]

    /// The characters the font draws as themselves (after upper-casing).
    public static var characters: Set<Character> { Set(glyphs.keys) }

    /// The rows of `character`'s glyph (upper-cased; "?" when the font lacks it).
    public static func glyph(_ character: Character) -> [UInt8] {
        glyphs[Character(character.uppercased())] ?? glyphs["?"]!
    }

    /// The width in pixels of `text` drawn at `scale` (no trailing space column).
    public static func width(of text: String, scale: Int = 1) -> Int {
        text.isEmpty ? 0 : (text.count * advance - 1) * scale
    }

    /// Draws `text` with its top-left corner at (`x`, `y`), each font pixel a `scale`×`scale`
    /// square of `value` in every channel; pixels outside the image are skipped.
    public static func draw(_ text: String, into image: inout Image, x: Int, y: Int, scale: Int = 1, value: UInt8 = 255) {
        precondition(scale >= 1, "a font scale is at least 1")
        for (i, character) in text.enumerated() {
            let rows = glyph(character)
            let left = x + i * advance * scale
            for (r, bits) in rows.enumerated() {
                for c in 0..<glyphWidth where bits & (1 << (glyphWidth - 1 - c)) != 0 {
                    for dy in 0..<scale {
                        let py = y + r * scale + dy
                        guard py >= 0, py < image.height else { continue }
                        for dx in 0..<scale {
                            let px = left + c * scale + dx
                            guard px >= 0, px < image.width else { continue }
                            for ch in 0..<image.channels { image.pixels[(py * image.width + px) * image.channels + ch] = value }
                        }
                    }
                }
            }
        }
    }

    /// `text` in lines no wider than `width` pixels at `scale`: broken after spaces, "/" and
    /// "-" where it can be, a word that still does not fit cut to the width.
    public static func wrap(_ text: String, width: Int, scale: Int = 1) -> [String] {
        let perLine = max(1, (width / scale + 1) / advance)
        var words: [String] = []
        var current = ""
        for character in text {
            current.append(character)
            if character == " " || character == "/" || character == "-" {
                words.append(current)
                current = ""
            }
        }
        if !current.isEmpty { words.append(current) }
        var lines: [String] = []
        var line = ""
        for word in words {
            if (line + word).trimmingTrailingSpaces.count <= perLine {
                line += word
            } else {
                if !line.isEmpty { lines.append(line.trimmingTrailingSpaces) }
                line = String(word.prefix(perLine))
                if word.count > perLine, word.last == " " { line = line.trimmingTrailingSpaces }
            }
        }
        if !line.trimmingTrailingSpaces.isEmpty { lines.append(line.trimmingTrailingSpaces) }
        return lines
    }
}

extension String {
    fileprivate var trimmingTrailingSpaces: String {
        var s = Substring(self)
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
