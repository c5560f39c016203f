import Foundation
import PackagePlugin

/// `swift package experiment Experiments/x.json [dydit run options]`: builds `dydit` in release
/// (the kernels are SIMD code; a debug build is a hundred times slower) and runs the spec.
@main
struct ExperimentPlugin: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        guard let spec = arguments.first, !spec.hasPrefix("-") else {
            Diagnostics.error("usage: swift package experiment SPEC.json [--out DIR] [--shard i/n] [--dry-run]")
            return
        }
        let build = try packageManager.build(.product("dydit"), parameters: .init(configuration: .release, logging: .concise))
        guard build.succeeded else {
            Diagnostics.error("building dydit failed:\n\(build.logText)")
            return
        }
        guard let dydit = build.builtArtifacts.first(where: { $0.kind == .executable && $0.url.lastPathComponent == "dydit" }) else {
            Diagnostics.error("the build produced no dydit executable")
            return
        }
        let process = Process()
        process.executableURL = dydit.url
        process.arguments = ["run"] + arguments
        try process.run()
        process.waitUntilExit()
        if process.terminationStatus != 0 {
            Diagnostics.error("dydit run \(spec) failed (exit status \(process.terminationStatus))")
        }
    }
}
