import DyDiTIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Progress of a long loop on stderr: one line rewritten in place on a terminal
/// ("step 12/50 · 3.4 it/s · ETA 11 s"), plain log lines otherwise (files, CI logs).
final class ProgressLine {
    let label: String
    let total: Int
    let interactive: Bool
    private let start = ContinuousClock.now
    private var lastPrint = ContinuousClock.now
    private var printed = false

    init(label: String, total: Int) {
        self.label = label
        self.total = total
        interactive = isatty(STDERR_FILENO) != 0
    }

    /// Reports that `done` of `total` units are finished; `detail` is appended.
    func update(_ done: Int, detail: String = "") {
        let now = ContinuousClock.now
        let elapsed = seconds(now - start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        var text = "\(label) \(done)/\(total) · " + (rate >= 1 ? String(format: "%.2f it/s", rate) : String(format: "%.2f s/it", rate > 0 ? 1 / rate : 0))
        if done < total { text += " · ETA \(Self.duration(eta))" } else { text += " · \(Self.duration(elapsed))" }
        if !detail.isEmpty { text += " · " + detail }
        if interactive {
            // Redraw at most 10 times a second, and always the last step.
            if done == total || seconds(now - lastPrint) >= 0.1 || !printed {
                printError("\r\u{1B}[K" + text, newline: done == total)
                lastPrint = now
                printed = true
            }
        } else if done == total || done % max(1, total / 10) == 0 || seconds(now - lastPrint) >= 10 {
            // Logs get about ten lines per loop, and one at least every 10 s.
            printError(text)
            lastPrint = now
        }
    }

    static func duration(_ s: Double) -> String {
        if s < 60 { return String(format: "%.1f s", s) }
        if s < 3600 { return String(format: "%d min %02d s", Int(s) / 60, Int(s) % 60) }
        return String(format: "%d h %02d min", Int(s) / 3600, (Int(s) % 3600) / 60)
    }
}
