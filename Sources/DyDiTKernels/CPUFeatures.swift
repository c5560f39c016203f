#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CSupport

/// The instruction-set builds of the kernels, from the most portable to the fastest.
public enum ISA: String, CaseIterable, Comparable, Sendable, CustomStringConvertible {
    case portable
    case avx2
    case avx512

    public static func < (a: ISA, b: ISA) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    public var description: String { rawValue }

    /// What this build needs from the CPU, as printed in error messages.
    public var requirement: String {
        switch self {
        case .portable: return "nothing"
        case .avx2: return "AVX2, FMA and F16C"
        case .avx512: return "AVX-512 F/BW/VL/DQ, FMA and F16C"
        }
    }
}

/// What the CPU and the operating system support, read once from CPUID and XCR0.
public struct CPUFeatures: Sendable {
    public var avx2 = false
    public var fma = false
    public var f16c = false
    public var avx512f = false
    public var avx512bw = false
    public var avx512vl = false
    public var avx512dq = false
    public var avx512vnni = false
    public var avxvnni = false
    /// AVX512_BF16 (`vdpbf16ps`): the bf16 product's tile.
    public var avx512bf16 = false
    /// AMX-BF16 usable: CPUID, the OS saving the tile state (XCR0 bits 17–18) and Linux
    /// granting this process the tile data (arch_prctl, asked once at detection).
    public var amxBF16 = false
    /// AMX-INT8 usable (the same grants as `amxBF16`).
    public var amxInt8 = false
    public var brand = ""

    public init() {}

    public static let current = CPUFeatures.detect()

    static func detect() -> CPUFeatures {
        var f = CPUFeatures()
        var r: [UInt32] = [0, 0, 0, 0]
        guard dydit_cpuid(1, 0, &r) != 0 else { return f }
        let ecx1 = r[2]
        let xcr0 = dydit_xgetbv0()
        // The OS must save the registers, not only the CPU have them.
        let ymmSaved = xcr0 & 0x6 == 0x6
        let zmmSaved = xcr0 & 0xE6 == 0xE6
        f.fma = ecx1 & (1 << 12) != 0 && ymmSaved
        f.f16c = ecx1 & (1 << 29) != 0 && ymmSaved
        if dydit_cpuid(7, 0, &r) != 0 {
            let ebx = r[1], ecx = r[2]
            f.avx2 = ebx & (1 << 5) != 0 && ymmSaved
            f.avx512f = ebx & (1 << 16) != 0 && zmmSaved
            f.avx512dq = ebx & (1 << 17) != 0 && zmmSaved
            f.avx512bw = ebx & (1 << 30) != 0 && zmmSaved
            f.avx512vl = ebx & (1 << 31) != 0 && zmmSaved
            f.avx512vnni = ecx & (1 << 11) != 0 && zmmSaved
        }
        if dydit_cpuid(7, 0, &r) != 0 {
            let tilesSaved = xcr0 & 0x60000 == 0x60000
            // DYDIT_NO_AMX=1 leaves AMX alone (the bf16 product then runs on AVX512_BF16).
            let wanted = getenv("DYDIT_NO_AMX").map { String(cString: $0).isEmpty } ?? true
            let tiles = wanted && r[3] & (1 << 24) != 0 && tilesSaved && f.avx512f && dydit_amx_request() == 1
            f.amxBF16 = tiles && r[3] & (1 << 22) != 0
            f.amxInt8 = tiles && r[3] & (1 << 25) != 0
        }
        if dydit_cpuid(7, 1, &r) != 0 {
            f.avxvnni = r[0] & (1 << 4) != 0 && ymmSaved
            f.avx512bf16 = r[0] & (1 << 5) != 0 && zmmSaved && f.avx512f
        }
        var brand: [UInt8] = []
        for leaf: UInt32 in 0x8000_0002...0x8000_0004 where dydit_cpuid(leaf, 0, &r) != 0 {
            for word in r { for s in stride(from: 0, to: 32, by: 8) { brand.append(UInt8((word >> UInt32(s)) & 0xFF)) } }
        }
        f.brand = String(decoding: brand.prefix { $0 != 0 }, as: UTF8.self).trimmingCharacters(in: " ")
        return f
    }

    /// Whether the CPU can run the given build.
    public func supports(_ isa: ISA) -> Bool {
        switch isa {
        case .portable: return true
        case .avx2: return avx2 && fma && f16c
        case .avx512: return avx512f && avx512bw && avx512vl && avx512dq && fma && f16c
        }
    }

    /// The fastest build this CPU runs.
    public var best: ISA { ISA.allCases.last { supports($0) }! }

    /// Every build this CPU runs.
    public var supported: [ISA] { ISA.allCases.filter { supports($0) } }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}

/// Errors of the kernel layer.
public enum KernelError: Error, CustomStringConvertible {
    case unsupportedISA(ISA, source: String, cpu: CPUFeatures)
    case unknownISA(String, source: String)
    case invalidThreadCount(Int)
    case tooManyThreads(Int, budget: CPUBudget)
    case threadStartFailed(started: Int, requested: Int, code: Int32)

    public var description: String {
        switch self {
        case let .unsupportedISA(isa, source, cpu):
            return "\(source) asks for the \(isa) kernels, but this CPU (\(cpu.brand.isEmpty ? "unknown" : cpu.brand)) lacks \(isa.requirement); it supports: \(cpu.supported.map(\.rawValue).joined(separator: ", "))"
        case let .unknownISA(name, source):
            return "\(source): unknown kernel build '\(name)'; valid: \(ISA.allCases.map(\.rawValue).joined(separator: ", "))"
        case let .invalidThreadCount(n):
            return "thread count must be at least 1 (got \(n))"
        case let .tooManyThreads(n, budget):
            return "\(n) threads is too many: \(budget.limitDescription); more threads only wait for each other, and each costs memory"
        case let .threadStartFailed(started, requested, code):
            return "could start only \(started) of \(requested) threads (pthread_create: \(String(cString: strerror(code)))); use fewer threads"
        }
    }
}

extension ISA {
    /// The build to use: `DYDIT_ISA` from the environment when set (it may only force a
    /// build the CPU supports), else the best one.
    public static func fromEnvironment(_ environment: [String: String],
                                       cpu: CPUFeatures = .current) throws -> ISA {
        guard let name = environment["DYDIT_ISA"], !name.isEmpty else { return cpu.best }
        guard let isa = ISA(rawValue: name.lowercased()) else {
            throw KernelError.unknownISA(name, source: "DYDIT_ISA")
        }
        guard cpu.supports(isa) else { throw KernelError.unsupportedISA(isa, source: "DYDIT_ISA", cpu: cpu) }
        return isa
    }
}
