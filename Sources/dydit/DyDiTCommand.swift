import ArgumentParser
import DyDiTPlayground

@main
struct DyDiTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dydit",
        abstract: "Dynamic Diffusion Transformers on the CPU: inspect, run and benchmark DiT/DyDiT models.",
        version: DyDiTVersion.string,
        subcommands: [RunCommand.self, ValidateCommand.self, ListCommand.self, SummarizeCommand.self, SampleCommand.self,
                      InspectCommand.self, ForwardCommand.self, QuantizeCommand.self, RoutersCommand.self, TrainCommand.self, ClassifierCommand.self, MetricsCommand.self,
                      FeaturesCommand.self, BenchCommand.self, DoctorCommand.self])
}
