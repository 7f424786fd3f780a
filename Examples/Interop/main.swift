// The "interop" workflow, step for step the same as the one in
// Tests/compat/tidebase/test_tidebase_interop.py, so a run can move between a Python worker
// and this Swift worker.
//
//   example-interop --url URL [--resume RUN_ID] [--crash-after STEP]
// Prints `executed <step>` for each step it ran (replayed steps print nothing), then
// `run <id>` and `result <json>`.
import Cairn
import Foundation

struct DocRef: Codable, Sendable {
    var doc: String
    var pages: [Int]
}

struct Fetched: Codable, Sendable {
    var pages: Int
}

struct Rendered: Codable, Sendable {
    var rendered: Int
}

let arguments = CommandLine.arguments
func option(_ name: String) -> String? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}
guard let url = option("--url") else {
    FileHandle.standardError.write(
        Data("usage: example-interop --url URL [--api-key KEY] [--resume RUN_ID] [--crash-after STEP]\n".utf8))
    exit(2)
}
let crashAfter = option("--crash-after")
let cairn = Cairn.http(url: url, apiKey: option("--api-key"))

let result = try await cairn.run("interop", input: DocRef(doc: "d1", pages: [1, 2]), runId: option("--resume")) {
    run, ref in
    print("run \(run.runId)")
    let fetched = try await run.step("fetch", input: ref) {
        print("executed fetch")
        return Fetched(pages: ref.pages.count + 1)
    }
    if crashAfter == "fetch" { exit(1) }
    let rendered = try await run.step("render", input: fetched.pages) {
        print("executed render")
        return Rendered(rendered: fetched.pages * 10)
    }
    return rendered
}
print("result {\"rendered\":\(result.rendered)}")
