/// Errors of the I/O layer. Every message names the file, and where it applies the tensor,
/// what was expected and what was found.
public struct IOError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let message: String

    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// The C library's description of `errno`.
func systemError(_ code: Int32) -> String {
    String(cString: strerror(code))
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
