import Cairn
import CairnCore
import CairnServer
import CairnTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

enum TransportKind: String, CaseIterable, Sendable {
    case embedded, http
}

/// Runs `body` against a fresh embedded store, or a fresh live server over HTTP.
func withCairn(_ kind: TransportKind, _ body: @escaping @Sendable (Cairn) async throws -> Void) async throws {
    let directory = ScratchDirectory.path("cairn-sdk")
    switch kind {
    case .embedded:
        try await body(try Cairn.embedded(dataDirectory: directory))
    case .http:
        try await withLiveServer(directory: directory) { url in try await body(Cairn.http(url: url)) }
    }
}

/// A fresh server on a loopback port, for the duration of `body`, which gets its URL.
/// `configure` changes its settings; `clock` is the time it reads.
func withLiveServer(
    directory: String = ScratchDirectory.path("cairn-sdk"),
    configure: (inout ServerConfiguration) -> Void = { _ in }, clock: any WallClock = SystemClock(),
    _ body: @escaping @Sendable (String) async throws -> Void
) async throws {
    var configuration = ServerConfiguration()
    configuration.dataDirectory = directory
    configure(&configuration)
    let server = try CairnServer(
        configuration: configuration, registry: nil, logger: Logger(label: "sdk-test"), clock: clock)
    let app = Application(
        router: server.makeRouter(sseKeepalive: .milliseconds(100)),
        configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    try await app.test(.live) { client in
        let port = try #require(client.port)
        try await body("http://127.0.0.1:\(port)")
    }
}

final class Counter: Sendable {
    private let value = Mutex<[String: Int]>([:])
    func bump(_ key: String) { value.withLock { $0[key, default: 0] += 1 } }
    subscript(key: String) -> Int { value.withLock { $0[key] ?? 0 } }
}

struct Boom: Error {}

struct Plan: Codable, Sendable, Equatable {
    var pages: Int
}

@Suite struct SDKTests {
    @Test(arguments: TransportKind.allCases)
    func aCrashThenAResumeReplaysCompletedSteps(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let calls = Counter()
            let crash = Mutex(true)
            let workflow: @Sendable (RunContext, String) async throws -> String = { run, topic in
                let plan = try await run.step("plan", input: topic) {
                    calls.bump("plan")
                    return Plan(pages: 3)
                }
                return try await run.step("write") {
                    calls.bump("write")
                    if crash.withLock({ $0 }) { throw Boom() }
                    return "\(topic): \(plan.pages) pages"
                }
            }
            await #expect(throws: Boom.self) { _ = try await cairn.run("report", input: "tides", workflow) }
            let failed = try #require(try await cairn.runs.list().first)
            #expect(failed.status == .failed)
            crash.withLock { $0 = false }
            let result = try await cairn.run("report", input: "ignored on resume", runId: failed.id, workflow)
            #expect(result == "tides: 3 pages")
            #expect(calls["plan"] == 1 && calls["write"] == 2)
            let detail = try await cairn.runs.get(failed.id)
            #expect(detail.run.status == .completed)
            #expect(detail.steps.map(\.attempt) == [1, 2])
            // A completed run returns its result without running anything.
            #expect(try await cairn.run("report", input: "x", runId: failed.id, workflow) == result)
            #expect(calls["write"] == 2)
        }
    }

    @Test(arguments: TransportKind.allCases)
    func retriesWithBackoffAndInputDrift(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let calls = Counter()
            let value = try await cairn.run("flaky", input: 1) { run, _ in
                try await run.step("fetch", input: ["b": 1, "a": 2], retries: 2, backoff: .milliseconds(5)) {
                    calls.bump("fetch")
                    if calls["fetch"] < 3 { throw Boom() }
                    return 42
                }
            }
            #expect(value == 42)
            let run = try #require(try await cairn.runs.list().first)
            #expect(try await cairn.runs.get(run.id).steps.first?.attempt == 3)
            // The same input in another key order is the same step; a changed input is refused.
            let stepRuns = Counter()
            await #expect(throws: Boom.self) {
                _ = try await cairn.run("drift", input: 0) { run, _ async throws -> Int in
                    _ = try await run.step("s", input: ["x": 1, "y": 2]) {
                        stepRuns.bump("s"); return 1
                    }
                    throw Boom()
                }
            }
            let id = try #require(try await cairn.runs.list().first { $0.workflowName == "drift" }?.id)
            await #expect(throws: Boom.self) {
                _ = try await cairn.run("drift", input: 0, runId: id) { run, _ async throws -> Int in
                    _ = try await run.step("s", input: ["y": 2, "x": 1]) {
                        stepRuns.bump("s"); return 1
                    }
                    throw Boom()
                }
            }
            #expect(stepRuns["s"] == 1)
            await #expect(
                throws: CairnError.inputMismatch(
                    step: "s", expected: SDKHashing.inputHash(["x": 1, "y": 2]),
                    actual: SDKHashing.inputHash(["x": 1, "y": 3]))
            ) {
                _ = try await cairn.run("drift", input: 0, runId: id) { run, _ in
                    try await run.step("s", input: ["x": 1, "y": 3]) { 2 }
                }
            }
        }
    }

    @Test(arguments: TransportKind.allCases)
    func gatesChildrenStateAndUsage(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let approver = Task {
                // Approve the gate once it exists, as a person would.
                while true {
                    if let run = try await cairn.runs.list().first(where: { $0.workflowName == "publish" }),
                        let gate = try await cairn.runs.get(run.id).gates.first
                    {
                        _ = try await cairn.runs.resolveGate(
                            runId: run.id, gateId: gate.id, token: gate.resolveToken, decision: .approved, actor: "ann")
                        return
                    }
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            let outcome = try await cairn.run("publish", input: ["doc": "d1"]) { run, input in
                try await run.state.set(["phase": "drafting"])
                try await run.state.patch(["progress": 0.5])
                try await run.state.save("drafted")
                try await run.usage.record(
                    provider: "test", model: "m", inputTokens: 100, outputTokens: 20, costUsd: 0.01)
                let words = try await run.child("count-words", input: input["doc"] ?? "") { _, doc in doc.count * 100 }
                let decision = try await run.gate("approve", prompt: "Publish?", pollInterval: .milliseconds(10))
                return "\(decision.approved ? "published" : "held") \(words)"
            }
            try await approver.value
            #expect(outcome == "published 200")
            let run = try #require(try await cairn.runs.list().first { $0.workflowName == "publish" })
            let detail = try await cairn.runs.get(run.id)
            #expect(detail.state?.value == #"{"phase":"drafting","progress":0.5}"#)
            #expect(detail.stateVersions.map(\.version) == [1, 2, 3])
            #expect(detail.stateVersions.last?.label == "drafted")
            #expect(detail.usage.first?.totalTokens == 120)
            #expect(detail.childRuns.map(\.status) == [.completed])
            #expect(detail.gates.first?.actor == "ann")
        }
    }

    @Test(arguments: TransportKind.allCases)
    func cancellingARunStopsItsWorkerAtTheGate(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let worker = Task {
                try await cairn.run("waits", input: 0) { run, _ in
                    try await run.gate("never", prompt: "?", pollInterval: .milliseconds(10)).approved
                }
            }
            var runId: String?
            while runId == nil {
                runId = try await cairn.runs.list().first(where: { $0.status == .running })?.id
                try await Task.sleep(for: .milliseconds(10))
            }
            _ = try await cairn.runs.cancel(try #require(runId), reason: "stop")
            await #expect(throws: CairnError.self) { _ = try await worker.value }
            #expect(try await cairn.runs.get(try #require(runId)).run.status == .cancelled)
        }
    }

    @Test func inputHashMatchesThePythonSDK() throws {
        struct Input: Encodable {
            let topic = "tides"
            let pages = [1, 2]
            let opts = Opts()
            struct Opts: Encodable {
                let z = true
                let a: String? = nil
                func encode(to encoder: any Encoder) throws {
                    var c = encoder.container(keyedBy: CodingKeys.self)
                    try c.encode(z, forKey: .z)
                    try c.encodeNil(forKey: .a)
                }
                enum CodingKeys: String, CodingKey { case z, a }
            }
        }
        // Values printed by the tidebase 0.7.0 SDK's _hash_stable for the same input and for None.
        #expect(SDKHashing.inputHash(Input()) == "614a5ee7e7943a7936b53869c33385ddac07c06ddb9eec485ce2ec4493140505")
        #expect(SDKHashing.inputHash(nil as Int?) == "74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b")
    }

    @Test func webhookSignatures() {
        let body = Array(#"{"type":"run.resume"}"#.utf8)
        let header = "sha256=" + "0000"
        #expect(!Cairn.verifyWebhookSignature(body: body, header: header, secret: "s"))
        #expect(!Cairn.verifyWebhookSignature(body: body, header: nil, secret: "s"))
        // RFC 4231 test case 2, with and without the prefix.
        let rfc = Array("what do ya want for nothing?".utf8)
        let mac = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        #expect(Cairn.verifyWebhookSignature(body: rfc, header: "sha256=" + mac, secret: "Jefe"))
        #expect(Cairn.verifyWebhookSignature(body: rfc, header: mac, secret: "Jefe"))
    }
}
