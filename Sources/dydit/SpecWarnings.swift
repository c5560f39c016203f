import DyDiTPlayground

/// Prints each distinct warning of a spec's runs to stderr, once (a sweep repeats the
/// warnings of the settings its runs share).
func printWarnings(_ runs: [SpecFile.Run]) {
    for warning in uniqueWarnings(runs) { printError("warning: \(warning)") }
}

/// Each distinct warning of the runs once, in order.
func uniqueWarnings(_ runs: [SpecFile.Run]) -> [SpecIssue] {
    var seen = Set<String>()
    return runs.flatMap(\.warnings).filter { seen.insert($0.description).inserted }
}
