/// Finds a key given twice in one JSON object. json-c keeps the last value silently, so a spec
/// or a safetensors header with `"steps": 20, …, "steps": 50` would run with 50 and nobody
/// would know; we make it an error instead. One linear pass over a document json-c has
/// already accepted (so the scanner can trust the syntax).
enum JSONDuplicateKeys {
    struct Duplicate: Equatable {
        let key: String
        /// The JSON path of the second occurrence (`$.sampler.steps`).
        let path: String
        let line: Int, column: Int
        let firstLine: Int, firstColumn: Int
    }

    static func first(in bytes: UnsafeRawBufferPointer) -> Duplicate? {
        var scanner = Scanner(bytes: bytes)
        scanner.skipSpace()
        return scanner.value()
    }

    /// One step of a JSON path; the path is formatted only when a duplicate is reported.
    private enum Step {
        case key(String)
        case element(Int)
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var i = 0, line = 1, column = 1
        var path: [Step] = []

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        /// Columns count characters (UTF-8 lead bytes), as the parser's error positions do.
        mutating func advance() {
            if bytes[i] == 0x0A { line += 1; column = 1 } else if bytes[i] & 0xC0 != 0x80 { column += 1 }
            i += 1
        }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { advance() }
        }

        func formatted(_ steps: [Step]) -> String {
            steps.reduce("$") { p, step in
                switch step {
                case let .key(k): return JSONLocator.child(p, k)
                case let .element(n): return JSONLocator.element(p, n)
                }
            }
        }

        /// Scans one value; nesting depth is bounded by json-c's limit (32), so recursion is safe.
        mutating func value() -> Duplicate? {
            guard i < bytes.count else { return nil }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                advance()
                skipSpace()
                // Small objects (most) compare against a list; large ones use a dictionary.
                var few: [(key: String, line: Int, column: Int)] = []
                var many: [String: (Int, Int)] = [:]
                while i < bytes.count, bytes[i] != UInt8(ascii: "}") {
                    let (keyLine, keyColumn) = (line, column)
                    let key = string()
                    let first = few.count < 16 ? few.first { $0.key == key }.map { ($0.line, $0.column) } : many[key]
                    if let (l, c) = first {
                        return Duplicate(key: key, path: formatted(path + [.key(key)]), line: keyLine, column: keyColumn,
                                         firstLine: l, firstColumn: c)
                    }
                    if few.count < 16 {
                        few.append((key, keyLine, keyColumn))
                        if few.count == 16 { for f in few { many[f.key] = (f.line, f.column) } }
                    } else {
                        many[key] = (keyLine, keyColumn)
                    }
                    skipSpace()
                    if i < bytes.count, bytes[i] == UInt8(ascii: ":") { advance() }
                    skipSpace()
                    path.append(.key(key))
                    if let found = value() { return found }
                    path.removeLast()
                    skipSpace()
                    if i < bytes.count, bytes[i] == UInt8(ascii: ",") { advance(); skipSpace() }
                }
                if i < bytes.count { advance() }
            case UInt8(ascii: "["):
                advance()
                skipSpace()
                var index = 0
                while i < bytes.count, bytes[i] != UInt8(ascii: "]") {
                    path.append(.element(index))
                    if let found = value() { return found }
                    path.removeLast()
                    index += 1
                    skipSpace()
                    if i < bytes.count, bytes[i] == UInt8(ascii: ",") { advance(); skipSpace() }
                }
                if i < bytes.count { advance() }
            case UInt8(ascii: "\""):
                _ = string()
            default:
                while i < bytes.count, !Self.endsScalar(bytes[i]) { advance() }
            }
            return nil
        }

        static func endsScalar(_ b: UInt8) -> Bool {
            b == UInt8(ascii: ",") || b == UInt8(ascii: "]") || b == UInt8(ascii: "}") || b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09
        }

        /// A string token, fully unescaped (`"a"` and `"\u0061"` are the same key).
        mutating func string() -> String {
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return "" }
            advance()
            var raw: [UInt8] = []
            var pendingHigh: UInt32?
            while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                guard bytes[i] == UInt8(ascii: "\\"), i + 1 < bytes.count else {
                    raw.append(bytes[i])
                    advance()
                    continue
                }
                advance()
                let escape = bytes[i]
                advance()
                var scalar: UInt32
                switch escape {
                case UInt8(ascii: "n"): scalar = 0x0A
                case UInt8(ascii: "t"): scalar = 0x09
                case UInt8(ascii: "r"): scalar = 0x0D
                case UInt8(ascii: "b"): scalar = 0x08
                case UInt8(ascii: "f"): scalar = 0x0C
                case UInt8(ascii: "u"):
                    scalar = 0
                    for _ in 0..<4 where i < bytes.count {
                        scalar = scalar &* 16 &+ UInt32(Self.hexValue(bytes[i]))
                        advance()
                    }
                default: scalar = UInt32(escape)
                }
                // A UTF-16 surrogate pair written as two escapes is one character.
                if (0xD800...0xDBFF).contains(scalar) { pendingHigh = scalar; continue }
                if let high = pendingHigh, (0xDC00...0xDFFF).contains(scalar) {
                    scalar = 0x10000 + ((high - 0xD800) << 10) + (scalar - 0xDC00)
                }
                pendingHigh = nil
                raw += Array(String(UnicodeScalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8)
            }
            if i < bytes.count { advance() }
            return String(decoding: raw, as: UTF8.self)
        }

        static func hexValue(_ b: UInt8) -> UInt8 {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
            default: return 0
            }
        }
    }
}
