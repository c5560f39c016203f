/// Where each value of a (valid) JSON document starts, by JSON path (`$.sampler.steps`,
/// `$.eval.classes[2]`), so errors found after parsing can still name a line and column.
/// json-c reports positions only for syntax errors; this re-scans the text once.
public struct JSONLocator: Sendable {
    public struct Position: Sendable, Equatable {
        public let line: Int
        public let column: Int
        public init(line: Int, column: Int) {
            self.line = line
            self.column = column
        }
    }

    public private(set) var positions: [String: Position] = [:]

    public init(_ bytes: [UInt8]) {
        var scanner = Scanner(bytes: bytes)
        scanner.skipSpace()
        scanner.value(path: "$", into: &positions)
    }

    public init(_ text: String) { self.init(Array(text.utf8)) }

    /// The position of `path`, or of its nearest located ancestor.
    public func position(of path: String) -> Position? {
        var p = path
        while true {
            if let found = positions[p] { return found }
            guard let cut = p.lastIndex(where: { $0 == "." || $0 == "[" }) else { return nil }
            p = String(p[..<cut])
        }
    }

    /// The JSON path of key `key` under `parent`: `$.a.b`, or `$["odd key"]`.
    public static func child(_ parent: String, _ key: String) -> String {
        let plain = !key.isEmpty && key.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
        return plain ? "\(parent).\(key)" : "\(parent)[\(JSONValue.string(key).serialized())]"
    }

    public static func element(_ parent: String, _ index: Int) -> String { "\(parent)[\(index)]" }

    private struct Scanner {
        let bytes: [UInt8]
        var i = 0
        var line = 1
        var column = 1

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func advance() {
            if bytes[i] == 0x0A { line += 1; column = 1 } else if bytes[i] & 0xC0 != 0x80 { column += 1 }
            i += 1
        }

        mutating func skipSpace() {
            while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { advance() }
        }

        mutating func value(path: String, into out: inout [String: Position]) {
            guard i < bytes.count else { return }
            out[path] = Position(line: line, column: column)
            switch bytes[i] {
            case UInt8(ascii: "{"):
                advance()
                skipSpace()
                while i < bytes.count, bytes[i] != UInt8(ascii: "}") {
                    let key = string()
                    skipSpace()
                    if i < bytes.count, bytes[i] == UInt8(ascii: ":") { advance() }
                    skipSpace()
                    value(path: JSONLocator.child(path, key), into: &out)
                    skipSpace()
                    if i < bytes.count, bytes[i] == UInt8(ascii: ",") { advance(); skipSpace() }
                }
                if i < bytes.count { advance() }
            case UInt8(ascii: "["):
                advance()
                skipSpace()
                var index = 0
                while i < bytes.count, bytes[i] != UInt8(ascii: "]") {
                    value(path: JSONLocator.element(path, index), into: &out)
                    index += 1
                    skipSpace()
                    if i < bytes.count, bytes[i] == UInt8(ascii: ",") { advance(); skipSpace() }
                }
                if i < bytes.count { advance() }
            case UInt8(ascii: "\""):
                _ = string()
            default:
                while i < bytes.count, !",]} \t\r\n".utf8.contains(bytes[i]) { advance() }
            }
        }

        /// Reads a string token and returns its (unescaped, for the common escapes) contents.
        mutating func string() -> String {
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return "" }
            advance()
            var raw: [UInt8] = []
            while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                if bytes[i] == UInt8(ascii: "\\"), i + 1 < bytes.count {
                    advance()
                    switch bytes[i] {
                    case UInt8(ascii: "n"): raw.append(0x0A)
                    case UInt8(ascii: "t"): raw.append(0x09)
                    case UInt8(ascii: "u"):
                        // \uXXXX: keep the code unit as UTF-8 (BMP only; surrogates are rare in keys).
                        var code: UInt32 = 0
                        for _ in 0..<4 where i + 1 < bytes.count {
                            advance()
                            code = code * 16 + UInt32(Character(UnicodeScalar(bytes[i])).hexDigitValue ?? 0)
                        }
                        raw += Array(String(UnicodeScalar(code).map(Character.init) ?? "?").utf8)
                    default: raw.append(bytes[i])
                    }
                    advance()
                    continue
                }
                raw.append(bytes[i])
                advance()
            }
            if i < bytes.count { advance() }
            return String(decoding: raw, as: UTF8.self)
        }
    }
}
