import XCTest
import DyDiTKernels

final class DispatchTests: XCTestCase {
    func testEnvironmentSelectsABuild() throws {
        XCTAssertEqual(try ISA.fromEnvironment([:]), CPUFeatures.current.best)
        XCTAssertEqual(try ISA.fromEnvironment(["DYDIT_ISA": "portable"]), .portable)
        if CPUFeatures.current.supports(.avx2) {
            XCTAssertEqual(try ISA.fromEnvironment(["DYDIT_ISA": "AVX2"]), .avx2)
        } else {
            // A CPU without AVX2 (or a portable-only build): asked for, it is refused with why.
            XCTAssertThrowsError(try ISA.fromEnvironment(["DYDIT_ISA": "AVX2"])) { XCTAssertTrue("\($0)".contains("lacks AVX2"), "\($0)") }
        }
    }

    func testUnknownBuildIsAClearError() {
        XCTAssertThrowsError(try ISA.fromEnvironment(["DYDIT_ISA": "sse9"])) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("sse9") && text.contains("avx512") && text.contains("portable"), text)
        }
    }

    func testUnsupportedBuildIsRefusedNotRun() {
        var cpu = CPUFeatures()
        cpu.avx2 = true; cpu.fma = true; cpu.f16c = true
        XCTAssertThrowsError(try ISA.fromEnvironment(["DYDIT_ISA": "avx512"], cpu: cpu)) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("AVX-512") && text.contains("avx2"), text)
        }
    }

    /// The builds the project detects (CPUID and XCR0) against what the operating system
    /// reports: a detection bug that hid AVX-512 or VNNI would make every test loop over
    /// `CPUFeatures.current.supported` skip those kernels and still pass.
    func testDetectedBuildsMatchTheOperatingSystem() throws {
        let detected = CPUFeatures.current.supported.map(\.rawValue)
        let tiles = Int8Path.allCases.filter { $0.isSupported() }.map(\.rawValue)
        print("kernel builds this CPU runs: \(detected.joined(separator: ", ")); int8 tiles: \(tiles.joined(separator: ", ")) (\(CPUFeatures.current.brand))")
        guard CPUReport.flags != nil else { throw XCTSkip("no /proc/cpuinfo to check the detection against") }
        XCTAssertEqual(detected, CPUReport.kernelBuilds, "detected builds against /proc/cpuinfo")
        XCTAssertEqual(CPUFeatures.current.avx512vnni, CPUReport.int8Pairs.contains("avx512+vnni"), "VNNI against /proc/cpuinfo")
        XCTAssertEqual(tiles.contains("vnni"), CPUReport.int8Pairs.contains("avx512+vnni"))
    }

    func testInvalidThreadCount() {
        XCTAssertThrowsError(try ComputeContext(threads: 0))
    }

    /// `bench peak` times FMAs only while the loop's chains and its two operands stay in
    /// registers: with 24 chains the AVX2 and SSE2 builds (16 registers) spilled them to the
    /// stack and reported half the AVX2 peak (87.8 against 100.8 GFLOP/s for a DiT-S/2 forward).
    func testPeakLoopFitsTheRegisterFile() {
        for isa in supportedISAs {
            let (chains, registers) = Dispatch.peakLoopRegisters(isa)
            XCTAssertLessThanOrEqual(chains + 2, registers, "\(isa): \(chains) chains and 2 operands in \(registers) registers")
            // Enough chains to cover FMA latency (4 cycles) × 2 pipes.
            XCTAssertGreaterThanOrEqual(chains, 8, "\(isa)")
        }
    }

    /// The flops the peak loop reports are the ones it performs: every chain of every lane ends
    /// where 24·iterations / chains scalar fused multiply-adds from the seed end.
    func testPeakLoopPerformsTheFlopsItCounts() {
        let iterations = 1000
        for isa in supportedISAs {
            let (chains, _) = Dispatch.peakLoopRegisters(isa)
            let r = Dispatch.peakLoop(isa, iterations: iterations)
            let lanes = Int((r.flops / Double(iterations * 24 * 2)).rounded())
            // madd(r, a, b) = r·a + b from r = seed = 1, with a = 1.0000001 and b = seed·1e-7.
            let a: Float = 1.000_000_1, b: Float = 1e-7
            var y: Float = 1
            for _ in 0..<(24 * iterations / chains) { y = b.addingProduct(y, a) }
            let expected = Double(y) * Double(chains * lanes)
            XCTAssertEqual(Double(r.sink), expected, accuracy: expected * 1e-5, "\(isa): \(chains) chains × \(lanes) lanes")
        }
    }
}
