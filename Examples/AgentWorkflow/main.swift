// A multi-step agent workflow you can crash and resume.
//
//   swift run example-agent                         # runs; prints the run id
//   swift run example-agent --crash-after outline   # dies right after the "outline" step
//   swift run example-agent --resume <run id>       # completed steps replay, the rest runs
//
// Embedded by default (data in ./.cairn-example); `--url http://127.0.0.1:7373` uses a server
// (`--api-key KEY`, or CAIRN_URL / CAIRN_API_KEY, when it needs one).
import Cairn
import Foundation

struct Brief: Codable, Sendable {
    var topic: String
}

struct Outline: Codable, Sendable {
    var sections: [String]
}

let arguments = CommandLine.arguments
func option(_ name: String) -> String? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}

let crashAfter = option("--crash-after")
// A short lease, so a run whose worker crashed can be taken over within seconds.
let cairn =
    try (option("--url") ?? ProcessInfo.processInfo.environment["CAIRN_URL"]).map {
        Cairn.http(url: $0, apiKey: option("--api-key"))
    }
    ?? Cairn.embedded(dataDirectory: "./.cairn-example", leaseMilliseconds: 3_000)

/// Stands in for the slow, costly calls an agent makes (a model, a search API).
func think(_ what: String) async throws -> Int {
    print("  … working on \(what)")
    try await Task.sleep(for: .milliseconds(300))
    return what.count
}

func checkpoint(_ step: String) {
    print("  ✓ \(step)")
    if crashAfter == step {
        print("  ✗ crashing after \(step) (resume with --resume <run id>)")
        exit(1)
    }
}

func writeArticle(_ run: RunContext, _ brief: Brief) async throws -> String {
    print("run \(run.runId)")
    let sources = try await run.step("research", input: brief.topic) {
        _ = try await think("research on \(brief.topic)")
        return ["almanac", "harbour logs", "moon tables"]
    }
    checkpoint("research")
    try await run.usage.record(
        provider: "example", model: "small", inputTokens: 1_200, outputTokens: 300, costUsd: 0.002)

    let outline = try await run.step("outline", input: sources) {
        _ = try await think("an outline from \(sources.count) sources")
        return Outline(sections: ["What moves the sea", "Spring and neap", "Reading a tide table"])
    }
    checkpoint("outline")
    try await run.state.set(["phase": "drafting", "sections": "\(outline.sections.count)"])

    var words = 0
    for (i, section) in outline.sections.enumerated() {
        words += try await run.step("draft-\(i)", input: section) { try await think("drafting “\(section)”") * 40 }
        checkpoint("draft-\(i)")
    }
    try await run.state.save("drafted")
    return "\(brief.topic): \(outline.sections.count) sections, \(words) words"
}

// Resuming right after a crash: the dead worker's lease still fences the run until it expires.
while true {
    do {
        let result = try await cairn.run(
            "write-article", input: Brief(topic: "tides"), runId: option("--resume"), writeArticle)
        print("done: \(result)")
        break
    } catch CairnError.runLeased {
        print("  (the crashed worker's lease has not expired yet; retrying in a second)")
        try await Task.sleep(for: .seconds(1))
    }
}
