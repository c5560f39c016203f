import DyDiTIO

/// Errors of schedule and sampler configuration: each names the option, the offending
/// value and what is allowed, before any sampling starts.
public struct SamplerError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    static func unknownOption(_ key: String, scheduler: String, known: [String]) -> SamplerError {
        let hint = closest(to: key, in: known).map { " (did you mean '\($0)'?)" } ?? ""
        return SamplerError("\(scheduler): unknown option '\(key)'\(hint); options: \(known.sorted().joined(separator: ", "))")
    }

    static func badValue(_ key: String, _ value: String, scheduler: String, allowed: String) -> SamplerError {
        SamplerError("\(scheduler): option '\(key)' is \(value); allowed: \(allowed)")
    }
}
