// libFuzzer target: the IDX reader (plain and gzip), through a file as the reader takes a
// path (in /dev/shm, so no disk is touched).
import DyDiTIO
#if canImport(Glibc)
import Glibc
#endif

private let scratch: String = {
    let dir = FileReader.isDirectory("/dev/shm") ? "/dev/shm" : "/tmp"
    return "\(dir)/dydit-fuzz-idx-\(getpid())"
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let fd = open(scratch, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return 0 }
    if size > 0, let data { _ = write(fd, data, size) }
    close(fd)
    do { _ = try IDXFile(path: scratch) } catch { _ = "\(error)" }
    return 0
}
