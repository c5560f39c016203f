import DyDiTIO
import Foundation

/// The training CSV: rows appended as they come (flushed, so a kill loses none), and on
/// resume cut back to the checkpoint's step so the file never holds steps that were undone.
final class TrainingLog {
    let path: String
    let handle: FileHandle
    /// The last kept row's last column (`elapsed_s`): the training time before this process, so
    /// a resumed run's clock continues where the kept rows stopped (0 for a new log).
    let elapsedBefore: Double

    init(path: String, header: String, keepingStepsUpTo step: Int) throws {
        self.path = path
        var lines = [header]
        if FileReader.exists(path), let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let old = text.split(separator: "\n").map(String.init)
            let kept = old.dropFirst().filter { line in line.split(separator: ",").first.flatMap { Int($0) }.map { $0 <= step } ?? false }
            if old.first == header {
                lines += kept
            } else if let first = old.first, let carried = Self.carry(kept, from: first, to: header) {
                // A log from a version with fewer columns: the same rows, the new columns empty.
                lines += carried
            } else if !kept.isEmpty {
                // Columns that do not map: keep the old log beside the new one, never drop it.
                try? AtomicFile.write(text, to: path + ".old")
            }
        }
        elapsedBefore = lines.count > 1 ? lines.last!.split(separator: ",", omittingEmptySubsequences: false).last.flatMap { Double($0) } ?? 0 : 0
        try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: path)
        guard let handle = FileHandle(forWritingAtPath: path) else { throw IOError(path, "cannot be opened for appending") }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    deinit { try? handle.close() }

    /// `rows` of a CSV with header `old` rewritten under `new`, column by column (absent ones
    /// empty), when every old column is one of the new ones; nil otherwise.
    static func carry(_ rows: [String], from old: String, to new: String) -> [String]? {
        let oldColumns = old.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let newColumns = new.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard Set(oldColumns).isSubset(of: newColumns), Set(oldColumns).count == oldColumns.count else { return nil }
        let index = Dictionary(uniqueKeysWithValues: oldColumns.enumerated().map { ($1, $0) })
        return rows.map { row in
            let fields = row.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            return newColumns.map { name in index[name].flatMap { $0 < fields.count ? fields[$0] : nil } ?? "" }
                .joined(separator: ",")
        }
    }

    func append(_ row: String) throws {
        try handle.write(contentsOf: Data((row + "\n").utf8))
    }
}
