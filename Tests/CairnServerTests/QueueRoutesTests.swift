import CairnCore
import CairnServer
import Foundation
import HTTPTypes
import Testing

/// Cairn's queue extensions: one queue's detail with its activity, and pause / resume, beside
/// Tidebase's unchanged queue shapes.
@Suite struct QueueRoutesTests {
    @Test func queuesPauseAndResumeAndShowTheirActivity() async throws {
        try await TestServer(apiKey: "root-key-of-this-test").test { http in
            let root = http.authorized("root-key-of-this-test")
            for _ in 0..<2 {
                #expect(try await root.post("/queues/mail%20out/enqueue", #"{"workflowName":"send"}"#).status == .ok)
            }
            let paused = try await root.post("/queues/mail%20out/pause")
            #expect(paused.status == .ok, "\(paused.text)")
            #expect(paused.json["queue"]?["name"]?.stringValue == "mail out")
            #expect(paused.json["queue"]?["paused"]?.boolValue == true)
            #expect(paused.json["queue"]?["pausedAt"]?.stringValue != nil)
            #expect(paused.json["queue"]?["queued"]?.intValue == 2)
            let claim = try await root.post("/queues/claim", #"{"queues":["mail out"],"limit":5}"#)
            #expect(claim.json["runs"]?.arrayValue?.isEmpty == true)
            // Tidebase's own shapes are unchanged by the pause.
            let listed = try await root.get("/queues").json["queues"]?.arrayValue?.first
            #expect(listed?.keys == ["name", "queued", "running", "failed", "completed", "cancelled", "config"])
            #expect(listed?["config"]?.keys == ["name", "concurrency", "ratePerMinute", "invokeUrl"])
            // A read-only key sees the queue but cannot resume it.
            let reader = root.authorized(
                try await root.newKey(root: "root-key-of-this-test", tenant: "default", scopes: ["read"]))
            #expect(try await reader.get("/queues/mail%20out").json["queue"]?["paused"]?.boolValue == true)
            #expect(try await reader.post("/queues/mail%20out/resume").status == .forbidden)
            let resumed = try await root.post("/queues/mail%20out/resume")
            #expect(resumed.json["queue"]?["paused"]?.boolValue == false)
            #expect(resumed.json["queue"]?["pausedAt"]?.isNull == true)
            let claimed = try await root.post("/queues/claim", #"{"queues":["mail out"],"limit":5}"#)
            #expect(claimed.json["runs"]?.arrayValue?.count == 2)
            let detail = try await root.get("/queues/mail%20out").json["queue"]
            let activity = detail?["activity"]?.arrayValue ?? []
            #expect(activity.map { $0["windowSeconds"]?.intValue } == [60, 900])
            #expect(activity.map { $0["claimed"]?.intValue } == [2, 2])
            // Another tenant has no such queue.
            let other = root.authorized(
                try await root.newKey(root: "root-key-of-this-test", tenant: "other", scopes: ["write"]))
            #expect(try await other.get("/queues/mail%20out").status == .notFound)
            #expect(try await root.get("/queues/never").status == .notFound)
        }
    }
}
