import XCTest
import DyDiTKernels

final class DispatchTests: XCTestCase {
    func testEnvironmentSelectsABuild() throws {
        XCTAssertEqual(try ISA.fromEnvironment([:]), CPUFeatures.current.best)
        XCTAssertEqual(try ISA.fromEnvironment(["DYDIT_ISA": "portable"]), .portable)
        XCTAssertEqual(try ISA.fromEnvironment(["DYDIT_ISA": "AVX2"]), CPUFeatures.current.supports(.avx2) ? .avx2 : nil)
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

    func testInvalidThreadCount() {
        XCTAssertThrowsError(try ComputeContext(threads: 0))
    }
}
