/// A JSON document as a Swift value. Objects keep their key order, so resolved specs and
/// headers print as they were written.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int: return "an integer"
        case .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    public var stringValue: String? { if case let .string(s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case let .bool(b) = self { return b } else { return nil } }
    public var objectValue: JSONObject? { if case let .object(o) = self { return o } else { return nil } }
    public var arrayValue: [JSONValue]? { if case let .array(a) = self { return a } else { return nil } }

    /// Integers, and doubles that are whole numbers.
    public var intValue: Int64? {
        switch self {
        case let .int(i): return i
        case let .double(d) where d.rounded() == d && abs(d) < 9.2e18: return Int64(d)
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case let .int(i): return Double(i)
        case let .double(d): return d
        default: return nil
        }
    }

    public subscript(key: String) -> JSONValue? { objectValue?[key] }
}

/// A JSON object with its keys in document order. Objects past a few keys look keys up
/// through a key → position index, so building or reading an object of n keys is O(n), not
/// O(n²) (a header or spec with 10⁵ keys used to take minutes); small ones (most of them)
/// search their few pairs and allocate no index.
public struct JSONObject: Equatable, Sendable, Sequence {
    public private(set) var pairs: [(key: String, value: JSONValue)] = []
    private var index: [String: Int]?
    /// Objects with more keys than this get an index.
    private static let indexThreshold = 12

    public init() {}
    public init(_ pairs: [(String, JSONValue)]) { for (k, v) in pairs { self[k] = v } }

    public var keys: [String] { pairs.map(\.key) }
    public var count: Int { pairs.count }

    private func position(of key: String) -> Int? {
        if let index { return index[key] }
        return pairs.firstIndex { $0.key == key }
    }

    public subscript(key: String) -> JSONValue? {
        get { position(of: key).map { pairs[$0].value } }
        set {
            if let i = position(of: key) {
                if let newValue {
                    pairs[i].value = newValue
                } else {
                    // Removal is rare (a handful of keys per spec): renumber what follows.
                    pairs.remove(at: i)
                    if index != nil {
                        index![key] = nil
                        for j in i..<pairs.count { index![pairs[j].key] = j }
                    }
                }
            } else if let newValue {
                pairs.append((key, newValue))
                if index != nil {
                    index![key] = pairs.count - 1
                } else if pairs.count > Self.indexThreshold {
                    index = Dictionary(uniqueKeysWithValues: pairs.enumerated().map { ($1.key, $0) })
                }
            }
        }
    }

    public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> { pairs.makeIterator() }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.pairs.count == b.pairs.count && zip(a.pairs, b.pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

extension JSONValue {
    /// Serialises the value: compact, or indented by two spaces per level. Doubles print
    /// in Swift's shortest round-trip form, so a value reads back exactly.
    public func serialized(pretty: Bool = false) -> String {
        var out = ""
        write(to: &out, pretty: pretty, indent: 0)
        return out
    }

    private func write(to out: inout String, pretty: Bool, indent: Int) {
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .int(i): out += String(i)
        case let .double(d):
            if d.isFinite {
                out += d.rounded() == d && abs(d) < 1e15 ? String(format: d) : "\(d)"
            } else {
                out += "null"
            }
        case let .string(s): JSONValue.writeString(s, to: &out)
        case let .array(items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += pretty ? ", " : "," }
                item.write(to: &out, pretty: pretty, indent: indent)
            }
            out += "]"
        case let .object(object):
            if object.count == 0 { out += "{}"; return }
            out += "{"
            for (i, pair) in object.pairs.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
                JSONValue.writeString(pair.key, to: &out)
                out += pretty ? ": " : ":"
                pair.value.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { out += "\n" + String(repeating: "  ", count: indent) }
            out += "}"
        }
    }

    private static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

/// Whole doubles print with one decimal (`2.0`) so they read back as doubles.
private func String(format d: Double) -> String {
    let i = Int64(d)
    return "\(i).0"
}
