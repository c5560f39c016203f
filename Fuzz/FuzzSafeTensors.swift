// libFuzzer target: the safetensors reader (header, every tensor's values) and what reads a
// weights file's metadata (the config, the quantization plan, the DiT parameters).
import DyDiTIO
import DyDiTModels

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    do {
        let file = try SafeTensorsFile(bytes: UnsafeRawBufferPointer(start: data, count: size), path: "fuzz.safetensors")
        for name in file.names {
            let t = try file.tensor(name)
            _ = t.floats()
            if t.holdsIntegers { _ = t.integers() }
        }
        let config = try DiTConfig(file: file)
        _ = try QuantizedFormat.plan(of: file)
        _ = try DiTParameters.load(file, config: config)
    } catch {
        _ = "\(error)"
    }
    return 0
}
