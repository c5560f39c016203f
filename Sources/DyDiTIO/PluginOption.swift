/// What every plug-in kind has in common (routers, samplers, backbones, precisions, metrics,
/// datasets): the name specs and the command line use, one line for `dydit list`, and its
/// declared options. Each kind's protocol refines this with what building one needs.
public protocol NamedPlugin {
    static var name: String { get }
    static var summary: String { get }
    static var options: [PluginOption] { get }
}

/// One option of a plug-in (a router, a sampler, …): its name, default (which also fixes its
/// JSON type), meaning, and the values it accepts. The spec decoder and the command line check
/// every option through this declaration, so a plug-in states its rules once.
public struct PluginOption: Sendable {
    public let name: String
    public let defaultValue: JSONValue
    public let help: String
    /// Values beyond the JSON type: nil accepts whatever has the default's type.
    public let check: OptionCheck?

    public init(_ name: String, _ defaultValue: JSONValue, _ help: String, check: OptionCheck? = nil) {
        self.name = name
        self.defaultValue = defaultValue
        self.help = help
        self.check = check
    }

    /// Why `value` does not fit this option, or nil when it does: first its JSON type (a null
    /// default takes a string, a number or a list: seeds, variance types, σ bounds, trained
    /// betas), then `check`.
    public func problem(with value: JSONValue) -> String? {
        let fits: Bool
        switch defaultValue {
        case .null: fits = value == .null || value.stringValue != nil || value.doubleValue != nil || value.arrayValue != nil
        case .bool: fits = value.boolValue != nil
        case .int, .double: fits = value.doubleValue != nil
        case .string: fits = value.stringValue != nil
        default: fits = true
        }
        guard fits else { return "is \(value.typeName) \(value.serialized()); \(name): \(help)" }
        if let check, value != .null, !check.accepts(value) { return "\(value.serialized()) \(check.failure)" }
        return nil
    }
}

/// A rule on an option's value, with the words an error puts after a value it refuses.
public struct OptionCheck: Sendable {
    /// "is outside (0, 1]": follows the refused value in the error.
    public let failure: String
    public let accepts: @Sendable (JSONValue) -> Bool

    public init(failure: String, _ accepts: @escaping @Sendable (JSONValue) -> Bool) {
        self.failure = failure
        self.accepts = accepts
    }

    /// A share: a number in (0, 1].
    public static let share = OptionCheck(failure: "is outside (0, 1]") { v in v.doubleValue.map { $0 > 0 && $0 <= 1 } ?? false }
    /// A number ≥ 0.
    public static let nonNegative = OptionCheck(failure: "is negative; a number ≥ 0") { v in v.doubleValue.map { $0 >= 0 } ?? false }

    /// One of `values` (strings).
    public static func oneOf(_ values: [String]) -> OptionCheck {
        OptionCheck(failure: "is not one of \(values.joined(separator: ", "))") { v in v.stringValue.map(values.contains) ?? false }
    }
}

/// The validated options of a plug-in, defaults filled in.
public struct PluginOptions: Sendable {
    public let values: JSONObject
    public init(values: JSONObject) { self.values = values }
    public subscript(_ key: String) -> JSONValue { values[key] ?? .null }
    public func double(_ key: String) -> Double { values[key]?.doubleValue ?? .nan }
    public func int(_ key: String) -> Int { Int(values[key]?.intValue ?? 0) }
    public func string(_ key: String) -> String? { values[key]?.stringValue }
}
