import CZlib
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IDX file (the MNIST / Fashion-MNIST format): a 4-byte magic `0, 0, type, rank`, `rank`
/// big-endian UInt32 dimensions, then the data. Only unsigned bytes (type 0x08) are read,
/// which is what the image and label files hold. Files ending in `.gz` are read through zlib
/// (`gzread` also reads an uncompressed file as it is).
public struct IDXFile: Sendable {
    public let path: String
    public let shape: [Int]
    public let bytes: [UInt8]

    public init(path: String) throws {
        self.path = path
        guard let gz = gzopen(path, "rb") else {
            let reason = FileReader.exists(path) ? "cannot be opened (\(String(cString: strerror(errno))))" : "does not exist"
            throw IOError(path, "\(reason); an IDX file (e.g. train-images-idx3-ubyte.gz) was expected")
        }
        defer { gzclose(gz) }
        func read(_ count: Int, _ what: String) throws -> [UInt8] {
            var out = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let chunk = Int32(min(count - done, 1 << 30))
                let n = out.withUnsafeMutableBytes { gzread(gz, $0.baseAddress! + done, UInt32(chunk)) }
                if n < 0 {
                    var code: Int32 = 0
                    let message = String(cString: gzerror(gz, &code))
                    throw IOError(path, "cannot read \(what): \(message) (a damaged or truncated .gz file?)")
                }
                if n == 0 { throw IOError(path, "ends after \(done) of the \(count) bytes of \(what): the file is truncated") }
                done += Int(n)
            }
            return out
        }
        let magic = try read(4, "the magic number")
        guard magic[0] == 0, magic[1] == 0 else {
            throw IOError(path, "is not an IDX file: it starts with \(magic.map { String($0, radix: 16) }), expected 00 00 <type> <rank>")
        }
        guard magic[2] == 0x08 else {
            throw IOError(path, "holds IDX type 0x\(String(magic[2], radix: 16)); only unsigned bytes (0x08) are supported")
        }
        let rank = Int(magic[3])
        guard (1...4).contains(rank) else { throw IOError(path, "has rank \(rank); expected 1 (labels) to 4") }
        let dims = try read(4 * rank, "the dimensions")
        shape = (0..<rank).map { i in dims[4 * i..<4 * i + 4].reduce(0) { $0 << 8 | Int($1) } }
        let count = shape.reduce(1, *)
        guard count <= 1 << 32 else { throw IOError(path, "claims \(shape) = \(count) bytes, which is not plausible") }
        bytes = try read(count, "the \(shape.map(String.init).joined(separator: "×")) data")
    }

    /// Writes an uncompressed or (`.gz` path) gzip-compressed IDX file of unsigned bytes.
    public static func write(shape: [Int], bytes: [UInt8], to path: String) throws {
        precondition(bytes.count == shape.reduce(1, *), "IDX data does not match its shape")
        var out: [UInt8] = [0, 0, 0x08, UInt8(shape.count)]
        for d in shape { out += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
        out += bytes
        guard path.hasSuffix(".gz") else { return try AtomicFile.write(out, to: path) }
        guard let gz = gzopen(path, "wb") else { throw IOError(path, "cannot be created: \(String(cString: strerror(errno)))") }
        let n = out.withUnsafeBytes { gzwrite(gz, $0.baseAddress, UInt32($0.count)) }
        let closed = gzclose(gz)
        guard n == out.count, closed == Z_OK else { throw IOError(path, "cannot write the compressed data") }
    }
}
