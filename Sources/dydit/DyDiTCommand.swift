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
                      FeaturesCommand.self, BenchCommand.self, DoctorCommand.self, PruneCommand.self])

    /// `dydit --version` names the commit too (what a bug report needs); the lookup runs git,
    /// so it happens only when asked, not on every command.
    static func main() {
        if Array(CommandLine.arguments.dropFirst()) == ["--version"] {
            let git = MachineRecord.git
            let commit = git.commit.map { "commit \($0.prefix(12))\(git.dirty == true ? ", uncommitted changes" : "")" } ?? "commit unknown"
            print("dydit \(DyDiTVersion.string) (\(commit))")
            return
        }
        Self.main(nil)
    }
}
