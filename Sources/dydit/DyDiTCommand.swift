import ArgumentParser

@main
struct DyDiTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dydit",
        abstract: "Dynamic Diffusion Transformers on the CPU: inspect, run and benchmark DiT/DyDiT models.",
        subcommands: [InspectCommand.self, ForwardCommand.self, SampleCommand.self, RoutersCommand.self, BenchCommand.self])
}
