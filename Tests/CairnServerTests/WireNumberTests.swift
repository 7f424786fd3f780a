import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import CairnServer

/// Hostile numbers on every protocol: each is refused with a 400 naming the field, and
/// nothing is written.
@Suite struct WireNumberTests {
    /// The field names of a 400's `issues`.
    static func issuePaths(_ reply: Reply) -> [String] {
        (reply.json["issues"]?.arrayValue ?? []).compactMap { $0["path"]?.arrayValue?.first?.stringValue }
    }

    @Test(arguments: [
        #"{"costUsd":1e20}"#, #"{"quantity":-1e19}"#, #"{"quantity":1e300}"#, #"{"costUsd":9007199254740993}"#,
    ])
    func usageOutOfRangeIsRefusedAndNotRecorded(body: String) async throws {
        try await TestServer().test { (http: HTTP) async throws -> Void in
            let runId = try await http.newRun()
            let reply = try await http.post("/runs/\(runId)/usage", body)
            #expect(reply.status == .badRequest, "\(reply.text)")
            let field = body.contains("costUsd") ? "costUsd" : "quantity"
            #expect(Self.issuePaths(reply) == [field], "\(reply.text)")
            let detail = try await http.get("/runs/\(runId)")
            #expect(detail.json["usage"]?.arrayValue?.isEmpty == true)
            // The server still answers: nothing trapped inside the write transaction.
            let ok = try await http.post("/runs/\(runId)/usage", #"{"costUsd":0.25,"quantity":-3}"#)
            #expect(ok.status == .ok, "\(ok.text)")
        }
    }

    @Test(arguments: [
        ("delayMs", "9223372036854775807"), ("deadlineMs", "9223372036854775807"), ("delayMs", "9223372036854775000"),
        ("deadlineMs", "1e18"), ("priority", "9223372036854775807"), ("delayMs", "-1"),
    ])
    func enqueueOutOfRangeIsRefusedAndNotQueued(field: String, value: String) async throws {
        try await TestServer().test { (http: HTTP) async throws -> Void in
            let reply = try await http.post("/queues/q/enqueue", #"{"workflowName":"wf","\#(field)":\#(value)}"#)
            #expect(reply.status == .badRequest, "\(reply.text)")
            #expect(Self.issuePaths(reply) == [field], "\(reply.text)")
            let stats = try await http.get("/queues")
            #expect(stats.json["queues"]?.arrayValue?.isEmpty == true, "\(stats.text)")
            let runs = try await http.get("/runs")
            #expect(runs.json["runs"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func otherTidebaseNumbersAreBounded() async throws {
        try await TestServer().test { (http: HTTP) async throws -> Void in
            let runId = try await http.newRun()
            let huge = "9223372036854775807"
            let cases: [(String, String, String)] = [
                ("/runs/\(runId)/usage", #"{"inputTokens":\#(huge)}"#, "inputTokens"),
                ("/runs/\(runId)/usage", #"{"outputTokens":1e300}"#, "outputTokens"),
                ("/runs/\(runId)/usage", #"{"totalTokens":-1}"#, "totalTokens"),
                ("/runs/\(runId)/gates/begin", #"{"name":"g","prompt":"p","timeoutMs":\#(huge)}"#, "timeoutMs"),
                ("/queues/claim", #"{"queues":["q"],"limit":\#(huge)}"#, "limit"),
                ("/queues/q/enqueue", #"{"workflowName":"wf","maxAttempts":\#(huge)}"#, "maxAttempts"),
                ("/queues/q/enqueue", #"{"workflowName":"wf","runAt":"2026-06-12T10:31:00-99:99"}"#, "runAt"),
            ]
            for (uri, body, field) in cases {
                let reply = try await http.post(uri, body)
                #expect(reply.status == .badRequest, "\(uri) \(body): \(reply.text)")
                #expect(Self.issuePaths(reply) == [field], "\(uri) \(body): \(reply.text)")
            }
            for body in [#"{"concurrency":\#(huge)}"#, #"{"ratePerMinute":1e19}"#] {
                let reply = try await http.call(.put, "/queues/q/config", body)
                #expect(reply.status == .badRequest, "\(body): \(reply.text)")
            }
            let schedule = try await http.call(
                .put, "/schedules/s", #"{"cron":"* * * * *","workflowName":"wf","maxAttempts":\#(huge)}"#)
            #expect(schedule.status == .badRequest && Self.issuePaths(schedule) == ["maxAttempts"], "\(schedule.text)")
            for after in ["-1", "99999999999999999999", "1e3", "x"] {
                let reply = try await http.get("/runs/\(runId)/events?after=\(after)")
                #expect(reply.status == .badRequest, "after=\(after)")
            }
            // Nothing was written by any refused request.
            let detail = try await http.get("/runs/\(runId)")
            #expect(detail.json["usage"]?.arrayValue?.isEmpty == true)
            #expect(detail.json["gates"]?.arrayValue?.isEmpty == true)
            #expect(try await http.get("/queues").json["queues"]?.arrayValue?.isEmpty == true)
            #expect(try await http.get("/schedules").json["schedules"]?.arrayValue?.isEmpty == true)
            #expect(try await http.get("/runs").json["runs"]?.arrayValue?.count == 1)
        }
    }

    @Test func snapStateNumbersAreBounded() async throws {
        try await TestServer().test { (http: HTTP) async throws -> Void in
            for step in ["9007199254740992", "9223372036854775807", "1e300", "-1"] {
                let reply = try await http.post("/checkpoints", #"{"workflow_id":"w","step":\#(step),"state":{}}"#)
                #expect(reply.status == .badRequest, "step \(step): \(reply.text)")
                #expect(reply.text.contains("step"), "\(reply.text)")
            }
            #expect(try await http.get("/workflows/w/resume").status == .notFound)
            for query in [
                "from_step=9223372036854775807", "to_step=9007199254740992", "limit=99999999999999999999",
            ] {
                let reply = try await http.get("/workflows/w/replay?\(query)")
                #expect(reply.status == .badRequest, "\(query): \(reply.text)")
            }
            for query in ["days=99999999999999999999", "days=9223372036854775807", "days=x"] {
                let reply = try await http.get("/analytics/failures?\(query)")
                #expect(reply.status == .badRequest, "\(query): \(reply.text)")
            }
            let ok = try await http.get("/analytics/failures?days=100000")
            #expect(ok.status == .ok && ok.json["period_days"] == .int(90), "\(ok.text)")
        }
    }

    @Test func artifactNumbersAreBounded() async throws {
        let s = try await ArtifactServer()
        try await s.test { (http: HTTP) async throws -> Void in
            for (query, field) in [
                ("name=a&ttl=9223372036854775807", "ttl"), ("name=a&ttl=99999999999999999999", "ttl"),
                ("name=a&ttl=-1", "ttl"), ("name=a&expiresAt=2099-06-12T10:31:00-99:99", "expiresAt"),
            ] {
                let reply = try await http.upload([1, 2, 3], query: query)
                #expect(reply.status == .badRequest, "\(query): \(reply.text)")
                #expect(reply.json["field"] == .string(field), "\(query): \(reply.text)")
            }
            for limit in ["99999999999999999999", "9223372036854775807", "-1"] {
                #expect(try await http.raw(.get, "/artifacts?limit=\(limit)").status == .badRequest, "\(limit)")
            }
            try await s.expectClean(artifacts: 0, blobs: 0, usage: 0)
            let id = try await http.uploadedId([1, 2, 3], query: "name=kept")
            var range = HTTPFields()
            range[.range] = "bytes=99999999999999999999-"
            #expect(try await http.raw(.get, "/artifacts/\(id)", headers: range).status == .badRequest)
            // The largest suffix accepted (18 digits) is clamped to the whole artifact.
            range[.range] = "bytes=-999999999999999999"
            let suffix = try await http.raw(.get, "/artifacts/\(id)", headers: range)
            #expect(suffix.status == .partialContent && suffix.body == [1, 2, 3], "\(suffix.status)")
        }
    }
}
