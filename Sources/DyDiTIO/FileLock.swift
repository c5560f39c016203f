#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An advisory lock on a file (`flock(2)`), held until `release()` or the end of the process.
///
/// The kernel drops the lock when its holder exits, however it exits (a crash, SIGKILL, a
/// lost Slurm node's process), so a lock file left behind never blocks anyone and there is
/// no PID bookkeeping to go stale: a dead holder's PID reused by another process, an empty
/// file caught between create and write, two processes both deciding the old holder is
/// gone. The lock file itself is never deleted — unlinking it while another process waits on
/// the old inode would let two processes hold "the" lock at once.
///
/// Taking is non-blocking: a busy lock is an error naming the lock file and, where the kernel
/// says (`/proc/locks`), the PIDs holding it.
public final class FileLock {
    public enum Mode: Sendable {
        /// One holder: the process writing what the lock guards.
        case exclusive
        /// Any number of holders, none exclusive: processes reading it.
        case shared
    }

    public let path: String
    public let mode: Mode
    private var fd: Int32

    /// Takes the lock on `path` (created if missing). `what` says what the lock guards, for
    /// the error, e.g. "the training folder runs/x"; `hint` what to do about a busy lock.
    public init(path: String, mode: Mode = .exclusive, what: String, hint: String) throws {
        self.path = path
        self.mode = mode
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw IOError(path, "cannot open the lock file: \(systemError(errno))") }
        while flock(fd, (mode == .exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            let holders = Self.holders(of: fd)
            close(fd)
            fd = -1
            guard code == EWOULDBLOCK else { throw IOError(path, "cannot lock: \(systemError(code))") }
            let who = holders.isEmpty ? "another process" : "another process (pid \(holders.map(String.init).joined(separator: ", ")))"
            throw IOError(path, "\(who) is using \(what); \(hint)")
        }
        if mode == .exclusive {
            // For people looking at the folder; the lock itself is the kernel's, not this text.
            var host = [CChar](repeating: 0, count: 256)
            gethostname(&host, host.count - 1)
            let note = "pid \(getpid()) on \(String(cString: host))\n"
            _ = ftruncate(fd, 0)
            _ = note.withCString { pwrite(fd, $0, strlen($0), 0) }
        }
    }

    deinit { release() }

    public var isHeld: Bool { fd >= 0 }

    /// Lets the lock go (closing the file drops it). Safe to call twice.
    public func release() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
    }

    /// PIDs holding a flock on the open file `fd`'s inode, from `/proc/locks` (Linux; empty
    /// elsewhere, or when the holder is on another machine of a shared filesystem).
    static func holders(of fd: Int32) -> [Int32] {
        var st = stat()
        guard fstat(fd, &st) == 0, let text = FileReader.readToEnd("/proc/locks") else { return [] }
        let inode = UInt64(st.st_ino)
        var pids: [Int32] = []
        // "1: FLOCK  ADVISORY  WRITE 4041 08:01:1234567 0 EOF"
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 6, fields[1] == "FLOCK", let pid = Int32(fields[4]),
                  let ino = fields[5].split(separator: ":").last.flatMap({ UInt64($0) }), ino == inode else { continue }
            if !pids.contains(pid) { pids.append(pid) }
        }
        return pids
    }
}

