import CJSONC

/// Where a JSON parse failed: byte offset, 1-based line and column.
public struct JSONParseError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let line: Int
    public let column: Int
    public let reason: String
    /// For a key given twice in one object: the JSON path of the second occurrence.
    public var duplicatePath: String? = nil

    public var description: String { "\(path):\(line):\(column): invalid JSON: \(reason)" }
}

/// JSON text to `JSONValue` through json-c, with UTF-8 validation and error positions.
public enum JSONParser {
    /// Parses a whole document; trailing text other than whitespace is an error.
    /// - Parameter path: names the source in errors.
    public static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws -> JSONValue {
        guard let tokener = json_tokener_new() else { throw JSONParseError(path: path, line: 1, column: 1, reason: "out of memory") }
        defer { json_tokener_free(tokener) }
        json_tokener_set_flags(tokener, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8)
        if bytes.contains(0) {
            let offset = bytes.firstIndex(of: 0)!
            throw error(at: offset, in: bytes, path: path, reason: "NUL byte: this is not a JSON text file")
        }
        guard bytes.count < Int(Int32.max) else {
            throw JSONParseError(path: path, line: 1, column: 1, reason: "document larger than 2 GiB")
        }
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw JSONParseError(path: path, line: 1, column: 1, reason: "empty input, expected a JSON document")
        }
        let object = json_tokener_parse_ex(tokener, base.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
        let status = json_tokener_get_error(tokener)
        let end = json_tokener_get_parse_end(tokener)
        if status != json_tokener_success {
            if status == json_tokener_continue {
                throw error(at: bytes.count, in: bytes, path: path, reason: "unexpected end of input (unclosed bracket or string?)")
            }
            throw error(at: end, in: bytes, path: path, reason: String(cString: json_tokener_error_desc(status)))
        }
        defer { json_object_put(object) }
        var rest = end
        while rest < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[rest]) { rest += 1 }
        if rest < bytes.count {
            throw error(at: rest, in: bytes, path: path, reason: "unexpected text after the end of the document")
        }
        if let dup = JSONDuplicateKeys.first(in: bytes) {
            throw JSONParseError(path: path, line: dup.line, column: dup.column,
                                 reason: "duplicate key '\(dup.key)' at \(dup.path) (first given at line \(dup.firstLine), column \(dup.firstColumn)); a key may appear only once in an object",
                                 duplicatePath: dup.path)
        }
        return convert(object)
    }

    public static func parse(_ text: String, path: String = "<string>") throws -> JSONValue {
        var copy = text
        return try copy.withUTF8 { try parse(UnsafeRawBufferPointer($0), path: path) }
    }

    static func error(at offset: Int, in bytes: UnsafeRawBufferPointer, path: String, reason: String) -> JSONParseError {
        var line = 1, column = 1
        for i in 0..<min(offset, bytes.count) {
            if bytes[i] == 0x0A { line += 1; column = 1 } else if bytes[i] & 0xC0 != 0x80 { column += 1 }
        }
        return JSONParseError(path: path, line: line, column: column, reason: reason)
    }

    static func convert(_ object: OpaquePointer?) -> JSONValue {
        guard let object else { return .null }
        switch json_object_get_type(object) {
        case json_type_null: return .null
        case json_type_boolean: return .bool(json_object_get_boolean(object) != 0)
        case json_type_int: return .int(json_object_get_int64(object))
        case json_type_double: return .double(json_object_get_double(object))
        case json_type_string:
            let length = Int(json_object_get_string_len(object))
            let chars = json_object_get_string(object)!
            return .string(String(decoding: UnsafeRawBufferPointer(start: chars, count: length), as: UTF8.self))
        case json_type_array:
            let n = json_object_array_length(object)
            return .array((0..<n).map { convert(json_object_array_get_idx(object, $0)) })
        case json_type_object:
            var result = JSONObject()
            var it = json_object_iter_begin(object)
            var end = json_object_iter_end(object)
            while json_object_iter_equal(&it, &end) == 0 {
                let name = String(cString: json_object_iter_peek_name(&it))
                result[name] = convert(json_object_iter_peek_value(&it))
                json_object_iter_next(&it)
            }
            return .object(result)
        default: return .null
        }
    }
}
