import DyDiTIO

/// Errors of model construction and loading: each names the file or the name at fault,
/// what was expected and what was found.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case unknownModel(String, suggestion: String?)
    case badConfig(String, String)
    case missingTensor(file: String, name: String)
    case shapeMismatch(file: String, name: String, expected: [Int], actual: [Int])
    case unexpectedTensors(file: String, names: [String])
    case badInput(String)
    /// NaN or infinity in weights or outputs (see `FiniteCheck`).
    case nonFinite(String)

    public var description: String {
        switch self {
        case let .unknownModel(name, suggestion):
            let hint = suggestion.map { " (did you mean \($0)?)" } ?? ""
            return "unknown model '\(name)'\(hint); valid: \(DiTConfig.modelNames.joined(separator: ", "))"
        case let .badConfig(source, message):
            return "\(source): \(message)"
        case let .missingTensor(file, name):
            return "\(file): missing tensor '\(name)'"
        case let .shapeMismatch(file, name, expected, actual):
            return "\(file): tensor '\(name)' has shape \(actual), expected \(expected) for this config"
        case let .unexpectedTensors(file, names):
            let shown = names.prefix(5).joined(separator: ", ")
            return "\(file): \(names.count) tensor(s) this model does not use: \(shown)\(names.count > 5 ? ", …" : "")"
        case let .badInput(message):
            return message
        case let .nonFinite(message):
            return message
        }
    }
}
