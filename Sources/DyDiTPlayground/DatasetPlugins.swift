import DyDiTIO
import DyDiTTraining
#if canImport(Glibc)
import Glibc
#endif

/// A dataset selectable by name: `{"type": name, "path": …, "split": …}` in `train.dataset`
/// and `eval.test.dataset`. Registering one is a type and a line in `Registry.datasets`.
/// Its `options` are `path` and `split`, with this dataset's defaults (a null path has none:
/// it must be given).
public protocol DatasetPlugin: NamedPlugin {
    static func load(_ dataset: DatasetChoice, channels: Int) throws -> ImageDataset
    /// The files `load` reads, found the way it finds them: what a run's key hashes.
    static func files(_ dataset: DatasetChoice) throws -> [String]
}

/// A decoded dataset section: what a spec's `dataset` object resolves to.
public struct DatasetChoice: Sendable, Equatable {
    public var type: String
    public var path: String
    public var split: String

    public init(type: String, path: String, split: String) {
        self.type = type
        self.path = path
        self.split = split
    }

    /// The resolved section, in the key order run keys were made with.
    public var resolvedJSON: JSONValue {
        .object(JSONObject([("type", .string(type)), ("path", .string(path)), ("split", .string(split))]))
    }

    /// Decodes a `dataset` object at `path`. `split` is the section's default split (train for
    /// training, test for evaluation); a dataset without a default path needs one only when
    /// `pathNeeded` (an eval test set is read only by the test-loss metric).
    static func decode(_ value: JSONValue?, _ path: String, _ d: SpecDecoder, split defaultSplit: String,
                       pathNeeded: Bool = true) -> DatasetChoice {
        let o = d.object(value, path, allowed: ["type", "path", "split"])
        let type = d.string(o, "type", path, default: "fashion-mnist", allowed: Registry.datasets.map { $0.name })
        let options = Registry.dataset(type)?.options ?? []
        let defaultPath = options.first { $0.name == "path" }?.defaultValue.stringValue
        let dir = d.string(o, "path", path, default: defaultPath ?? "")
        if dir.isEmpty && pathNeeded {
            d.error(JSONLocator.child(path, "path"), "is missing: give the folder of class sub-folders of PNGs")
        }
        let split = d.string(o, "split", path, default: defaultSplit, allowed: ["train", "test"])
        return DatasetChoice(type: type, path: dir, split: split)
    }
}

public enum FashionMNISTDataset: DatasetPlugin {
    public static let name = "fashion-mnist"
    public static let summary = "Fashion-MNIST IDX files (.gz read through zlib)"
    public static let options = [
        PluginOption("path", .string(ImageDataset.fashionMNISTDirectory), "the folder (Debian's dataset-fashion-mnist by default)"),
        PluginOption("split", .string("train"), "train | test (evaluation sections default to test)", check: .oneOf(["train", "test"])),
    ]
    public static func load(_ dataset: DatasetChoice, channels: Int) throws -> ImageDataset {
        try ImageDataset.fashionMNIST(directory: dataset.path, split: dataset.split)
    }

    /// The split's image and label files, `.gz` first.
    public static func files(_ d: DatasetChoice) throws -> [String] {
        let prefix = d.split == "test" ? "t10k" : "train"
        return try ["images-idx3-ubyte", "labels-idx1-ubyte"].map { stem in
            let candidates = ["\(d.path)/\(prefix)-\(stem).gz", "\(d.path)/\(prefix)-\(stem)"]
            guard let found = candidates.first(where: FileReader.exists) else {
                throw IOError(candidates[0], "not found: eval.test.dataset names the Fashion-MNIST \(d.split) split in \(d.path)")
            }
            return found
        }
    }
}

public enum ImageFolderDataset: DatasetPlugin {
    public static let name = "image-folder"
    public static let summary = "PNGs in one sub-folder per class (labels: sorted folder names)"
    public static let options = [
        PluginOption("path", .null, "the root folder (required)"),
        PluginOption("split", .string("train"), "recorded only: the folder is the split", check: .oneOf(["train", "test"])),
    ]
    public static func load(_ dataset: DatasetChoice, channels: Int) throws -> ImageDataset {
        try ImageDataset.imageFolder(dataset.path, channels: channels)
    }

    /// The PNGs of every class folder, in sorted order.
    public static func files(_ d: DatasetChoice) throws -> [String] {
        var files: [String] = []
        for cls in try listing(d.path) where FileReader.isDirectory("\(d.path)/\(cls)") {
            files += try listing("\(d.path)/\(cls)").filter { $0.lowercased().hasSuffix(".png") }.map { "\(d.path)/\(cls)/\($0)" }
        }
        return files
    }

    /// Visible names in a folder, sorted.
    private static func listing(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw IOError(path, "cannot be listed: \(String(cString: strerror(errno)))") }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix(".") { names.append(name) }
        }
        return names.sorted()
    }
}
