// Three agents each work in their own fork of one workspace; the best result is kept.
//
//   swift run example-workspaces        # embedded: data in ./.cairn-workspaces-example
//   swift run example-workspaces --s3-url http://127.0.0.1:7374   # a server's S3 listener
//
// Over HTTP it needs an admin S3 key (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; `cairn keys
// create --s3 --scope admin` makes one), and every agent works with its own Editor key that
// can reach its fork and nothing else.
import Cairn
import Foundation

let arguments = CommandLine.arguments
func option(_ name: String) -> String? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}

/// One agent's attempt: how it works the task, and how good its result turned out.
struct Strategy: Sendable {
    var agent: String
    var approach: String
    /// Stands in for an evaluation (tests, a judge model): higher is better.
    func score(_ draft: String) -> Int { draft.count % 97 + approach.count }
}

let strategies = [
    Strategy(agent: "agent-1", approach: "outline first"),
    Strategy(agent: "agent-2", approach: "examples first, then the rule"),
    Strategy(agent: "agent-3", approach: "the shortest answer that is right"),
]

func runExample() async throws {
    let s3URL = option("--s3-url")
    let cairn = try s3URL.map { _ in Cairn.http() } ?? Cairn.embedded(dataDirectory: "./.cairn-workspaces-example")
    let workspaces = try cairn.workspaces(endpoint: s3URL)

    // The shared workspace: expires in a day if nobody tears it down.
    let name = "essay-\(UUID().uuidString.prefix(8).lowercased())"
    let main = try await workspaces.create(name, ttlDays: 1)
    try await workspaces.put(main.name, key: "task.md", bytes: Array("Explain tides to a ten-year-old.\n".utf8))
    // Record what happens to the shared workspace (no web hook: the event stream only).
    try await workspaces.setNotifications(main.name, ObjectNotificationSettings(enabled: true, webHook: nil))
    print("workspace \(main.name)")

    // One fork per agent, all as of the same checkpoint, each with a key for its fork only.
    let forks = try await workspaces.createForks(
        main.name, count: strategies.count, prefix: "\(main.name)-try", credentials: s3URL == nil ? nil : .editor)

    let scores = try await withThrowingTaskGroup(of: (Workspace, Strategy, Int).self) { group in
        for (fork, strategy) in zip(forks, strategies) {
            group.addTask {
                // Over HTTP the agent holds only its scoped key.
                let own = try fork.credentials.map {
                    try cairn.workspaces(endpoint: s3URL, credentials: $0.credentials)
                }
                let agentWorkspaces = own ?? workspaces
                let task = String(decoding: try await agentWorkspaces.get(fork.name, key: "task.md"), as: UTF8.self)
                let draft = "# \(task)\nApproach: \(strategy.approach).\nThe moon pulls the sea; the sea bulges.\n"
                try await agentWorkspaces.put(fork.name, key: "draft.md", bytes: Array(draft.utf8))
                print("  \(strategy.agent) wrote draft.md in \(fork.name)")
                return (fork, strategy, strategy.score(draft))
            }
        }
        var all: [(Workspace, Strategy, Int)] = []
        for try await result in group { all.append(result) }
        return all
    }

    // Keep the best draft in the shared workspace; the forks go, with their keys.
    let (best, strategy, score) = scores.max { $0.2 < $1.2 }!
    let draft = try await workspaces.get(best.name, key: "draft.md")
    try await workspaces.put(main.name, key: "result.md", bytes: draft)
    try await workspaces.teardownForks(forks.map(\.name))
    print("kept \(strategy.agent) (\(strategy.approach), score \(score))")

    for try await change in workspaces.changes(main.name) {
        print("  event \(change.seq): \(change.eventName) \(change.key)")
        if change.key == "result.md" { break }
    }
    let kept = try await workspaces.objects(main.name).map(\.key)
    print("\(main.name) holds \(kept.joined(separator: ", "))")
    try await workspaces.teardown(main.name)
}

do {
    try await runExample()
} catch {
    FileHandle.standardError.write(Data("example-workspaces: \(error)\n".utf8))
    exit(1)
}
