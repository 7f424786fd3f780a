import CairnCore
import CairnTestSupport
import Foundation
import Synchronization
import Testing

@testable import Cairn

/// The SDK offers what the Python SDK offers: every enqueue option, usage entries with their
/// step, label and metadata, state of any JSON type, the server's address from the environment.
@Suite struct SDKParityTests {
    @Test(arguments: TransportKind.allCases)
    func enqueueTakesEveryOption(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let runAt = Date(timeIntervalSince1970: 4_102_444_800)  // 2100-01-01
            let later = try await cairn.enqueue(
                "report", queue: "q", input: ["a": 1], priority: 7, maxAttempts: 5, deadline: .seconds(3600))
            #expect(later.priority == 7)
            #expect(later.maxAttempts == 5)
            #expect(later.deadlineAt != nil)
            let scheduled = try await cairn.enqueue("report", queue: "q", input: ["a": 2], runAt: runAt)
            #expect(scheduled.runAt == Timestamp(milliseconds: 4_102_444_800_000))
            let delayed = try await cairn.enqueue("report", queue: "q", input: ["a": 3], delay: .seconds(600))
            #expect((delayed.runAt?.milliseconds ?? 0) > Timestamp.now().milliseconds + 500_000)
        }
    }

    @Test(arguments: TransportKind.allCases)
    func usageEntriesTakeStepLabelAndMetadata(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let box = Mutex<UsageRecord?>(nil)
            let _: Int = try await cairn.run("usage", input: 0) { run, _ in
                _ = try await run.step("plan") { 1 }
                let stepId = try #require(try await cairn.runs.get(run.runId).steps.first?.id)
                let record = try await run.usage.record(
                    kind: "llm", model: "m", inputTokens: 3, step: stepId, label: "first call",
                    metadata: ["region": "eu"])
                box.withLock { $0 = record }
                return 0
            }
            let recorded = try #require(box.withLock { $0 })
            #expect(recorded.stepId?.isEmpty == false)
            #expect(recorded.label == "first call")
            #expect(try JSONParser.parse(recorded.metadata)["region"]?.stringValue == "eu")
        }
    }

    @Test(arguments: TransportKind.allCases)
    func stateHoldsAnyJSONType(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let _: Int = try await cairn.run("state-types", input: 0) { run, _ in
                #expect(try await run.state.get(Int.self) == nil)
                try await run.state.set(42)
                #expect(try await run.state.get(Int.self) == 42)
                try await run.state.set("text")
                #expect(try await run.state.get(String.self) == "text")
                try await run.state.set([1, 2, 3])
                #expect(try await run.state.get([Int].self) == [1, 2, 3])
                try await run.state.set(["k": "v"], stream: "side")
                #expect(try await run.state.get([String: String].self, stream: "side") == ["k": "v"])
                try await run.state.patch(["k2": "v2"], stream: "side")
                #expect(try await run.state.get([String: String].self, stream: "side") == ["k": "v", "k2": "v2"])
                return 0
            }
        }
    }

    /// `Cairn.http()` with no URL takes `CAIRN_URL`. (Only the URL is set here: other tests of
    /// this process pass their URL explicitly, so they are not affected.)
    @Test func httpReadsTheURLFromTheEnvironment() async throws {
        try await withLiveServer { url in
            setenv("CAIRN_URL", url, 1)
            defer { unsetenv("CAIRN_URL") }
            let run = try await Cairn.http().enqueue("from-env", input: 1)
            #expect(try await Cairn.http(url: url).runs.get(run.id).run.workflowName == "from-env")
        }
    }
}

@Suite struct UsageOncePerPositionTests {
    /// A crash and a resume replay the workflow: usage recorded inside a step that runs again,
    /// or between steps, is kept once per position, not once per execution.
    @Test(arguments: TransportKind.allCases)
    func aResumedRunRecordsEachUsageEntryOnce(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let crash = Mutex(true)
            let runId = Mutex<String?>(nil)
            let workflow: @Sendable (RunContext, Int) async throws -> Int = { run, _ in
                runId.withLock { $0 = run.runId }
                let planned: Int = try await run.step("plan") {
                    try await run.usage.record(kind: "llm", inputTokens: 10)
                    return 1
                }
                try await run.usage.record(kind: "tool", quantity: 1)  // between steps
                return try await run.step("write") {
                    try await run.usage.record(kind: "llm", inputTokens: 20)
                    try await run.usage.record(kind: "llm", inputTokens: 30)
                    if crash.withLock({ $0 }) { throw Boom() }
                    return planned + 1
                }
            }
            await #expect(throws: Boom.self) { _ = try await cairn.run("usage-once", input: 0, workflow) }
            crash.withLock { $0 = false }
            let id = try #require(runId.withLock { $0 })
            #expect(try await cairn.run("usage-once", input: 0, runId: id, workflow) == 2)
            let usage = try await cairn.runs.get(id).usage
            #expect(usage.map(\.inputTokens) == [10, nil, 20, 30])
            // An explicit key is kept once as well.
            let explicit: Int = try await cairn.run("usage-key", input: 0) { run, _ in
                try await run.usage.record(kind: "x", idempotencyKey: "k1")
                try await run.usage.record(kind: "x", idempotencyKey: "k1")
                return try await cairn.runs.get(run.runId).usage.count
            }
            #expect(explicit == 1)
        }
    }
}

@Suite struct EmbeddedBackgroundTests {
    /// The embedded store requeues a queued run whose worker's lease expired, as the server's
    /// reconciler does; with the background turned off, nothing moves it.
    @Test(arguments: [true, false])
    func expiredQueueLeasesAreRequeuedInEmbeddedMode(_ background: Bool) async throws {
        let clock = ManualClock()
        let cairn = try Cairn.embedded(
            dataDirectory: ScratchDirectory.path("cairn-bg"), leaseMilliseconds: 1_000,
            backgroundInterval: background ? .milliseconds(20) : nil, clock: clock)
        let run = try await cairn.enqueue("job", queue: "bg", input: 1, maxAttempts: 3)
        let claimed = try await cairn.transport.claim(queues: ["bg"], owner: "dead-worker", limit: 1)
        #expect(claimed.map(\.id) == [run.id])
        clock.advance(milliseconds: 5_000)  // the claim's lease is long gone
        // Wait for the background pass (polling every 20 ms, for at most 10 s of real time).
        var status = try await cairn.runs.get(run.id).run.status
        for _ in 0..<500 where background && status == .running {
            try await Task.sleep(for: .milliseconds(20))
            status = try await cairn.runs.get(run.id).run.status
        }
        #expect(status == (background ? .queued : .running))
    }
}
