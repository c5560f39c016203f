/// A walk over the text of a JSON document json-c has already accepted (so the walk can trust
/// the syntax), reporting each value and each object key with its JSON path and its line and
/// column. json-c gives positions only for syntax errors; `JSONLocator` (positions for errors
/// found after parsing) and `JSONDuplicateKeys` (keys json-c would silently overwrite) both
/// read the text through this one tokenizer.
struct JSONTextWalk {
    /// One step of a JSON path; formatted (`$.a[2]`) only when asked.
    enum Step {
        case key(String)
        case element(Int)
    }

    enum Event {
        /// A value starts; `path` is its own path.
        case value(path: [Step], line: Int, column: Int)
        /// An object starts or ends (keys in between belong to it).
        case objectStart, objectEnd
        /// A key of the innermost open object (whose path is `object`), before its value.
        case key(String, object: [Step], line: Int, column: Int)
    }

    private let bytes: UnsafeRawBufferPointer
    private var i = 0, line = 1, column = 1
    private var path: [Step] = []

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    static func formatted(_ steps: [Step]) -> String {
        steps.reduce("$") { p, step in
            switch step {
            case let .key(k): return JSONLocator.child(p, k)
            case let .element(n): return JSONLocator.element(p, n)
            }
        }
    }

    /// Walks the whole document, calling `visit` in document order; stops early when `visit`
    /// returns false. Returns whether the walk reached the end.
    @discardableResult
    mutating func walk(_ visit: (Event) -> Bool) -> Bool {
        skipSpace()
        return value(visit)
    }

    /// Columns count characters (UTF-8 lead bytes), as the parser's error positions do.
    private mutating func advance() {
        if bytes[i] == 0x0A { line += 1; column = 1 } else if bytes[i] & 0xC0 != 0x80 { column += 1 }
        i += 1
    }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { advance() }
    }

    /// One value; nesting depth is bounded by json-c's limit (32), so recursion is safe.
    private mutating func value(_ visit: (Event) -> Bool) -> Bool {
        guard i < bytes.count else { return true }
        guard visit(.value(path: path, line: line, column: column)) else { return false }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            advance()
            skipSpace()
            guard visit(.objectStart) else { return false }
            while i < bytes.count, bytes[i] != UInt8(ascii: "}") {
                let (keyLine, keyColumn) = (line, column)
                let key = string()
                guard visit(.key(key, object: path, line: keyLine, column: keyColumn)) else { return false }
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: ":") { advance() }
                skipSpace()
                path.append(.key(key))
                guard value(visit) else { return false }
                path.removeLast()
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: ",") { advance(); skipSpace() }
            }
            if i < bytes.count { advance() }
            guard visit(.objectEnd) else { return false }
        case UInt8(ascii: "["):
            advance()
            skipSpace()
            var index = 0
            while i < bytes.count, bytes[i] != UInt8(ascii: "]") {
                path.append(.element(index))
                guard value(visit) else { return false }
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
        return true
    }

    private static func endsScalar(_ b: UInt8) -> Bool {
        b == UInt8(ascii: ",") || b == UInt8(ascii: "]") || b == UInt8(ascii: "}") || b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09
    }

    /// A string token, fully unescaped (`"a"` and `"\u0061"` are the same key, as json-c reads them).
    private mutating func string() -> String {
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

    private static func hexValue(_ b: UInt8) -> UInt8 {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return 0
        }
    }
}
