// libFuzzer target: the PNG reader (libpng's simplified API behind our size checks).
import DyDiTIO

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let image = try PNGFile.decode(bytes, path: "fuzz.png")
        precondition(image.pixels.count == image.width * image.height * image.channels)
    } catch {
        _ = "\(error)"
    }
    return 0
}
