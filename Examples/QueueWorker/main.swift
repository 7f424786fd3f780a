// A queue worker: enqueues jobs (one of them twice, deduplicated), then works the queue until
// it is empty. Embedded by default; `--url http://127.0.0.1:7373` uses a server (with
// `--api-key KEY`, or CAIRN_URL / CAIRN_API_KEY, when it needs one).
//
//   swift run example-worker
import Cairn
import Foundation

let arguments = CommandLine.arguments
func option(_ name: String) -> String? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}
let url = option("--url") ?? ProcessInfo.processInfo.environment["CAIRN_URL"]
let directory = NSTemporaryDirectory() + "cairn-example-worker-" + UUID().uuidString
let cairn = try url.map { Cairn.http(url: $0, apiKey: option("--api-key")) } ?? Cairn.embedded(dataDirectory: directory)

var workflows = Workflows()
workflows.register("thumbnail") { (run: RunContext, image: String) in
    let size = try await run.step("measure", input: image) { image.count * 10 }
    return try await run.step("render", input: size) { "\(image) → \(size)px thumbnail" }
}

let images = ["harbour.png", "lighthouse.png", "harbour.png", "buoy.png"]
var ids: Set<String> = []
for image in images {
    let run = try await cairn.enqueue("thumbnail", input: image, dedupeKey: image)
    ids.insert(run.id)
    print("enqueued \(image) as \(run.id)")
}

let worker = Task { try await cairn.work(workflows: workflows, limit: 2, pollInterval: .milliseconds(50)) }
while true {
    let runs = try await cairn.runs.list().filter { ids.contains($0.id) }
    if runs.allSatisfy({ $0.status == .completed }) {
        for run in runs { print("\(run.id): \(run.result ?? "")") }
        break
    }
    try await Task.sleep(for: .milliseconds(50))
}
worker.cancel()
try? await worker.value
print("\(ids.count) distinct jobs for \(images.count) enqueues")
