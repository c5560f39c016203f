import Foundation
import XCTest

/// Every command's --help reads cleanly: no line-continuation backslash leaked from a Swift
/// multi-line string, and no option that states its default twice (its own text and
/// ArgumentParser's "(default: …)").
final class HelpTextTests: XCTestCase {
    /// Every command, found by walking the SUBCOMMANDS sections from the top.
    func commands() throws -> [[String]] {
        var found: [[String]] = [], queue: [[String]] = [[]]
        while let path = queue.popLast() {
            found.append(path)
            let help = try DyDiTProcess.run(path + ["--help"]).stdout
            guard let rest = help.components(separatedBy: "SUBCOMMANDS:\n").dropFirst().first else { continue }
            // The section ends at its first blank line (then comes "See 'dydit help …'").
            let section = rest.components(separatedBy: "\n\n")[0]
            for line in section.split(separator: "\n") where line.hasPrefix("  ") && !line.hasPrefix("   ") {
                if let name = line.split(separator: " ").first, name != "help", !found.contains(path + [String(name)]) {
                    queue.append(path + [String(name)])
                }
            }
            XCTAssertLessThan(found.count, 200, "the command tree does not end: \(found.suffix(5))")
            if found.count >= 200 { break }
        }
        return found
    }

    func testHelpHasNoStrayBackslashesOrDoubledDefaults() throws {
        let all = try commands()
        XCTAssertGreaterThan(all.count, 20, "\(all)")
        for path in all {
            let r = try DyDiTProcess.run(path + ["--help"])
            let name = (["dydit"] + path).joined(separator: " ")
            XCTAssertEqual(r.status, 0, "\(name): \(r.stderr)")
            XCTAssertFalse(r.stdout.contains("\\"), "\(name) --help shows a backslash:\n\(r.stdout)")
            // Option paragraphs: a line starting "  -" and its indented continuation lines.
            var paragraphs: [String] = []
            for line in r.stdout.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("  -") { paragraphs.append(String(line)) } else if line.hasPrefix("      "), !paragraphs.isEmpty {
                    paragraphs[paragraphs.count - 1] += " " + line.trimmingCharacters(in: .whitespaces)
                }
            }
            for p in paragraphs {
                XCTAssertLessThanOrEqual(p.components(separatedBy: "(default:").count - 1, 1, "\(name): \(p)")
            }
        }
    }
}
