import ArgumentParser

@main
struct DyDiTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dydit",
        abstract: "Dynamic Diffusion Transformers on the CPU: inspect, run and benchmark DiT/DyDiT models.",
        subcommands: [RunCommand.self, ValidateCommand.self, ListCommand.self, SummarizeCommand.self, SampleCommand.self,
                      InspectCommand.self, ForwardCommand.self, QuantizeCommand.self, RoutersCommand.self, TrainCommand.self, ClassifierCommand.self, MetricsCommand.self,
                      FeaturesCommand.self, BenchCommand.self])
}
