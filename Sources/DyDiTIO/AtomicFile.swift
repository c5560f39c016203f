#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files so that readers see the old file or the whole new one, never a part:
/// a temporary file beside the target, fsync, rename over the target, fsync the folder.
/// On any error the temporary file is removed and the target is untouched.
public enum AtomicFile {
    public static func write(to path: String, _ body: (FileSink) throws -> Void) throws {
        let dir = directory(of: path)
        // `removeLeftovers` recognises this name: keep the two in step.
        let temp = "\(dir)/.\(basename(of: path)).tmp-\(getpid())-\(nextSerial())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 {
            let code = errno
            throw IOError(path, "cannot create a file in \(dir): \(systemError(code))")
        }
        let sink = FileSink(fd: fd, path: path)
        do {
            try body(sink)
            if fsync(fd) != 0 { throw IOError(path, "cannot flush to disk: \(systemError(errno))") }
            close(fd)
            sink.closed = true
            if rename(temp, path) != 0 { throw IOError(path, "cannot move the finished file into place: \(systemError(errno))") }
        } catch {
            if !sink.closed { close(fd) }
            unlink(temp)
            throw error
        }
        let dfd = open(dir, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    public static func write(_ bytes: [UInt8], to path: String) throws {
        try write(to: path) { sink in try bytes.withUnsafeBytes { try sink.write($0) } }
    }

    public static func write(_ text: String, to path: String) throws {
        try write(Array(text.utf8), to: path)
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    static func basename(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    nonisolated(unsafe) private static var serial = 0
    private static let serialLock: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()

    private static func nextSerial() -> Int {
        pthread_mutex_lock(serialLock)
        defer { pthread_mutex_unlock(serialLock) }
        serial += 1
        return serial
    }
}

/// The open temporary file of an `AtomicFile.write`.
public final class FileSink {
    let fd: Int32
    let path: String
    var closed = false
    public private(set) var bytesWritten = 0

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                let hint = code == ENOSPC ? " (the disk is full)" : ""
                throw IOError(path, "write failed after \(bytesWritten + offset) bytes: \(systemError(code))\(hint)")
            }
            offset += n
        }
        bytesWritten += bytes.count
    }

    public func write(_ text: String) throws {
        var copy = text
        try copy.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }
}

/// Whole-file reads.
public enum FileReader {
    public static func read(_ path: String) throws -> [UInt8] {
        let mapping = try MappedFile(path: path)
        return Array(UnsafeRawBufferPointer(start: mapping.storage.base, count: mapping.storage.count))
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}

/// A read-only memory mapping of a whole file (an empty file maps to zero bytes).
struct MappedFile {
    let storage: ByteStorage

    init(path: String) throws {
        let fd = try FileReader.openRegular(path)
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw IOError(path, "cannot stat: \(systemError(errno))") }
        let size = Int(st.st_size)
        if size == 0 {
            storage = ByteStorage(copying: UnsafeRawBufferPointer(start: nil, count: 0))
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw IOError(path, "cannot map into memory: \(systemError(errno))")
        }
        storage = ByteStorage(base: UnsafeRawPointer(base), count: size) { munmap(base, size) }
    }
}

extension FileReader {
    /// Opens `path` for reading only if it is a regular file. A FIFO would block `open` (and
    /// every read) until some writer came, a device such as /dev/zero never ends: both are
    /// refused. `O_NONBLOCK` keeps the open itself from blocking; it changes nothing for the
    /// regular files we keep.
    public static func openRegular(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 {
            let code = errno
            throw IOError(path, "cannot open: \(systemError(code))")
        }
        var st = stat()
        if fstat(fd, &st) != 0 {
            let code = errno
            close(fd)
            throw IOError(path, "cannot stat: \(systemError(code))")
        }
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFREG else {
            close(fd)
            throw IOError(path, "is \(describe(kind)), not a regular file; give the path of a file")
        }
        return fd
    }

    static func describe(_ kind: mode_t) -> String {
        switch kind {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO (named pipe), which would block until something writes to it"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "not a file"
        }
    }
}
