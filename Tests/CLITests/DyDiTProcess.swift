import DyDiTIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The `dydit` binary built beside the test bundle (`swift build` before `swift test`;
/// scripts/test.sh does), and running it or another program to the end.
enum DyDiTProcess {
    static func binary() throws -> String {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("dydit").path
        for candidate in [beside, Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("dydit").path]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw IOError(beside, "the dydit binary is not built; run `swift build -c release` before `swift test -c release`")
    }

    static func run(_ args: [String], env: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try binary())
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // stderr drained beside stdout, so a chatty stderr cannot fill its pipe and stall the child.
        final class Collected: @unchecked Sendable { var data = Data() }
        let e = Collected()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            e.data = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e.data, as: UTF8.self))
    }
}
