import DyDiTIO
import DyDiTTraining
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Images ready for the classifier (`[count, 28, 28]` in [-1, 1], see `ClassifierInput`),
/// with the classes they were asked for or carry, when known.
public struct ImageSet: Sendable {
    public let name: String
    public let count: Int
    public let images: [Float]
    public let classes: [Int]?

    public init(name: String, count: Int, images: [Float], classes: [Int]?) {
        self.name = name
        self.count = count
        self.images = images
        self.classes = classes
    }

    /// A fingerprint of the images and classes: half of the key of cached reference features.
    public var fingerprint: String {
        var bytes = [UInt8]()
        images.withUnsafeBytes { bytes += $0 }
        (classes ?? []).map(Int64.init).withUnsafeBytes { bytes += $0 }
        return bytes.withUnsafeBytes { ContentHash.hex(of: $0) }
    }
}

/// Where `dydit metrics`, `dydit features` and `eval.reference` read images from:
///
/// - `fashion-mnist:train`, `fashion-mnist:test`, or with `:N` the first N images of the split
///   (classes: the labels);
/// - a samples file: safetensors with F32 `samples [N, C, H, W]` in [-1, 1] and optionally
///   I64 `classes [N]` (what `dydit sample --out X.safetensors` and `dydit run` write);
/// - a folder of PNGs (all of one size; gray), in file-name order, without classes.
public enum ImageSource {
    public static let forms = "fashion-mnist:train|test[:N], a samples .safetensors (F32 samples [N,C,H,W], optional I64 classes [N]), or a folder of PNGs"

    public static func load(_ source: String, _ a: ClassifierArchitecture = ClassifierArchitecture(),
                            dataDirectory: String = ImageDataset.fashionMNISTDirectory) throws -> ImageSet {
        if source.hasPrefix("fashion-mnist:") { return try dataset(source, a, dataDirectory: dataDirectory) }
        var st = stat()
        guard stat(source, &st) == 0 else {
            throw IOError(source, "does not exist; an image set is \(forms)")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { return try pngFolder(source, a) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw IOError(source, "is not a regular file or a folder; an image set is \(forms)") }
        guard source.hasSuffix(".safetensors") else { throw IOError(source, "is not a .safetensors samples file; an image set is \(forms)") }
        return try samplesFile(source, a)
    }

    static func dataset(_ source: String, _ a: ClassifierArchitecture, dataDirectory: String) throws -> ImageSet {
        let parts = source.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, ["train", "test"].contains(parts[1]) else {
            throw IOError(source, "is not a dataset reference: use fashion-mnist:train or fashion-mnist:test, optionally :N for the first N images")
        }
        let ds = try ImageDataset.fashionMNIST(directory: dataDirectory, split: parts[1])
        var n = ds.count
        if parts.count == 3 {
            guard let k = Int(parts[2]), k >= 1, k <= ds.count else {
                throw IOError(source, "asks for '\(parts[2])' images; the \(parts[1]) split has 1…\(ds.count)")
            }
            n = k
        }
        try ClassifierInput.check(ds, a)
        return ImageSet(name: source, count: n, images: ClassifierInput.images(ds, a, indices: Array(0..<n)),
                        classes: Array(ds.labels.prefix(n)))
    }

    static func samplesFile(_ path: String, _ a: ClassifierArchitecture) throws -> ImageSet {
        let file = try SafeTensorsFile(path: path)
        guard file.contains("samples") else {
            throw IOError(path, "has no tensor 'samples' (F32 [N, C, H, W] in [-1, 1]); it holds \(file.names.prefix(8).joined(separator: ", "))")
        }
        let t = try file.tensor("samples")
        guard t.dtype == .f32, t.shape.count == 4, t.shape[2] == t.shape[3] else {
            throw IOError(path, "tensor 'samples' is \(t.dtype) \(t.shape); expected F32 [N, C, H, W] with square images")
        }
        let n = t.shape[0]
        guard n >= 1 else { throw IOError(path, "tensor 'samples' holds no images") }
        let images = try ClassifierInput.images(samples: t.floats(), count: n, channels: t.shape[1], side: t.shape[2], a, source: "\(path) 'samples'")
        var classes: [Int]?
        if file.contains("classes") {
            let c = try file.tensor("classes")
            guard c.dtype == .i64, c.shape == [n] else {
                throw IOError(path, "tensor 'classes' is \(c.dtype) \(c.shape); expected I64 [\(n)], one class per sample")
            }
            let values = c.integers().map { Int($0) }
            if let bad = values.firstIndex(where: { $0 < 0 || $0 >= a.numClasses }) {
                throw IOError(path, "classes[\(bad)] is \(values[bad]); the classifier knows classes 0…\(a.numClasses - 1)")
            }
            classes = values
        }
        return ImageSet(name: path, count: n, images: images, classes: classes)
    }

    static func pngFolder(_ folder: String, _ a: ClassifierArchitecture) throws -> ImageSet {
        let files = try ImageDataset.listDirectory(folder).filter { $0.lowercased().hasSuffix(".png") }.sorted()
        guard !files.isEmpty else { throw IOError(folder, "holds no .png files") }
        var first: (path: String, width: Int, height: Int, channels: Int)?
        var bytes: [UInt8] = []
        for f in files {
            let path = "\(folder)/\(f)"
            let image = try PNGFile.read(path)
            if let first, (first.width, first.height, first.channels) != (image.width, image.height, image.channels) {
                throw IOError(path, "is \(image.width)×\(image.height)×\(image.channels); \(first.path) is \(first.width)×\(first.height)×\(first.channels): a folder's images must share one size")
            }
            if first == nil { first = (path, image.width, image.height, image.channels) }
            bytes += image.pixels
        }
        let f = first!
        guard f.width == f.height else { throw IOError(f.path, "is \(f.width)×\(f.height); expected square images") }
        let ds = ImageDataset(name: folder, width: f.width, height: f.height, channels: f.channels, pixels: bytes,
                              labels: [Int](repeating: 0, count: files.count), classNames: ["?"])
        try ClassifierInput.check(ds, a)
        return ImageSet(name: folder, count: files.count, images: ClassifierInput.images(ds, a), classes: nil)
    }
}
