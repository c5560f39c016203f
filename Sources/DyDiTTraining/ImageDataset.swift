import DyDiTIO
#if canImport(Glibc)
import Glibc
#endif

/// Labelled images in memory as bytes (`[count, height, width, channels]`, 0…255); the batch
/// loader turns them into the model's `[-1, 1]` NCHW input.
public struct ImageDataset: Sendable {
    public let name: String
    public let width: Int, height: Int, channels: Int
    public let pixels: [UInt8]
    public let labels: [Int]
    public let classNames: [String]

    public var count: Int { labels.count }
    public var imageBytes: Int { width * height * channels }

    public init(name: String, width: Int, height: Int, channels: Int, pixels: [UInt8], labels: [Int], classNames: [String]) {
        precondition(pixels.count == labels.count * width * height * channels, "pixels and labels disagree")
        self.name = name
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
        self.labels = labels
        self.classNames = classNames
    }

    /// Fashion-MNIST's classes, in label order.
    public static let fashionMNISTClasses = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                             "Sneaker", "Bag", "Ankle boot"]

    /// The name a sample grid prints for class `label` of a model with `numClasses` classes of
    /// `inChannels`-channel images: Fashion-MNIST's name for a 10-class gray model (the one
    /// dataset this project trains; `dydit sample --classes` reads the same names), otherwise
    /// "CLASS n".
    public static func gridLabel(_ label: Int, numClasses: Int, inChannels: Int) -> String {
        if numClasses == fashionMNISTClasses.count, inChannels == 1, fashionMNISTClasses.indices.contains(label) {
            return fashionMNISTClasses[label].uppercased()
        }
        return "CLASS \(label)"
    }

    /// Where Debian's `dataset-fashion-mnist` package puts the files.
    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    /// Fashion-MNIST (or any MNIST-format pair) from `directory`: `train-images-idx3-ubyte(.gz)`
    /// and `train-labels-idx1-ubyte(.gz)`, or the `t10k-` pair for `split == "test"`.
    public static func fashionMNIST(directory: String = fashionMNISTDirectory, split: String = "train") throws -> ImageDataset {
        let prefix = split == "test" ? "t10k" : "train"
        func find(_ stem: String) throws -> String {
            for candidate in ["\(directory)/\(stem).gz", "\(directory)/\(stem)"] where FileReader.exists(candidate) { return candidate }
            let hint = directory == fashionMNISTDirectory ? " (install it with: sudo apt-get install dataset-fashion-mnist)" : ""
            throw IOError("\(directory)/\(stem).gz", "not found: the Fashion-MNIST \(split) split is not in \(directory)\(hint)")
        }
        let images = try IDXFile(path: try find("\(prefix)-images-idx3-ubyte"))
        let labels = try IDXFile(path: try find("\(prefix)-labels-idx1-ubyte"))
        guard images.shape.count == 3 else { throw IOError(images.path, "holds shape \(images.shape); images are [count, rows, cols]") }
        guard labels.shape == [images.shape[0]] else {
            throw IOError(labels.path, "holds \(labels.shape) labels for \(images.shape[0]) images in \(images.path)")
        }
        let classes = labels.bytes.map(Int.init)
        let numClasses = (classes.max() ?? 0) + 1
        let names = numClasses <= fashionMNISTClasses.count ? Array(fashionMNISTClasses.prefix(numClasses)) : (0..<numClasses).map(String.init)
        return ImageDataset(name: "fashion-mnist/\(split)", width: images.shape[2], height: images.shape[1], channels: 1,
                            pixels: images.bytes, labels: classes, classNames: names)
    }

    /// A folder with one sub-folder of PNGs per class (`root/<class>/*.png`); classes are the
    /// sub-folder names in sorted order, labels their indices. All images must share one size;
    /// gray images are read as 1 channel, colour as 3 (`channels` converts).
    public static func imageFolder(_ root: String, channels: Int) throws -> ImageDataset {
        let classes = try listDirectory(root).filter { isDirectory("\(root)/\($0)") }.sorted()
        guard !classes.isEmpty else { throw IOError(root, "has no sub-folders; expected one folder of PNGs per class") }
        var pixels: [UInt8] = [], labels: [Int] = []
        var size: (Int, Int)? = nil
        for (label, name) in classes.enumerated() {
            let files = try listDirectory("\(root)/\(name)").filter { $0.lowercased().hasSuffix(".png") }.sorted()
            for file in files {
                let path = "\(root)/\(name)/\(file)"
                let image = try PNGFile.read(path)
                if let size, size != (image.width, image.height) {
                    throw IOError(path, "is \(image.width)×\(image.height); the folder's first image is \(size.0)×\(size.1) (all must match)")
                }
                size = (image.width, image.height)
                pixels += convert(image, to: channels)
                labels.append(label)
            }
        }
        guard let size else { throw IOError(root, "holds no .png files in its class folders (\(classes.joined(separator: ", ")))") }
        return ImageDataset(name: root, width: size.0, height: size.1, channels: channels, pixels: pixels, labels: labels,
                            classNames: classes)
    }

    static func convert(_ image: Image, to channels: Int) -> [UInt8] {
        if image.channels == channels { return image.pixels }
        let n = image.width * image.height
        if channels == 1 {
            // ITU-R BT.601 luma, as PIL's convert("L").
            return (0..<n).map { i in
                let p = image.pixels[(i * image.channels)...]
                let (r, g, b) = (Double(p[p.startIndex]), Double(p[p.startIndex + 1]), Double(p[p.startIndex + 2]))
                return UInt8(min(255, (0.299 * r + 0.587 * g + 0.114 * b).rounded()))
            }
        }
        return (0..<n).flatMap { i in [UInt8](repeating: image.pixels[i * image.channels], count: channels) }
    }

    public static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else {
            throw IOError(path, FileReader.exists(path) ? "cannot be listed: \(String(cString: strerror(errno)))" : "does not exist")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix(".") { names.append(name) }
        }
        return names
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}
