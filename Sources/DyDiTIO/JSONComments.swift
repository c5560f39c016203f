/// Comments in JSON specs: `// …` to the end of the line and `/* … */`, outside strings. The
/// parser stays strict (json-c's non-strict mode would also accept single quotes, trailing
/// commas and NaN); comments are blanked before parsing instead: each character of a comment
/// becomes one space and its line breaks stay, so every line and column the parser, the
/// locator and the duplicate-key check report is the one in the file as written.
public enum JSONComments {
    /// A `/*` without its `*/`: 1-based line and column of the `/*`.
    public struct Unclosed: Error, Equatable {
        public let line: Int
        public let column: Int
    }

    /// `bytes` with every comment blanked (unchanged when there is none).
    public static func blanked(_ bytes: [UInt8]) throws -> [UInt8] {
        guard bytes.contains(UInt8(ascii: "/")) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0, line = 1, column = 1
        var inString = false
        let slash = UInt8(ascii: "/"), star = UInt8(ascii: "*"), quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        let newline = UInt8(ascii: "\n"), space = UInt8(ascii: " ")
        /// Copies one character (lead byte and continuation bytes) as it is.
        func copy() {
            out.append(bytes[i])
            advance(bytes[i])
            i += 1
            while i < bytes.count, bytes[i] & 0xC0 == 0x80 { out.append(bytes[i]); i += 1 }
        }
        /// Replaces one character by a space, or keeps a line break.
        func blank() {
            out.append(bytes[i] == newline || bytes[i] == UInt8(ascii: "\r") ? bytes[i] : space)
            advance(bytes[i])
            i += 1
            while i < bytes.count, bytes[i] & 0xC0 == 0x80 { i += 1 }
        }
        func advance(_ b: UInt8) {
            if b == newline { line += 1; column = 1 } else { column += 1 }
        }
        while i < bytes.count {
            let b = bytes[i]
            if inString {
                if b == backslash, i + 1 < bytes.count {
                    copy()
                    copy()
                    continue
                }
                if b == quote { inString = false }
                copy()
            } else if b == quote {
                inString = true
                copy()
            } else if b == slash, i + 1 < bytes.count, bytes[i + 1] == slash {
                while i < bytes.count, bytes[i] != newline { blank() }
            } else if b == slash, i + 1 < bytes.count, bytes[i + 1] == star {
                let start = (line: line, column: column)
                blank()
                blank()
                while i < bytes.count, !(bytes[i] == star && i + 1 < bytes.count && bytes[i + 1] == slash) { blank() }
                guard i < bytes.count else { throw Unclosed(line: start.line, column: start.column) }
                blank()
                blank()
            } else {
                copy()
            }
        }
        return out
    }
}
