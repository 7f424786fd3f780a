import Cairn
import Synchronization
import Testing

@Suite struct FanoutAndEventsTests {
    @Test(arguments: TransportKind.allCases)
    func fanoutRunsChildrenConcurrentlyAndJoinsDurably(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let executions = Counter()
            let crash = Mutex(true)
            let parent: @Sendable (RunContext, [String]) async throws -> Int = { run, docs in
                let counts = try await run.fanout(
                    "count", workflow: "count-words", children: docs.map { (name: "count-\($0)", input: $0) }
                ) { child, doc in
                    try await child.step("count", input: doc) {
                        executions.bump(doc)
                        return doc.count
                    }
                }
                if crash.withLock({ $0 }) { throw Boom() }
                return counts.reduce(0, +)
            }
            await #expect(throws: Boom.self) { _ = try await cairn.run("fan", input: ["a", "bb", "ccc"], parent) }
            let id = try #require(try await cairn.runs.list().first { $0.workflowName == "fan" }?.id)
            crash.withLock { $0 = false }
            #expect(try await cairn.run("fan", input: [], runId: id, parent) == 6)
            // Children ran once each; the resumed parent reused them and replayed the join.
            #expect(executions["a"] == 1 && executions["bb"] == 1 && executions["ccc"] == 1)
            let detail = try await cairn.runs.get(id)
            #expect(detail.childRuns.count == 3 && detail.childRuns.allSatisfy { $0.status == .completed })
            let join = try #require(detail.steps.first { $0.name == "join:count" })
            #expect(join.attempt == 1 && join.output == "[1,2,3]")
        }
    }

    @Test(arguments: TransportKind.allCases)
    func eventsStreamStoredThenLiveEventsInOrder(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let release = Mutex(false)
            let workflow = Task {
                try await cairn.run("evented", input: 0) { run, _ in
                    try await run.state.set(["n": 0])
                    while !release.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
                    for n in 1...3 { try await run.state.patch(["n": n]) }
                    return 3
                }
            }
            var runId: String?
            while runId == nil {
                runId = try await cairn.runs.list().first { $0.status == .running }?.id
                try await Task.sleep(for: .milliseconds(5))
            }
            let id = try #require(runId)
            let collector = Task {
                var seen: [RunEvent] = []
                for try await event in cairn.runs.events(id, after: 1) {
                    seen.append(event)
                    if event.type == "run.completed" { break }
                }
                return seen
            }
            try await Task.sleep(for: .milliseconds(50))
            release.withLock { $0 = true }
            _ = try await workflow.value
            let seen = try await collector.value
            // Stored (run.started, state.updated) then live (3 × state.updated, run.completed).
            #expect(seen.map(\.seq) == Array(2...7))
            #expect(
                seen.map(\.type) == ["run.started"] + Array(repeating: "state.updated", count: 4) + ["run.completed"])
        }
    }
}
