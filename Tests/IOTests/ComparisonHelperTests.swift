import ReferenceSupport
import XCTest

/// The shared comparison helper must see what hand-written comparisons missed: NaN and
/// infinities on either side, and a NaN among several recorded errors.
final class ComparisonHelperTests: XCTestCase {
    func testRelativeErrorSeesNonFiniteValues() {
        XCTAssertEqual(relativeError([1, 2, 3] as [Float], [1, 2, 3] as [Float]), 0)
        XCTAssertEqual(relativeError([1, 2, 4] as [Float], [1, 2, 3] as [Float]), 1 / 3, accuracy: 1e-7)
        XCTAssertEqual(relativeError([0.5] as [Float], [0] as [Float]), 0.5, "all-zero reference: the absolute difference")
        for bad: Float in [.nan, .infinity, -.infinity] {
            XCTAssertEqual(relativeError([1, bad, 3], [1, 2, 3] as [Float]), .infinity, "\(bad) in got")
            XCTAssertEqual(relativeError([1, 2, 3] as [Float], [1, bad, 3]), .infinity, "\(bad) in want")
            XCTAssertFalse(relativeError([Float](repeating: bad, count: 4), [Float](repeating: 1, count: 4)) <= 1e-4)
        }
        XCTAssertEqual(relativeError([1, 2] as [Float], [1, 2, 3] as [Float]), .infinity, "counts differ")
        XCTAssertEqual(relativeError([1, 2] as [Double], [1, 2] as [Float]), 0, "mixed precisions compare")
        let c = Closeness([1, .nan] as [Float], [1, 2] as [Float])
        XCTAssertEqual(c.firstNonFinite?.index, 1)
        XCTAssertTrue(c.description.contains("non-finite at element 1"), c.description)
    }

    func testWorstKeepsNaN() {
        var w = Worst()
        XCTAssertFalse(w.within(1), "nothing recorded is not a pass")
        w.record(1e-6 as Float)
        XCTAssertTrue(w.within(1e-5))
        w.record(Float.nan)
        w.record(1e-7 as Float)
        XCTAssertTrue(w.value.isNaN, "max(worst, .nan) would have kept \(w.value)")
        XCTAssertFalse(w.within(1e-5))
        var inf = Worst()
        inf.record(Double.infinity)
        XCTAssertFalse(inf.within(.greatestFiniteMagnitude))
    }

    /// The asserting forms fail on NaN, infinity, mismatched counts and an empty `Worst`
    /// (their failures are counted here instead of failing this test).
    func testAssertionsFailOnNonFinite() {
        let failures = countFailures {
            assertClose([Float.nan], [1] as [Float], tolerance: 1, "nan")
            assertClose([1] as [Float], [Float.infinity], tolerance: 1, "inf in want")
            assertClose([1, 2] as [Float], [1] as [Float], tolerance: 1, "count")
            assertAllClose([1, .nan] as [Float], [1, 2] as [Float], absolute: 1, "allclose nan")
            assertClose(Double.nan, 1, absolute: 1, "scalar nan")
            var w = Worst()
            w.record(Float.nan)
            w.assertWithin(1, "worst nan")
            Worst().assertWithin(1, "empty worst")
        }
        XCTAssertEqual(failures, 7)
        let passes = countFailures {
            assertClose([1, 2] as [Float], [1, 2.0001] as [Float], tolerance: 1e-4, "close")
            assertAllClose([1, 2] as [Float], [1.05, 2] as [Float], absolute: 0.1, "allclose")
            assertClose(1.0, 1.0 + 1e-12, relative: 1e-9, "scalar")
        }
        XCTAssertEqual(passes, 0)
    }

    /// XCTest's own forms stay allowed where their NaN behaviour is right: a NaN must fail
    /// `XCTAssertEqual(_:_:accuracy:)`, `XCTAssertLessThan` and `XCTAssertLessThanOrEqual`.
    func testXCTestFormsFailOnNaN() {
        let failures = countFailures {
            XCTAssertEqual(Double.nan, 1, accuracy: 10)
            XCTAssertEqual(Float(1), .nan, accuracy: 10)
            XCTAssertLessThan(Double.nan, 1)
            XCTAssertLessThanOrEqual(Float.nan, 1)
        }
        XCTAssertEqual(failures, 4)
    }

    private var swallowing = false
    private var swallowed = 0

    /// Runs `body` and returns how many XCTest failures it recorded, without failing this test.
    private func countFailures(_ body: () -> Void) -> Int {
        swallowing = true
        swallowed = 0
        body()
        swallowing = false
        return swallowed
    }

    override func recordFailure(withDescription description: String, inFile filePath: String, atLine lineNumber: Int, expected: Bool) {
        if swallowing {
            swallowed += 1
        } else {
            super.recordFailure(withDescription: description, inFile: filePath, atLine: lineNumber, expected: expected)
        }
    }
}
