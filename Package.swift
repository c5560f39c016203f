// swift-tools-version:6.1
import PackageDescription

// Hot targets carry explicit ISA flags: the default x86-64 baseline has no FMA, and the
// dispatcher picks one build at start-up from CPUID. `-Xcc` flags set the target features
// of the whole module, Swift code included.
let avx2Flags = ["-mavx2", "-mfma", "-mf16c"]
let avx512Flags = avx2Flags + ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq"]
// The int8 VNNI kernels alone: chosen only on CPUs that report AVX-512 VNNI.
let vnniFlags = avx512Flags + ["-mavx512vnni"]
func isaSettings(_ flags: [String]) -> [SwiftSetting] {
    [.unsafeFlags(flags.flatMap { ["-Xcc", $0] })]
}

let package = Package(
    name: "DyDiT",
    products: [
        .executable(name: "dydit", targets: ["dydit"]),
        .library(name: "DyDiTKernels", targets: ["DyDiTKernels"]),
        .plugin(name: "ExperimentPlugin", targets: ["ExperimentPlugin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "CSupport", exclude: ["README.md"]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJSONC", pkgConfig: "json-c", providers: [.apt(["libjson-c-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "DyDiTIO", dependencies: ["CPNG", "CJSONC", "CZlib"], exclude: ["README.md"]),
        .target(name: "DyDiTKernelABI", exclude: ["README.md"]),
        .target(name: "DyDiTKernelsPortable", dependencies: ["DyDiTKernelABI"], exclude: ["README.md"]),
        .target(name: "DyDiTKernelsAVX2", dependencies: ["DyDiTKernelABI", "CSupport"], exclude: ["README.md"], swiftSettings: isaSettings(avx2Flags)),
        .target(name: "DyDiTKernelsAVX512", dependencies: ["DyDiTKernelABI", "CSupport"], exclude: ["README.md"], swiftSettings: isaSettings(avx512Flags)),
        .target(name: "DyDiTKernelsVNNI", dependencies: ["DyDiTKernelABI"], exclude: ["README.md"], swiftSettings: isaSettings(vnniFlags)),
        .target(name: "DyDiTKernels", dependencies: [
            "CSupport", "DyDiTKernelABI", "DyDiTKernelsPortable", "DyDiTKernelsAVX2", "DyDiTKernelsAVX512", "DyDiTKernelsVNNI",
        ], exclude: ["README.md"]),
        .target(name: "DyDiTModels", dependencies: ["DyDiTKernels", "DyDiTIO"], exclude: ["README.md"]),
        .target(name: "DyDiTDiffusion", dependencies: ["DyDiTModels", "DyDiTKernels", "DyDiTIO"], exclude: ["README.md"]),
        .target(name: "DyDiTTraining", dependencies: ["DyDiTDiffusion", "DyDiTModels", "DyDiTKernels", "DyDiTIO"], exclude: ["README.md"]),
        .target(name: "DyDiTEvaluation", dependencies: ["DyDiTTraining", "DyDiTKernels", "DyDiTIO"], exclude: ["README.md"]),
        .target(name: "DyDiTPlayground", dependencies: ["DyDiTEvaluation", "DyDiTTraining", "DyDiTDiffusion", "DyDiTModels", "DyDiTKernels", "DyDiTIO"], exclude: ["README.md"]),
        .executableTarget(name: "dydit", dependencies: [
            "DyDiTIO", "DyDiTKernels", "DyDiTModels", "DyDiTDiffusion", "DyDiTTraining", "DyDiTEvaluation", "DyDiTPlayground",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .plugin(name: "ExperimentPlugin",
                capability: .command(intent: .custom(verb: "experiment", description: "Build dydit (release) and run an experiment spec")),
                dependencies: ["dydit"]),
        // The reference vectors' location and the one comparison helper every test uses.
        .target(name: "ReferenceSupport", dependencies: ["DyDiTIO"], path: "Tests/ReferenceSupport"),
        .testTarget(name: "KernelTests", dependencies: ["DyDiTKernels", "ReferenceSupport"]),
        .testTarget(name: "IOTests", dependencies: ["DyDiTIO", "ReferenceSupport"]),
        .testTarget(name: "ModelTests", dependencies: ["DyDiTModels", "ReferenceSupport"]),
        .testTarget(name: "CLITests", dependencies: ["DyDiTIO", "ReferenceSupport"]),
        .testTarget(name: "DiffusionTests", dependencies: ["DyDiTDiffusion", "ReferenceSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["DyDiTTraining", "DyDiTDiffusion", "DyDiTModels", "DyDiTKernels",
                                                          "DyDiTIO", "ReferenceSupport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["DyDiTEvaluation", "DyDiTTraining", "DyDiTKernels", "DyDiTIO", "ReferenceSupport"]),
        .testTarget(name: "PlaygroundTests", dependencies: ["DyDiTPlayground", "DyDiTTraining", "DyDiTDiffusion", "DyDiTModels", "DyDiTKernels", "DyDiTIO",
                                                            "ReferenceSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
