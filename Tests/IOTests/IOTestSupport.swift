import XCTest
import DyDiTIO
#if canImport(Glibc)
import Glibc
#endif

/// A fresh temporary folder per test, removed afterwards.
class TemporaryDirectoryTestCase: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        var template = Array("/tmp/dydit-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw IOError("/tmp", "mkdtemp failed") }
        dir = String(cString: made)
    }

    override func tearDown() {
        _ = try? run("rm -rf '\(dir)'")
    }

    func path(_ name: String) -> String { "\(dir)/\(name)" }

    func files() -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    func writeBytes(_ bytes: [UInt8], _ name: String) throws {
        try AtomicFile.write(bytes, to: path(name))
    }

    @discardableResult
    func run(_ command: String) throws -> Int32 { system(command) }
}

/// A safetensors file assembled by hand, for malformed-header tests.
func rawSafeTensors(header: String, data: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = []
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes += $0 }
    bytes += Array(header.utf8)
    bytes += data
    return bytes
}
