import DyDiTIO
import DyDiTPlayground
import ReferenceSupport
import XCTest

/// The latency metric's rounds, on injected timings (no clock, no speed asserted): the two
/// arms alternate, and the medians and the speed-up's spread come from the rounds as given.
final class LatencyRoundsTests: XCTestCase {
    func testRoundsAlternateDynamicAndDense() throws {
        var order: [String] = []
        let r = try LatencyRounds.measure(rounds: 3, dynamic: { order.append("dynamic \($0)"); return 1 },
                                          dense: { order.append("dense \($0)"); return 2 })
        XCTAssertEqual(order, ["dynamic 0", "dense 0", "dynamic 1", "dense 1", "dynamic 2", "dense 2"])
        XCTAssertEqual(r.rounds, 3)
        var alone: [String] = []
        let single = try LatencyRounds.measure(rounds: 2, dynamic: { alone.append("dynamic \($0)"); return 1 }, dense: nil)
        XCTAssertEqual(alone, ["dynamic 0", "dynamic 1"])
        XCTAssertEqual(single.dense, [])
        XCTAssertNil(JSONObject(single.json(images: 1))["speedup"], "no dense baseline, no speed-up")
    }

    func testMediansAndSpreadFromInjectedTimings() throws {
        // Round 4 was disturbed (its dynamic pass took 10 s): the medians shrug it off.
        let dynamic = [1.0, 3, 2, 10, 2], dense = [2.0, 6, 4, 5, 4]
        var i = 0, j = 0
        let r = try LatencyRounds.measure(rounds: 5, dynamic: { _ in defer { i += 1 }; return dynamic[i] },
                                          dense: { _ in defer { j += 1 }; return dense[j] })
        let json = JSONObject(r.json(images: 4))
        func number(_ key: String) -> Double { json[key]?.doubleValue ?? .nan }
        func numbers(_ key: String) -> [Double] { json[key]?.arrayValue?.compactMap(\.doubleValue) ?? [] }
        assertClose(number("seconds"), 2, "median seconds")
        assertClose(number("seconds_per_image"), 0.5, "median seconds / image")
        assertClose(number("dense_seconds_per_image"), 1, "median dense seconds / image")
        assertClose(numbers("round_seconds_per_image"), dynamic.map { $0 / 4 }, tolerance: 0, "dynamic rounds")
        assertClose(numbers("dense_round_seconds_per_image"), dense.map { $0 / 4 }, tolerance: 0, "dense rounds")
        // Per-round ratios 2, 2, 2, 0.5, 2: the median of the ratios, and their range.
        assertClose(numbers("round_speedups"), [2, 2, 2, 0.5, 2], tolerance: 0, "ratios")
        assertClose(number("speedup"), 2, "median speed-up")
        assertClose(number("speedup_min"), 0.5, "min")
        assertClose(number("speedup_max"), 2, "max")
        XCTAssertEqual(json["rounds"]?.intValue, 5)
    }

    func testMedianOfEvenAndOddCounts() {
        assertClose(Statistics.median([3]), 3, "one")
        assertClose(Statistics.median([4, 1, 3, 2]), 2.5, "even: the mean of the middle two")
        assertClose(Statistics.median([5, 1, 4]), 4, "odd")
    }

    func testLoadAverageParsing() {
        let parsed = MachineRecord.loadAverage("0.52 1.10 1.31 3/245 12345\n") ?? []
        assertClose(parsed, [0.52, 1.10, 1.31], tolerance: 0, "load average")
        XCTAssertNil(MachineRecord.loadAverage(nil))
        XCTAssertNil(MachineRecord.loadAverage("garbage"))
    }
}
