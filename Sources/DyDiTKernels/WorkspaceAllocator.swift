/// Allocates a workspace's buffers and adds up their bytes as it goes, so a workspace names
/// each buffer once, where it is allocated, and its reported size cannot miss one (workspaces
/// used to keep a second, hand-written list of their buffers for `byteCount`).
public final class WorkspaceAllocator {
    public private(set) var byteCount = 0

    public init() {}

    /// A zeroed, 64-byte-aligned buffer of `count` elements, counted.
    public func make<Element>(_ count: Int) -> AlignedBuffer<Element> {
        let buffer = AlignedBuffer<Element>(count: count)
        byteCount += buffer.byteCount
        return buffer
    }
}
