import CJSONC
import CPNG
import CZlib

/// The versions of the system libraries this build is linked against, read from the
/// libraries themselves at run time (what a bug report needs, not what the headers said).
public enum LibraryVersions {
    public static var jsonC: String { String(cString: json_c_version()) }
    public static var libpng: String { png_get_libpng_ver(nil).map { String(cString: $0) } ?? "unknown" }
    public static var zlib: String { String(cString: zlibVersion()) }

    public static var all: [(name: String, version: String)] {
        [("json-c", jsonC), ("libpng", libpng), ("zlib", zlib)]
    }
}
