import DyDiTIO

/// Errors of schedule and sampler configuration: each names the option, the offending
/// value and what is allowed, before any sampling starts. Where the input came from (a file,
/// a spec path, a flag) and which diffusers scheduler read it are fields, so a caller that
/// reports its own location (the spec decoder) uses `detail` as it is.
public struct SamplerError: Error, CustomStringConvertible, Equatable {
    /// The file, spec path or flag the bad input came from, if known.
    public let source: String?
    /// The diffusers scheduler class that read the options, if one did.
    public let scheduler: String?
    /// What is wrong, without the source.
    public let detail: String

    public init(_ message: String) {
        source = nil
        scheduler = nil
        detail = message
    }

    public init(source: String, scheduler: String? = nil, _ detail: String) {
        self.source = source
        self.scheduler = scheduler
        self.detail = detail
    }

    public var description: String {
        guard let source else { return detail }
        return "\(source)\(scheduler.map { " (\($0))" } ?? ""): \(detail)"
    }

    /// The detail with the scheduler named, for a caller that prints the source itself.
    public var detailWithScheduler: String { scheduler.map { "\(detail) (\($0))" } ?? detail }

    static func unknownOption(_ key: String, source: String, scheduler: String, known: [String]) -> SamplerError {
        let hint = closest(to: key, in: known).map { " (did you mean '\($0)'?)" } ?? ""
        return SamplerError(source: source, scheduler: scheduler, "unknown option '\(key)'\(hint); options: \(known.sorted().joined(separator: ", "))")
    }

    static func badValue(_ key: String, _ value: String, source: String, scheduler: String, allowed: String) -> SamplerError {
        SamplerError(source: source, scheduler: scheduler, "option '\(key)' is \(value); allowed: \(allowed)")
    }
}
