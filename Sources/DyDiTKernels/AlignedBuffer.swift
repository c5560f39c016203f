/// A fixed-size, 64-byte aligned, zero-initialised buffer of `Element`s that owns its memory.
/// Kernels take its `pointer` once, outside their loops, so no ARC happens inside them.
public final class AlignedBuffer<Element>: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Element>
    public let count: Int

    public static var alignment: Int { 64 }

    public init(count: Int) {
        self.count = count
        let bytes = max(1, count * MemoryLayout<Element>.stride)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: Self.alignment)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        pointer = raw.bindMemory(to: Element.self, capacity: max(1, count))
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    public var buffer: UnsafeMutableBufferPointer<Element> { .init(start: pointer, count: count) }
    public var byteCount: Int { count * MemoryLayout<Element>.stride }
}
