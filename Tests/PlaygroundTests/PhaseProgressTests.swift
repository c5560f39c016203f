import DyDiTPlayground
import XCTest

/// The run's phase ETA: the fraction done from (batch, step) and the time left at its rate.
final class PhaseProgressTests: XCTestCase {
    func testFractionCountsWholeBatchesAndFinishedSteps() {
        XCTAssertEqual(PhaseProgress.fraction(batch: 0, batches: 4, step: 0, steps: 10), 0.025, accuracy: 1e-12)
        XCTAssertEqual(PhaseProgress.fraction(batch: 1, batches: 4, step: 4, steps: 10), 0.375, accuracy: 1e-12)
        XCTAssertEqual(PhaseProgress.fraction(batch: 3, batches: 4, step: 9, steps: 10), 1)
        // Out-of-range reports stay within [0, 1]; empty phases are not done.
        XCTAssertEqual(PhaseProgress.fraction(batch: 5, batches: 4, step: 9, steps: 10), 1)
        XCTAssertEqual(PhaseProgress.fraction(batch: 0, batches: 0, step: 0, steps: 10), 0)
    }

    func testRemainingAtTheRateSoFar() {
        // A quarter done in 60 s: three quarters left take 180 s.
        XCTAssertEqual(PhaseProgress.remaining(fraction: 0.25, elapsed: 60)!, 180, accuracy: 1e-9)
        XCTAssertEqual(PhaseProgress.remaining(fraction: 1, elapsed: 60)!, 0, accuracy: 1e-12)
        XCTAssertNil(PhaseProgress.remaining(fraction: 0, elapsed: 60))
        // Taken up half-way (a resumed seed): a further quarter in 60 s leaves a quarter, 60 s.
        XCTAssertEqual(PhaseProgress.remaining(fraction: 0.75, since: 0.5, elapsed: 60)!, 60, accuracy: 1e-9)
        XCTAssertNil(PhaseProgress.remaining(fraction: 0.5, since: 0.5, elapsed: 60))
        // Before the first step of batch 2 of 4: two batches done.
        XCTAssertEqual(PhaseProgress.fraction(batch: 2, batches: 4, step: -1, steps: 10), 0.5)
    }
}
