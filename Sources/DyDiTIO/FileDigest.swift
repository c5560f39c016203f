#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The SHA-256 of a file's contents, remembered for the life of the process.
///
/// A sweep asks for the same checkpoint once per run (and again after each run, to check it
/// did not change underneath): the digest is kept under the file's identity — device, inode,
/// size, modification and status-change times. Any write to a file moves its ctime, which no
/// user can set back, and an atomic replacement changes its inode, so an unchanged identity
/// means unchanged contents within this process.
public enum FileDigest {
    public struct Digest: Equatable, Sendable {
        /// 64 lowercase hex digits.
        public let sha256: String
        public let bytes: Int64
    }

    struct Identity: Hashable {
        let device: UInt64, inode: UInt64, size: Int64
        let modified: Int64, modifiedNanos: Int, changed: Int64, changedNanos: Int
        init(_ st: stat) {
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
            size = Int64(st.st_size)
            modified = Int64(st.st_mtim.tv_sec)
            modifiedNanos = Int(st.st_mtim.tv_nsec)
            changed = Int64(st.st_ctim.tv_sec)
            changedNanos = Int(st.st_ctim.tv_nsec)
        }
    }

    nonisolated(unsafe) private static var cache: [String: (Identity, Digest)] = [:]
    private static let cacheLock: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()

    /// The digest of the file at `path`. A file that changes while it is read is read again
    /// (twice at most); a missing or unreadable file is an error naming it.
    public static func sha256(_ path: String) throws -> Digest {
        for _ in 0..<3 {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 { throw IOError(path, "cannot open to compute its SHA-256: \(systemError(errno))") }
            defer { close(fd) }
            var before = stat()
            if fstat(fd, &before) != 0 { throw IOError(path, "cannot stat: \(systemError(errno))") }
            if (before.st_mode & S_IFMT) == S_IFDIR { throw IOError(path, "is a directory, expected a file") }
            let identity = Identity(before)
            if let known = cached(path, identity) { return known }
            let digest = try hash(fd, path: path)
            var after = stat()
            if fstat(fd, &after) != 0 { throw IOError(path, "cannot stat: \(systemError(errno))") }
            guard Identity(after) == identity else { continue }
            remember(path, identity, digest)
            return digest
        }
        throw IOError(path, "kept changing while its SHA-256 was computed; wait until whatever writes it has finished")
    }

    private static func hash(_ fd: Int32, path: String) throws -> Digest {
        var hasher = SHA256()
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let n = read(fd, buffer, chunk)
            if n < 0 {
                if errno == EINTR { continue }
                throw IOError(path, "read failed after \(total) bytes: \(systemError(errno))")
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(start: buffer, count: n))
            total += Int64(n)
        }
        return Digest(sha256: hasher.finalizeHex(), bytes: total)
    }

    private static func cached(_ path: String, _ identity: Identity) -> Digest? {
        pthread_mutex_lock(cacheLock)
        defer { pthread_mutex_unlock(cacheLock) }
        guard let (known, digest) = cache[path], known == identity else { return nil }
        return digest
    }

    private static func remember(_ path: String, _ identity: Identity, _ digest: Digest) {
        pthread_mutex_lock(cacheLock)
        defer { pthread_mutex_unlock(cacheLock) }
        cache[path] = (identity, digest)
    }
}
