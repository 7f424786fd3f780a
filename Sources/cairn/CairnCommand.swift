import ArgumentParser

@main
struct CairnCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cairn",
        abstract: "Cairn: the state layer for AI agents.",
        subcommands: [Serve.self, Keys.self, ArtifactsCommand.self, Bench.self])
}
