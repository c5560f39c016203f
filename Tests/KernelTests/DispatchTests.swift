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
}
