/// Suggestions for misspelt names in error messages ("did you mean …?").

/// The candidate closest to `name` by edit distance, if reasonably close.
public func closest(to name: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var row = Array(0...b.count)
        for (i, ca) in a.enumerated() {
            var previous = row[0]
            row[0] = i + 1
            for (j, cb) in b.enumerated() {
                let current = row[j + 1]
                row[j + 1] = min(row[j + 1] + 1, row[j] + 1, previous + (ca == cb ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
    // Edit distance is quadratic: a 10-MB "name" gets no suggestion rather than a long wait.
    guard name.utf8.count <= 256 else { return nil }
    let lower = Array(name.lowercased())
    let scored = candidates.map { ($0, distance(lower, Array($0.lowercased()))) }
    guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
    return best.1 <= max(2, lower.count / 2) ? best.0 : nil
}
