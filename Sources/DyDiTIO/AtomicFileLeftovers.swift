#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension AtomicFile {
    /// The file a temporary name of `write` stands for (`.<name>.tmp-<pid>-<serial>` → `<name>`),
    /// or nil for any other name.
    static func target(ofTemporary name: String) -> String? {
        let chars = Array(name.utf8)
        let marker = Array(".tmp-".utf8)
        guard chars.first == UInt8(ascii: "."), chars.count > marker.count + 1 else { return nil }
        guard let at = stride(from: chars.count - marker.count, through: 1, by: -1)
            .first(where: { Array(chars[$0..<($0 + marker.count)]) == marker }) else { return nil }
        let suffix = chars[(at + marker.count)...].split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        guard suffix.count == 2, suffix.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0 >= 48 && $0 <= 57 } }), at > 1 else { return nil }
        return String(decoding: chars[1..<at], as: UTF8.self)
    }

    /// Deletes the temporary files that writes into `directory` left when their process was
    /// killed between creating and renaming them (a write that fails removes its own), for the
    /// files `owned` accepts; returns their names. Call it only on a folder whose writers are
    /// shut out (by a `FileLock`): a live writer's temporary file looks just the same.
    @discardableResult
    public static func removeLeftovers(in directory: String, owned: (String) -> Bool = { _ in true }) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let target = target(ofTemporary: name), owned(target) { names.append(name) }
        }
        closedir(dir)
        return names.sorted().filter { unlink("\(directory)/\($0)") == 0 }
    }
}
