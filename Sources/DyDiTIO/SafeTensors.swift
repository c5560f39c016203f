/// One tensor's entry in a safetensors header.
public struct SafeTensorsEntry: Sendable, Equatable {
    public let dtype: DType
    public let shape: [Int]
    /// Byte range inside the data section.
    public let begin: Int
    public let end: Int
}

/// A safetensors file, memory-mapped. The header is validated completely before any
/// tensor data is touched: length within the file, known dtypes, byte sizes equal to
/// dtype × shape, offsets inside the data section and not overlapping.
public final class SafeTensorsFile: @unchecked Sendable {
    public let path: String
    public let metadata: [String: String]
    public let entries: [String: SafeTensorsEntry]
    /// Tensor names in data order.
    public let names: [String]
    private let storage: ByteStorage
    private let dataStart: Int

    /// Headers larger than this are refused rather than parsed (the format's own limit).
    static let maxHeaderBytes = 100_000_000

    public convenience init(path: String) throws {
        try self.init(storage: try MappedFile(path: path).storage, path: path)
    }

    /// A safetensors file held in memory (`path` names it in errors): what the fuzzer feeds.
    public convenience init(bytes: UnsafeRawBufferPointer, path: String) throws {
        try self.init(storage: ByteStorage(copying: bytes), path: path)
    }

    init(storage: ByteStorage, path: String) throws {
        self.path = path
        self.storage = storage
        let size = storage.count
        guard size >= 8 else {
            throw IOError(path, "file is \(size) bytes; a safetensors file starts with an 8-byte header length")
        }
        let headerLength = UnsafeRawBufferPointer(start: storage.base, count: 8).loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(size - 8) else {
            throw IOError(path, "header length \(headerLength) exceeds the \(size - 8) bytes after the length field (truncated or not a safetensors file)")
        }
        guard headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw IOError(path, "header length \(headerLength) is over the \(Self.maxHeaderBytes)-byte limit")
        }
        let n = Int(headerLength)
        dataStart = 8 + n
        let dataSize = size - dataStart
        let header: JSONValue
        do {
            header = try JSONParser.parse(UnsafeRawBufferPointer(start: storage.base + 8, count: n), path: path)
        } catch let e as JSONParseError where e.duplicatePath != nil {
            throw IOError(path, "header: \(e.reason) (line \(e.line), column \(e.column) of the header); the file is malformed")
        } catch let e as JSONParseError {
            throw IOError(path, "header is not valid JSON (\(e.reason), header byte \(n > 0 ? "line \(e.line) column \(e.column)" : "0"))")
        }
        guard case let .object(object) = header else {
            throw IOError(path, "header is \(header.typeName), expected a JSON object")
        }
        var metadata: [String: String] = [:]
        var entries: [String: SafeTensorsEntry] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                guard case let .object(m) = value else { throw IOError(path, "__metadata__ is \(value.typeName), expected an object of strings") }
                for (k, v) in m {
                    guard case let .string(s) = v else { throw IOError(path, "__metadata__[\"\(k)\"] is \(v.typeName), expected a string") }
                    metadata[k] = s
                }
                continue
            }
            entries[name] = try Self.entry(name, value, dataSize: dataSize, path: path)
        }
        let ordered = entries.sorted { ($0.value.begin, $0.value.end, $0.key) < ($1.value.begin, $1.value.end, $1.key) }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where next.value.begin < previous.value.end {
            throw IOError(path, "tensors '\(previous.key)' (bytes \(previous.value.begin)..<\(previous.value.end)) and '\(next.key)' (bytes \(next.value.begin)..<\(next.value.end)) overlap")
        }
        self.metadata = metadata
        self.entries = entries
        self.names = ordered.map(\.key)
    }

    private static func entry(_ name: String, _ value: JSONValue, dataSize: Int, path: String) throws -> SafeTensorsEntry {
        func fail(_ what: String) -> IOError { IOError(path, "tensor '\(name)': \(what)") }
        guard case let .object(o) = value else { throw fail("entry is \(value.typeName), expected an object with dtype, shape, data_offsets") }
        guard let dtypeName = o["dtype"]?.stringValue else { throw fail("missing dtype") }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw fail("unsupported dtype '\(dtypeName)'; supported: \(DType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let dims = o["shape"]?.arrayValue else { throw fail("missing shape") }
        var shape: [Int] = []
        var count = 1
        for d in dims {
            guard let v = d.intValue, v >= 0, v < Int64(Int32.max) else { throw fail("shape \(JSONValue.array(dims).serialized()) has an invalid dimension") }
            shape.append(Int(v))
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(v))
            guard !overflow else { throw fail("shape \(shape) is too large") }
            count = product
        }
        guard let offsets = o["data_offsets"]?.arrayValue, offsets.count == 2,
              let begin = offsets[0].intValue, let end = offsets[1].intValue else {
            throw fail("data_offsets must be [begin, end]")
        }
        guard begin >= 0, begin <= end else { throw fail("data_offsets [\(begin), \(end)] are not an increasing range") }
        guard end <= Int64(dataSize) else {
            throw fail("data_offsets [\(begin), \(end)] run past the data section (\(dataSize) bytes): file truncated?")
        }
        // Checked: [2147483646, 2147483646, 2] elements fit an Int, their bytes do not.
        let (expected, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else { throw fail("\(dtype.rawValue) \(shape) would take more than 2⁶³ bytes") }
        guard end - begin == Int64(expected) else {
            throw fail("\(dtype.rawValue) \(shape) needs \(expected) bytes but data_offsets [\(begin), \(end)] give \(end - begin)")
        }
        return SafeTensorsEntry(dtype: dtype, shape: shape, begin: Int(begin), end: Int(end))
    }

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// The tensor `name`, viewing the mapping (no copy).
    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entries[name] else {
            let near = names.filter { $0.hasSuffix(name.split(separator: ".").last.map(String.init) ?? name) }.prefix(3)
            let hint = near.isEmpty ? "" : "; similar: \(near.joined(separator: ", "))"
            throw IOError(path, "no tensor '\(name)' (the file has \(names.count) tensors\(hint))")
        }
        return Tensor(dtype: e.dtype, shape: e.shape, storage: storage, byteOffset: dataStart + e.begin)
    }

    /// The tensor `name`, which must have exactly `shape`.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        let t = try tensor(name)
        guard t.shape == shape else {
            throw IOError(path, "tensor '\(name)' has shape \(t.shape), expected \(shape)")
        }
        return t
    }

    /// The floats of tensor `name` (converted from its dtype), which must have `shape`.
    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        let t = try tensor(name, shape: shape)
        guard t.dtype.isFloatingPoint else {
            throw IOError(path, "tensor '\(name)' is \(t.dtype.rawValue), expected a floating-point type")
        }
        return t.floats()
    }
}

