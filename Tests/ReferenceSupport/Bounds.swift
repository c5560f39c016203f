import XCTest

// Comparisons whose tolerance differs element by element: a few ulps of each expected value,
// or an error bound that grows with Σ|a·b| of that element's dot product. Same rules as
// Closeness.swift: a NaN or an infinity on either side, or a count mismatch, always fails.

/// Asserts |got[i] − want[i]| ≤ bounds[i] for every i. Returns the worst ratio
/// |got − want| / bound (`.infinity` when anything is non-finite or the counts differ).
@discardableResult
public func assertWithinBounds<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(
    _ got: [A], _ want: [B], bounds: [Double], _ label: @autoclosure () -> String = "",
    file: StaticString = #filePath, line: UInt = #line
) -> Double {
    guard got.count == want.count, bounds.count == want.count else {
        XCTFail("\(label()): \(got.count) values, expected \(want.count) (\(bounds.count) bounds)", file: file, line: line)
        return .infinity
    }
    var worst = 0.0, failures = 0
    for i in got.indices {
        let a = Double(got[i]), b = Double(want[i]), bound = bounds[i]
        let diff = Swift.abs(a - b)
        let ok = a.isFinite && b.isFinite && bound.isFinite && diff <= bound
        worst = ok ? Swift.max(worst, bound > 0 ? diff / bound : 0) : .infinity
        if !ok {
            if failures == 0 {
                XCTFail("\(label()): element \(i) is \(a), expected \(b) (bound \(bound))", file: file, line: line)
            }
            failures += 1
        }
    }
    if failures > 1 { XCTFail("\(label()): \(failures) of \(got.count) elements outside their bounds", file: file, line: line) }
    return worst
}

/// Asserts every element within `ulps` units in the last place of its expected value
/// (float32 ulps): for results that differ from the expectation only by float rounding.
@discardableResult
public func assertWithinULPs(_ got: [Float], _ want: [Float], ulps: Float, _ label: @autoclosure () -> String = "",
                             file: StaticString = #filePath, line: UInt = #line) -> Double {
    assertWithinBounds(got, want, bounds: want.map { Double(ulps * $0.ulp) }, label(), file: file, line: line)
}
