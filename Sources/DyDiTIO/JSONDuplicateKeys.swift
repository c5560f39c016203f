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
        var open: [KeyTable] = []
        var found: Duplicate?
        var walk = JSONTextWalk(bytes: bytes)
        walk.walk { event in
            switch event {
            case .objectStart: open.append(KeyTable())
            case .objectEnd: open.removeLast()
            case let .key(key, object, line, column):
                if let first = open[open.count - 1].insert(key, line: line, column: column) {
                    found = Duplicate(key: key, path: JSONTextWalk.formatted(object + [.key(key)]), line: line, column: column,
                                      firstLine: first.line, firstColumn: first.column)
                    return false
                }
            case .value: break
            }
            return true
        }
        return found
    }

    /// The keys of one object so far, with where each stands: small objects (most) compare
    /// against a list, large ones use a dictionary.
    private struct KeyTable {
        var few: [(key: String, line: Int, column: Int)] = []
        var many: [String: (line: Int, column: Int)] = [:]

        /// Adds `key`; returns the position of an earlier occurrence instead when there is one.
        mutating func insert(_ key: String, line: Int, column: Int) -> (line: Int, column: Int)? {
            let first = few.count < 16 ? few.first { $0.key == key }.map { (line: $0.line, column: $0.column) } : many[key]
            if let first { return first }
            if few.count < 16 {
                few.append((key, line, column))
                if few.count == 16 { for f in few { many[f.key] = (f.line, f.column) } }
            } else {
                many[key] = (line, column)
            }
            return nil
        }
    }
}