/// Writes safetensors files atomically.
public enum SafeTensorsWriter {
    /// Tensors are stored in the given order, wider dtypes first so each element stays
    /// naturally aligned when the file is mapped.
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:],
                             to path: String) throws {
        var seen = Set<String>()
        for (name, _) in tensors {
            guard name != "__metadata__" else { throw IOError(path, "'__metadata__' is reserved and cannot name a tensor") }
            guard seen.insert(name).inserted else { throw IOError(path, "tensor '\(name)' given twice") }
        }
        let ordered = tensors.enumerated().sorted {
            ($1.element.tensor.dtype.byteSize, $0.offset) < ($0.element.tensor.dtype.byteSize, $1.offset)
        }.map(\.element)
        var header = JSONObject()
        if !metadata.isEmpty {
            header["__metadata__"] = .object(JSONObject(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
        }
        var offset = 0
        for (name, t) in ordered {
            header[name] = .object(JSONObject([
                ("dtype", .string(t.dtype.rawValue)),
                ("shape", .array(t.shape.map { .int(Int64($0)) })),
                ("data_offsets", .array([.int(Int64(offset)), .int(Int64(offset + t.byteCount))])),
            ]))
            offset += t.byteCount
        }
        var text = JSONValue.object(header).serialized()
        while (8 + text.utf8.count) % 8 != 0 { text += " " }
        try AtomicFile.write(to: path) { sink in
            var length = UInt64(text.utf8.count).littleEndian
            try withUnsafeBytes(of: &length) { try sink.write($0) }
            try sink.write(text)
            for (_, t) in ordered { try sink.write(t.bytes) }
        }
    }
}
