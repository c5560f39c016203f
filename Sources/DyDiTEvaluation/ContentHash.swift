import DyDiTTraining

/// A 128-bit fingerprint (two FNV-1a lanes of different offsets, hex) of bytes: the key of
/// cached reference features. Cache keys, not security: a collision would need two
/// classifiers or reference sets built to collide.
public enum ContentHash {
    public static func hex(of bytes: UnsafeRawBufferPointer) -> String {
        var a: UInt64 = 0xCBF2_9CE4_8422_2325, b: UInt64 = 0x6C62_272E_07BB_0142
        for byte in bytes {
            a = (a ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            b = (b ^ UInt64(byte ^ 0x5A)) &* 0x0000_0100_0000_01B3
        }
        return String(format: "%016llx%016llx", a, b)
    }

    public static func hex(of floats: [Float]) -> String { floats.withUnsafeBytes { hex(of: $0) } }

    public static func hex(of parameters: ParameterSet) -> String {
        hex(of: UnsafeRawBufferPointer(start: parameters.pointer, count: parameters.count * MemoryLayout<Float>.stride))
    }
}
