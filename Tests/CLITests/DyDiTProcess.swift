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

/// Another process holding an exclusive flock on a file until it is killed (python3's fcntl):
/// what a concurrent `dydit` holding a lock looks like from outside.
final class LockHolder {
    let process = Process()
    var pid: Int32 { process.processIdentifier }

    init(path: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", """
            import fcntl, sys, time
            f = open(sys.argv[1], "a")
            fcntl.flock(f, fcntl.LOCK_EX)
            print("locked", flush=True)
            time.sleep(600)
            """, path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        // The first chunk the holder writes (empty if it died first).
        let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        guard line.hasPrefix("locked") else { throw IOError(path, "the python3 lock holder did not start: '\(line)'") }
    }

    /// SIGKILL: no clean-up of any kind, as a crash or the OOM killer.
    func kill() {
        Glibc.kill(pid, SIGKILL)
        process.waitUntilExit()
    }

    deinit { if process.isRunning { kill() } }
}
