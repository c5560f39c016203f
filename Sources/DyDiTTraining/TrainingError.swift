/// What can go wrong before or during training, with what to do about it.
public enum TrainingError: Error, CustomStringConvertible {
    case data(String)
    case checkpoint(path: String, String)
    case diverged(step: Int, String)

    public var description: String {
        switch self {
        case let .data(message): return "training data: \(message)"
        case let .checkpoint(path, message): return "\(path): \(message)"
        case let .diverged(step, message): return "training diverged at step \(step): \(message)"
        }
    }
}
