import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import CairnServer

/// Time-driven behaviour over HTTP, with the server on a clock the test moves: nothing here
/// waits for real time to pass.
@Suite struct ManualClockTests {
    static let root = "root-key-0123456789abcdef"

    @Test func aDelayedJobIsClaimableExactlyWhenItsDelayHasPassed() async throws {
        let clock = ManualClock()
        try await TestServer(clock: clock).test { (http: HTTP) async throws -> Void in
            let enqueued = try await http.post("/queues/q/enqueue", #"{"workflowName":"wf","delayMs":1000}"#)
            #expect(enqueued.status == .ok, "\(enqueued.text)")
            let claim = #"{"queues":["q"],"leaseOwner":"w"}"#
            #expect(try await http.post("/queues/claim", claim).json["runs"]?.arrayValue?.count == 0)
            clock.advance(milliseconds: 999)
            #expect(try await http.post("/queues/claim", claim).json["runs"]?.arrayValue?.count == 0)
            clock.advance(milliseconds: 1)
            let claimed = try await http.post("/queues/claim", claim)
            #expect(claimed.json["runs"]?.arrayValue?.count == 1, "\(claimed.text)")
        }
    }

    @Test func aRunLeaseFencesOthersUntilItExpires() async throws {
        let clock = ManualClock()
        let server = try TestServer(clock: clock) { $0.leaseMilliseconds = 5_000 }
        try await server.test { (http: HTTP) async throws -> Void in
            let runId = try await http.newRun()
            func begin(_ worker: String) async throws -> Reply {
                var h = http
                h.headers[HTTPField.Name("x-tidebase-worker")!] = worker
                return try await h.post("/runs/\(runId)/begin", nil)
            }
            #expect(try await begin("a").status == .ok)
            clock.advance(milliseconds: 4_999)
            #expect(try await begin("b").status == .conflict)
            clock.advance(milliseconds: 1)
            let takeover = try await begin("b")
            #expect(takeover.status == .ok && takeover.json["run"]?["leaseOwner"] == .string("b"), "\(takeover.text)")
        }
    }

    @Test func aCheckpointWorkflowExpiresWhenItsTTLRunsOut() async throws {
        let clock = ManualClock()
        try await TestServer(clock: clock).test { (http: HTTP) async throws -> Void in
            var h = http
            h.headers[.checkpointTTL] = "60"
            #expect(try await h.post("/checkpoints", #"{"workflow_id":"w","step":1,"state":{}}"#).status == .created)
            clock.advance(milliseconds: 59_999)
            #expect(try await http.get("/workflows/w/resume").status == .ok)
            clock.advance(milliseconds: 1)
            #expect(try await http.get("/workflows/w/resume").status == .notFound)
        }
    }

    @Test func aRateLimitWindowSlidesWithTheClock() async throws {
        let clock = ManualClock()
        let server = try TestServer(apiKey: Self.root, clock: clock) {
            $0.rateLimit = 2
            $0.rateLimitWindowMilliseconds = 10_000
        }
        try await server.test { (http: HTTP) async throws -> Void in
            let a = http.authorized(try await http.newKey(root: Self.root, tenant: "t"))
            #expect(try await a.get("/workflows/w/replay").status == .ok)
            clock.advance(milliseconds: 4_000)
            #expect(try await a.get("/workflows/w/replay").status == .ok)
            let limited = try await a.client.execute(uri: "/workflows/w/replay", method: .get, headers: a.headers) {
                ($0.status, $0.headers[.retryAfter])
            }
            #expect(limited.0 == .tooManyRequests && limited.1 == "6")
            clock.advance(milliseconds: 5_999)
            #expect(try await a.get("/workflows/w/replay").status == .tooManyRequests)
            clock.advance(milliseconds: 1)
            #expect(try await a.get("/workflows/w/replay").status == .ok)
            #expect(try await a.get("/workflows/w/replay").status == .tooManyRequests)
        }
    }
}
