// swift-tools-version:6.1
import PackageDescription

// Hot targets carry explicit ISA flags: the default x86-64 baseline has no FMA, and the
// dispatcher picks one build at start-up from CPUID. `-Xcc` flags set the target features
// of the whole module, Swift code included.
let avx2Flags = ["-mavx2", "-mfma", "-mf16c"]
let avx512Flags = avx2Flags + ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq"]
// The int8 VNNI kernels alone: chosen only on CPUs that report AVX-512 VNNI.
let vnniFlags = avx512Flags + ["-mavx512vnni"]
// The bf16 tile alone: chosen only on CPUs that report AVX512_BF16.
let bf16Flags = avx512Flags + ["-mavx512bf16"]

// The x86 flags exist only on x86 hosts (the manifest is compiled for the host, so `arch` is
// the host's). Elsewhere (arm64), or with DYDIT_PORTABLE_ONLY=1 in the environment to build
// that configuration on x86 and test it, the ISA targets compile without flags and without
// DYDIT_X86_ISA, so they hold portable code only, and CSupport reports no CPU feature: the
// dispatcher picks the portable kernels.
#if arch(x86_64)
let hostIsX86 = true
#else
let hostIsX86 = false
#endif
let x86Kernels = hostIsX86 && Context.environment["DYDIT_PORTABLE_ONLY"] == nil

/// An ISA target's settings: its flags and DYDIT_X86_ISA (plus `defines`) on x86 only.
func isaSettings(_ flags: [String], defines: [String] = []) -> [SwiftSetting] {
    guard x86Kernels else { return [] }
    return [.unsafeFlags(flags.flatMap { ["-Xcc", $0] })] + (["DYDIT_X86_ISA"] + defines).map { .define($0) }
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
        .target(name: "CSupport", exclude: ["README.md"], cSettings: x86Kernels ? [] : [.define("DYDIT_PORTABLE_ONLY")]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJSONC", pkgConfig: "json-c", providers: [.apt(["libjson-c-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "DyDiTIO", dependencies: ["CPNG", "CJSONC", "CZlib"], exclude: ["README.md"]),
        .target(name: "DyDiTKernelABI", exclude: ["README.md"]),
        .target(name: "DyDiTKernelsPortable", dependencies: ["DyDiTKernelABI"], exclude: ["README.md"]),
        .target(name: "DyDiTKernelsAVX2", dependencies: ["DyDiTKernelABI", "CSupport"], exclude: ["README.md"], swiftSettings: isaSettings(avx2Flags)),
        .target(name: "DyDiTKernelsAVX512", dependencies: ["DyDiTKernelABI", "CSupport"], exclude: ["README.md"], swiftSettings: isaSettings(avx512Flags, defines: ["DYDIT_VSCALEF"])),
        .target(name: "DyDiTKernelsVNNI", dependencies: ["DyDiTKernelABI"], exclude: ["README.md"], swiftSettings: isaSettings(vnniFlags)),
        .target(name: "DyDiTKernelsBF16", dependencies: ["DyDiTKernelABI", "CSupport"], exclude: ["README.md"], swiftSettings: isaSettings(bf16Flags)),
        .target(name: "DyDiTKernels", dependencies: [
            "CSupport", "DyDiTKernelABI", "DyDiTKernelsPortable", "DyDiTKernelsAVX2", "DyDiTKernelsAVX512", "DyDiTKernelsVNNI",
            "DyDiTKernelsBF16",
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
        // No `dependencies: ["dydit"]`: SwiftPM builds a command plugin's dependencies in debug
        // before running it (a second, slow build of everything); the plugin asks for the
        // release build itself.
        .plugin(name: "ExperimentPlugin",
                capability: .command(intent: .custom(verb: "experiment", description: "Build dydit (release) and run an experiment spec"))),
        // The reference vectors' location and the one comparison helper every test uses.
        // DYDIT_PORTABLE_ONLY tells the coverage checks that only the portable build exists here.
        .target(name: "ReferenceSupport", dependencies: ["DyDiTIO"], path: "Tests/ReferenceSupport",
                swiftSettings: x86Kernels ? [] : [.define("DYDIT_PORTABLE_ONLY")]),
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
