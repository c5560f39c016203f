#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where kernels run: the chosen ISA build, the thread pool and each thread's scratch.
///
/// Scratch is allocated up front (`reserve`) by the code that plans a computation, never by
/// the kernels, so nothing is allocated while a forward pass or a sampling loop runs.
public final class ComputeContext {
    public let isa: ISA
    public let pool: ThreadPool
    public var threadCount: Int { pool.threadCount }

    /// Per-thread scratch: the GEMM's packing buffers first, then `extraBytes` for the caller.
    private var scratch: [AlignedBuffer<UInt8>] = []
    private var gemmBytes: Int
    public private(set) var extraBytes = 0
    /// Quantized activations of int8 products, shared by the products run on this context
    /// (they run one after another); it grows to the largest product once.
    public let int8Workspace = Int8Activations()
    /// The bf16 product's rounded activations (reused across products).
    public let bf16Workspace = BF16Activations()
    /// How int8 products quantize their activations (per row unless an experiment measures
    /// the block-32 alternative).
    public var int8Activations = Int8ActivationScheme.perRow
    /// The integer kernels of int8 products: the best this ISA build and CPU run (VNNI under
    /// the AVX-512 build when the CPU has it, else the AVX2 tile). Settable so that tests can
    /// run the AVX-512 build with the AVX2 tile on a VNNI CPU: what a CPU with AVX-512 but
    /// no VNNI runs, which would otherwise never be tested here.
    public var int8Path: Int8Path {
        didSet { precondition(int8Path.isSupported(), "the \(int8Path) int8 path needs instructions this CPU lacks") }
    }

    /// - Parameters:
    ///   - threads: total threads, the calling one included.
    ///   - isa: the kernel build; nil picks `DYDIT_ISA` from the environment or the best one.
    public init(threads: Int, isa: ISA? = nil,
                environment: [String: String] = ProcessEnvironment.variables) throws {
        guard threads >= 1 else { throw KernelError.invalidThreadCount(threads) }
        guard threads <= CPUBudget.current.maxThreads else { throw KernelError.tooManyThreads(threads, budget: .current) }
        let chosen = try isa ?? ISA.fromEnvironment(environment)
        let cpu = CPUFeatures.current
        guard cpu.supports(chosen) else { throw KernelError.unsupportedISA(chosen, source: "the caller", cpu: cpu) }
        self.isa = chosen
        int8Path = Int8Path.best(for: chosen, cpu: cpu)
        self.pool = try ThreadPool(threads: threads)
        self.gemmBytes = Dispatch.gemmScratchBytes(chosen)
        allocateScratch()
    }

    private func allocateScratch() {
        scratch = (0..<threadCount).map { _ in AlignedBuffer<UInt8>(count: gemmBytes + extraBytes + 64) }
    }

    /// Makes sure each thread has at least `bytes` of caller scratch. Call it while planning,
    /// outside parallel regions; it allocates only when the request grows.
    public func reserveExtraScratch(bytes: Int) {
        if bytes > extraBytes {
            extraBytes = (bytes + 63) & ~63
            allocateScratch()
        }
    }

    /// The GEMM scratch of thread `thread`.
    @inline(__always)
    public func gemmScratch(thread: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(scratch[thread].pointer)
    }

    /// The caller's scratch of thread `thread` (`extraBytes` long, 64-byte aligned).
    @inline(__always)
    public func extraScratch(thread: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(scratch[thread].pointer) + gemmBytes
    }
}

/// The process environment without Foundation.
public enum ProcessEnvironment {
    public static var variables: [String: String] {
        var result: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") {
                result[String(s[..<eq])] = String(s[s.index(after: eq)...])
            }
            p += 1
        }
        return result
    }
}
