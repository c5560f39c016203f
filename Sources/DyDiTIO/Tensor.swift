#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bytes that tensors view: an owned allocation or a read-only file mapping.
public final class ByteStorage: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let count: Int
    private let release: () -> Void

    init(base: UnsafeRawPointer, count: Int, release: @escaping () -> Void) {
        self.base = base
        self.count = count
        self.release = release
    }

    /// Copies `bytes` into a new 64-byte aligned allocation.
    convenience init(copying bytes: UnsafeRawBufferPointer) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        if let src = bytes.baseAddress, bytes.count > 0 { raw.copyMemory(from: src, byteCount: bytes.count) }
        self.init(base: UnsafeRawPointer(raw), count: bytes.count) { raw.deallocate() }
    }

    deinit { release() }
}

/// A dense, row-major tensor of one `DType`: a shape and a view of bytes.
/// Model code converts what it needs to `[Float]` once, at load time.
public struct Tensor: @unchecked Sendable {
    public let dtype: DType
    public let shape: [Int]
    let storage: ByteStorage
    let byteOffset: Int

    public var count: Int { shape.reduce(1, *) }
    public var byteCount: Int { count * dtype.byteSize }
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: storage.base + byteOffset, count: byteCount)
    }

    init(dtype: DType, shape: [Int], storage: ByteStorage, byteOffset: Int) {
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
        self.byteOffset = byteOffset
    }

    /// A tensor holding a copy of `bytes` (little-endian elements of `dtype`).
    public init(dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == shape.reduce(1, *) * dtype.byteSize,
                     "\(bytes.count) bytes for shape \(shape) of \(dtype.rawValue)")
        self.init(dtype: dtype, shape: shape, storage: ByteStorage(copying: bytes), byteOffset: 0)
    }

    public init(_ values: [Float], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self = values.withUnsafeBytes { Tensor(dtype: .f32, shape: shape, bytes: $0) }
    }

    public init(_ values: [Float16], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self = values.withUnsafeBytes { Tensor(dtype: .f16, shape: shape, bytes: $0) }
    }

    public init(_ values: [Int8], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self = values.withUnsafeBytes { Tensor(dtype: .i8, shape: shape, bytes: $0) }
    }

    public init(_ values: [Int64], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self = values.withUnsafeBytes { Tensor(dtype: .i64, shape: shape, bytes: $0) }
    }

    public init(_ values: [Double], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self = values.withUnsafeBytes { Tensor(dtype: .f64, shape: shape, bytes: $0) }
    }

    /// The elements as `Float` (floats are rounded, integers converted).
    public func floats() -> [Float] {
        let raw = bytes
        let n = count
        return [Float](unsafeUninitializedCapacity: n) { out, initialized in
            switch dtype {
            case .f32: for i in 0..<n { out[i] = raw.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
            case .f64: for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
            case .f16: for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self)) }
            case .bf16:
                for i in 0..<n {
                    out[i] = Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
                }
            case .i64: for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
            case .i32: for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
            case .i16: for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) }
            case .i8: for i in 0..<n { out[i] = Float(raw.load(fromByteOffset: i, as: Int8.self)) }
            case .u8, .bool: for i in 0..<n { out[i] = Float(raw[i]) }
            }
            initialized = n
        }
    }

    /// The elements of an F16 tensor as they are (no widening).
    public func halves() -> [Float16] {
        precondition(dtype == .f16, "halves() of a \(dtype.rawValue) tensor")
        let raw = bytes
        return (0..<count).map { raw.loadUnaligned(fromByteOffset: 2 * $0, as: Float16.self) }
    }

    /// The elements of an I8 tensor.
    public func int8s() -> [Int8] {
        precondition(dtype == .i8, "int8s() of a \(dtype.rawValue) tensor")
        return Array(bytes.bindMemory(to: Int8.self))
    }

    /// The elements as `Double`.
    public func doubles() -> [Double] {
        if dtype == .f64 {
            let raw = bytes
            return (0..<count).map { raw.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self) }
        }
        if dtype == .i64 { return integers().map(Double.init) }
        return floats().map(Double.init)
    }

    /// The elements as `Int64`; nil when a floating-point element is not an integer.
    public func integers() -> [Int64] {
        let raw = bytes
        switch dtype {
        case .i64: return (0..<count).map { raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self) }
        case .i32: return (0..<count).map { Int64(raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
        case .i16: return (0..<count).map { Int64(raw.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self)) }
        case .i8: return (0..<count).map { Int64(raw.load(fromByteOffset: $0, as: Int8.self)) }
        case .u8, .bool: return raw.map { Int64($0) }
        // Callers check `holdsIntegers` first; NaN and out-of-range values still must not trap.
        case .f64: return doubles().map(Self.clampedInteger)
        case .f32, .f16, .bf16: return floats().map { Self.clampedInteger(Double($0)) }
        }
    }

    static func clampedInteger(_ x: Double) -> Int64 {
        x.isFinite && abs(x) < 9.2e18 ? Int64(x) : 0
    }

    /// Whether every element is a whole number (always for integer types).
    public var holdsIntegers: Bool {
        dtype.isFloatingPoint ? doubles().allSatisfy { $0.rounded() == $0 && abs($0) < 9e18 } : true
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "\(dtype.rawValue)\(shape)" }
}
