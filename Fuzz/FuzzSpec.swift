// libFuzzer target: the spec decoder, from bytes to expanded, typed runs (what
// `dydit validate` does, without touching files named in the spec).
import DyDiTPlayground

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSpec(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let runs = try SpecFile(bytes: bytes, path: "/nonexistent/fuzz/spec.json").expand(checkFiles: false)
        for run in runs { _ = run.spec.resolved.serialized(pretty: true) }
    } catch {
        _ = "\(error)"
    }
    return 0
}
