/// How far one phase of a run is — its own pass, a timing round, an extra seed — from the
/// batch and step the sampling loop reports, and the time it still needs at the rate so far.
/// A 5000-image seed takes tens of minutes: the progress line's per-batch ETA alone does not
/// say when the phase ends.
public enum PhaseProgress {
    /// The fraction of the phase done once step `step` (0-based; −1: none yet) of batch `batch`
    /// (0-based) has finished: whole batches, plus the finished steps of the current one.
    public static func fraction(batch: Int, batches: Int, step: Int, steps: Int) -> Double {
        guard batches > 0, steps > 0 else { return 0 }
        let done = Double(batch) + Double(max(0, min(step + 1, steps))) / Double(steps)
        return min(1, max(0, done / Double(batches)))
    }

    /// Seconds left at the rate since this process took the phase up at `since` (a resumed
    /// phase starts part-way: its earlier batches took no time here); nil before anything is done.
    public static func remaining(fraction: Double, since: Double = 0, elapsed: Double) -> Double? {
        guard fraction > since, elapsed >= 0 else { return nil }
        return elapsed * (1 - fraction) / (fraction - since)
    }
}
