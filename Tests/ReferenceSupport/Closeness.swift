import XCTest

// The one way every test compares numbers. A comparison written by hand is blind to NaN:
// `abs(nan - w) > tol` is false and `max(worst, .nan)` keeps `worst`, so an all-NaN result
// passed the sampler parity tests. Everything here treats a non-finite value on either side
// as a failure, and `Worst` keeps a NaN once it has seen one.

/// How far `got` is from `want`: max |got − want| / max |want| (max |got − want| when `want`
/// is all zero), or `.infinity` when either side holds a NaN or an infinity anywhere, or the
/// counts differ. `.infinity` fails every `≤ tolerance` and survives `max`.
public func relativeError<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ got: [A], _ want: [B]) -> Float {
    Float(Closeness(got, want).relative)
}

/// The comparison of two arrays, with where the first non-finite value is (for messages).
public struct Closeness: CustomStringConvertible {
    /// max |got − want| / max |want| (or the absolute difference when `want` is all zero);
    /// `.infinity` when anything is non-finite or the counts differ.
    public let relative: Double
    public let maxDifference: Double
    public let count: (got: Int, want: Int)
    /// The first index where either side is NaN or ±infinity.
    public let firstNonFinite: (index: Int, got: Double, want: Double)?

    public init<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ got: [A], _ want: [B]) {
        count = (got.count, want.count)
        var diff = 0.0, scale = 0.0
        var bad: (Int, Double, Double)?
        for i in 0..<min(got.count, want.count) {
            let a = Double(got[i]), b = Double(want[i])
            guard a.isFinite && b.isFinite else {
                bad = (i, a, b)
                break
            }
            diff = Swift.max(diff, Swift.abs(a - b))
            scale = Swift.max(scale, Swift.abs(b))
        }
        firstNonFinite = bad
        maxDifference = bad == nil ? diff : .infinity
        if bad != nil || got.count != want.count {
            relative = .infinity
        } else {
            relative = scale == 0 ? diff : diff / scale
        }
    }

    public var description: String {
        if count.got != count.want { return "\(count.got) values, expected \(count.want)" }
        if let (i, a, b) = firstNonFinite { return "non-finite at element \(i): got \(a), expected \(b)" }
        return String(format: "max|a-b|/max|b| = %.3e", relative)
    }
}

/// Asserts `got` within `tolerance` of `want` relative to max |want|; fails on any non-finite
/// value or a count mismatch. Returns the relative error (`.infinity` on failure of finiteness).
@discardableResult
public func assertClose<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(
    _ got: [A], _ want: [B], tolerance: Double, _ label: @autoclosure () -> String = "",
    file: StaticString = #filePath, line: UInt = #line
) -> Double {
    let c = Closeness(got, want)
    if !(c.relative <= tolerance) {
        XCTFail("\(label()): \(c) (tolerance \(tolerance))", file: file, line: line)
    }
    return c.relative
}

/// Asserts |got − want| ≤ absolute + relative·|want| element by element (numpy's `allclose`
/// rule), failing on any non-finite value: `assertWithinBounds` with those bounds. Returns
/// the worst |got − want| / bound.
@discardableResult
public func assertAllClose<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(
    _ got: [A], _ want: [B], absolute: Double, relative: Double = 0, _ label: @autoclosure () -> String = "",
    file: StaticString = #filePath, line: UInt = #line
) -> Double {
    assertWithinBounds(got, want, bounds: want.map { absolute + relative * Swift.abs(Double($0)) }, label(), file: file, line: line)
}

/// Asserts one number within `absolute + relative·|want|`, failing on NaN or infinity.
public func assertClose(_ got: Double, _ want: Double, absolute: Double = 0, relative: Double = 0,
                        _ label: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    let ok = got.isFinite && want.isFinite && Swift.abs(got - want) <= absolute + relative * Swift.abs(want)
    if !ok { XCTFail("\(label()): \(got), expected \(want) (±\(absolute) + \(relative)·|expected|)", file: file, line: line) }
}

/// The worst of several errors. A NaN recorded once stays (where `max(worst, .nan)` drops it).
public struct Worst {
    public private(set) var value: Double = 0
    public private(set) var count = 0
    public init() {}
    public mutating func record<F: BinaryFloatingPoint>(_ error: F) {
        count += 1
        let e = Double(error)
        if e.isNaN || value.isNaN { value = .nan } else { value = Swift.max(value, e) }
    }
    /// True when something was recorded and every error was finite and ≤ `tolerance`.
    public func within(_ tolerance: Double) -> Bool { count > 0 && value.isFinite && value <= tolerance }
    public func assertWithin(_ tolerance: Double, _ label: @autoclosure () -> String = "",
                             file: StaticString = #filePath, line: UInt = #line) {
        if count == 0 { XCTFail("\(label()): nothing was compared", file: file, line: line) }
        else if !within(tolerance) { XCTFail("\(label()): worst error \(value) > \(tolerance)", file: file, line: line) }
    }
}
