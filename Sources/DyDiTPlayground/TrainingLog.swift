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
            if old.first == header {
                lines += old.dropFirst().filter { line in line.split(separator: ",").first.flatMap { Int($0) }.map { $0 <= step } ?? false }
            }
        }
        elapsedBefore = lines.count > 1 ? lines.last!.split(separator: ",", omittingEmptySubsequences: false).last.flatMap { Double($0) } ?? 0 : 0
        try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: path)
        guard let handle = FileHandle(forWritingAtPath: path) else { throw IOError(path, "cannot be opened for appending") }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    deinit { try? handle.close() }

    func append(_ row: String) throws {
        try handle.write(contentsOf: Data((row + "\n").utf8))
    }
}
