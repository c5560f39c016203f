import DyDiTIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Another process holding an exclusive flock on a file until it is killed (python3's fcntl):
/// what a concurrent `dydit` holding a lock looks like from outside.
public final class LockHolder {
    public let process = Process()
    public var pid: Int32 { process.processIdentifier }

    public init(path: String) throws {
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
    public func kill() {
        Glibc.kill(pid, SIGKILL)
        process.waitUntilExit()
    }

    deinit { if process.isRunning { kill() } }
}
