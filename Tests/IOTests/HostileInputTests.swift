import XCTest
import DyDiTIO
#if canImport(Glibc)
import Glibc
#endif

/// Inputs that used to trap, allocate without bound, block forever or take minutes: each is
/// now an error that names the file and the problem (issue 13 §3). The same cases are in the
/// fuzzers' seed corpus (Fuzz/corpus).
final class HostileInputTests: TemporaryDirectoryTestCase {
    func assertError(_ body: @autoclosure () throws -> Any, mentions: [String], line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            for m in mentions { XCTAssertTrue("\(error)".contains(m), "'\(m)' missing from: \(error)", line: line) }
        }
    }

    // MARK: safetensors

    /// 2147483646 × 2147483646 × 2 elements fit an Int; their bytes (×4) used to overflow it.
    func testSafeTensorsByteSizeOverflow() throws {
        let header = #"{"t":{"dtype":"F32","shape":[2147483646,2147483646,2],"data_offsets":[0,4]}}"#
        try writeBytes(rawSafeTensors(header: header, data: [0, 0, 0, 0]), "o.safetensors")
        assertError(try SafeTensorsFile(path: path("o.safetensors")), mentions: ["o.safetensors", "tensor 't'", "2⁶³"])
    }

    /// A header naming one tensor twice was last-one-wins; now the key and its position are named.
    func testSafeTensorsDuplicateKey() throws {
        let header = """
        {"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
         "a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}
        """
        try writeBytes(rawSafeTensors(header: header, data: [UInt8](repeating: 0, count: 8)), "d.safetensors")
        assertError(try SafeTensorsFile(path: path("d.safetensors")), mentions: ["duplicate key 'a'", "line 2, column 2", "line 1, column 2"])
    }

    /// 100 000 entries took 27 s (an ordered object searched linearly per key, O(n²)); 200 000
    /// would take nearly two minutes that way, and take a few seconds when linear. The bound is
    /// a hang detector, generous for a loaded machine, not a speed claim.
    func testSafeTensorsHeaderWithManyEntriesParsesQuickly() throws {
        let n = 200_000
        var header = "{"
        for i in 0..<n { header += "\(i > 0 ? "," : "")\"t\(i)\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[\(i),\(i + 1)]}" }
        header += "}"
        try writeBytes(rawSafeTensors(header: header, data: [UInt8](repeating: 7, count: n)), "many.safetensors")
        let start = ContinuousClock.now
        let file = try SafeTensorsFile(path: path("many.safetensors"))
        let elapsed = ContinuousClock.now - start
        XCTAssertEqual(file.names.count, n)
        XCTAssertLessThan(elapsed, .seconds(40), "parsing \(n) entries took \(elapsed): quadratic again?")
    }

    /// A FIFO blocked `open` until some writer came: forever.
    func testNonRegularFilesAreRefused() throws {
        XCTAssertEqual(mkfifo(path("fifo"), 0o644), 0)
        assertError(try SafeTensorsFile(path: path("fifo")), mentions: ["fifo", "FIFO", "not a regular file"])
        assertError(try FileReader.read(path("fifo")), mentions: ["FIFO"])
        assertError(try IDXFile(path: path("fifo")), mentions: ["FIFO"])
        assertError(try PNGFile.read(path("fifo")), mentions: ["FIFO"])
        assertError(try SafeTensorsFile(path: "/dev/zero"), mentions: ["character device"])
        assertError(try SafeTensorsFile(path: dir), mentions: ["directory"])
    }

    // MARK: JSON

    func testDuplicateKeysAreErrorsWithTheirPlace() throws {
        let text = "{\n  \"a\": {\"b\": 1, \"c\": [{\"x\": 1, \"\\u0078\": 2}]}\n}"
        XCTAssertThrowsError(try JSONParser.parse(text, path: "s.json")) { error in
            let e = error as! JSONParseError
            XCTAssertEqual(e.duplicatePath, "$.a.c[0].x")
            XCTAssertEqual(e.line, 2)
            XCTAssertTrue(e.description.contains("s.json:2:") && e.reason.contains("duplicate key 'x'"), e.description)
        }
        // The same name in different objects is fine.
        XCTAssertNoThrow(try JSONParser.parse(#"{"a": {"k": 1}, "b": {"k": 2}, "k": [{"k": 1}, {"k": 2}]}"#))
    }

    func testObjectWithManyKeysIsLinear() throws {
        let n = 200_000
        let text = "{" + (0..<n).map { "\"k\($0)\": \($0)" }.joined(separator: ",") + "}"
        let start = ContinuousClock.now
        let value = try JSONParser.parse(text)
        XCTAssertEqual(value.objectValue?.count, n)
        XCTAssertEqual(value["k199999"], .int(199_999))
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(15), "quadratic: minutes")
        var o = value.objectValue!
        o["k5"] = nil
        XCTAssertEqual(o.count, n - 1)
        XCTAssertEqual(o["k6"], .int(6))
        XCTAssertEqual(o.keys[5], "k6")
    }

    // MARK: IDX

    func idx(_ magic: [UInt8], _ dims: [UInt32], data: [UInt8] = [], _ name: String) throws -> String {
        var bytes = magic
        for d in dims { bytes += [UInt8(d >> 24), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
        try writeBytes(bytes + data, name)
        return path(name)
    }

    /// Four dimensions of 0xFFFFFFFF overflowed the element count (a trap).
    func testIDXHugeDimensions() throws {
        let p = try idx([0, 0, 8, 4], [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], "huge")
        assertError(try IDXFile(path: p), mentions: ["huge", "GiB limit"])
        // Within the limit but far larger than the file: refused before allocating.
        let q = try idx([0, 0, 8, 3], [1000, 1000, 1000], data: [1, 2, 3], "short")
        assertError(try IDXFile(path: q), mentions: ["short", "1000000000 bytes", "holds 3"])
    }

    /// 0×0 images trained on blank canvases.
    func testIDXZeroSizedImages() throws {
        let p = try idx([0, 0, 8, 3], [5, 0, 0], "empty")
        assertError(try IDXFile(path: p), mentions: ["empty", "dimension of 0", "5×0×0"])
    }

    // MARK: PNG

    /// 69 bytes claiming 10⁶ × 10⁶ pixels: a terabyte allocation before the fix.
    func testPNGClaimingATerabyte() throws {
        try writeBytes(Self.png(width: 1_000_000, height: 1_000_000), "big.png")
        XCTAssertEqual(try FileReader.read(path("big.png")).count, 69)
        assertError(try PNGFile.read(path("big.png")), mentions: ["big.png", "1000000×1000000"])
        // A size under the cap that the file still cannot hold.
        try writeBytes(Self.png(width: 16000, height: 16000), "mid.png")
        assertError(try PNGFile.read(path("mid.png")), mentions: ["16000×16000", "cannot fit in its 69 bytes"])
    }

    /// A gray 8-bit PNG header with the given size, one tiny IDAT and IEND (69 bytes).
    static func png(width: UInt32, height: UInt32) -> [UInt8] {
        func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            let crc = crc32(body)
            return be(UInt32(data.count)) + body + be(crc)
        }
        let ihdr = be(width) + be(height) + [8, 0, 0, 0, 0]
        let idat: [UInt8] = [0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr) + chunk("IDAT", idat) + chunk("IEND", [])
    }

    /// PNG's CRC-32 (the zlib polynomial), bit by bit.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }
}
