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

    /// The largest data section read (Fashion-MNIST's training images are 47 MB).
    public static let maxDataBytes = 1 << 32

    public init(path: String) throws {
        self.path = path
        let fd: Int32
        do { fd = try FileReader.openRegular(path) } catch let e as IOError {
            throw IOError(path, "\(e.message); an IDX file (e.g. train-images-idx3-ubyte.gz) was expected")
        }
        var st = stat()
        let fileSize = fstat(fd, &st) == 0 ? Int(st.st_size) : Int.max
        guard let gz = gzdopen(fd, "rb") else {
            close(fd)
            throw IOError(path, "cannot be opened for reading through zlib")
        }
        defer { gzclose(gz) }
        // Reads `count` bytes, growing the buffer only as data arrives: a header that claims
        // 4 GiB in a 20-byte file fails at its end instead of allocating 4 GiB first.
        func read(_ count: Int, _ what: String) throws -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(min(count, 1 << 20))
            while out.count < count {
                let want = min(count - out.count, 1 << 24)
                let start = out.count
                out += repeatElement(0, count: want)
                let n = out.withUnsafeMutableBytes { gzread(gz, $0.baseAddress! + start, UInt32(want)) }
                if n < 0 {
                    var code: Int32 = 0
                    let message = String(cString: gzerror(gz, &code))
                    throw IOError(path, "cannot read \(what): \(message) (a damaged or truncated .gz file?)")
                }
                if n == 0 { throw IOError(path, "ends after \(start) of the \(count) bytes of \(what): the file is truncated") }
                out.removeLast(want - Int(n))
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
        let described = shape.map(String.init).joined(separator: "×")
        if shape.contains(0) {
            throw IOError(path, "has a dimension of 0 (\(described)): it holds no data (0×0 images are not images)")
        }
        // Each dimension is below 2³², so the product is checked step by step.
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, product <= Self.maxDataBytes else {
                throw IOError(path, "claims \(described) bytes of data, over the \(Self.maxDataBytes >> 30) GiB limit: a corrupt header?")
            }
            count = product
        }
        // An uncompressed file must hold its data: say so before reading.
        let header = 4 + 4 * rank
        if gzdirect(gz) == 1, count > fileSize - header {
            throw IOError(path, "claims \(described) = \(count) bytes of data but holds \(max(0, fileSize - header)) after its header: the file is truncated or its header corrupt")
        }
        bytes = try read(count, "the \(described) data")
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
