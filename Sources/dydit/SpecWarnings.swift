import DyDiTPlayground

/// Prints each distinct warning of a spec's runs to stderr, once (a sweep repeats the
/// warnings of the settings its runs share).
func printWarnings(_ runs: [SpecFile.Run]) {
    var seen = Set<String>()
    for warning in runs.flatMap(\.warnings) where seen.insert(warning.description).inserted {
        printError("warning: \(warning)")
    }
}
