import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Metrics
import NIOCore
import Prometheus
import Testing

@testable import CairnServer

/// The run protocol over HTTP: exact shapes, status codes and the deliberate differences.
@Suite struct TidebaseRoutesTests {
    static let runKeys = [
        "id", "workflowName", "input", "metadata", "status", "result", "error", "recoveryWebhook", "leaseOwner",
        "leaseExpiresAt", "attempt", "queue", "dedupeKey", "priority", "runAt", "maxAttempts", "deadlineAt",
        "cancelRequestedAt", "cancelledAt", "cancelReason", "cancelActor", "failureClass", "createdAt", "updatedAt",
        "completedAt",
    ]

    @Test func healthAndRunShapes() async throws {
        try await TestServer().test { http in
            let health = try await http.get("/health")
            #expect(health.status == .ok && health.text == #"{"ok":true}"#)
            let created = try await http.post("/runs/report%20v2", #"{"input":null,"metadata":{"k":"v"},"extra":1}"#)
            #expect(created.status == .ok)
            let run = try #require(created.json["run"])
            #expect(run.keys == Self.runKeys)
            #expect(run["workflowName"] == .string("report v2"))
            #expect(run["input"]?.jsonText == "{}" && run["status"] == .string("pending") && run["attempt"] == .int(0))
            #expect(run["maxAttempts"] == .int(1) && run["completedAt"] == .null)
            let createdAt = try #require(run["createdAt"]?.stringValue)
            #expect(createdAt.count == 24 && createdAt.hasSuffix("Z"))
            let id = try #require(run["id"]?.stringValue)
            #expect(id.hasPrefix("run_") && id.count == 36)

            let list = try await http.get("/runs")
            #expect(list.json["runs"]?.arrayValue?.first?["id"]?.stringValue == id)

            let detail = try await http.get("/runs/\(id)")
            #expect(
                detail.json.keys == [
                    "run", "steps", "state", "stateStreams", "stateVersions", "runEdges", "childRuns",
                    "recoveryAttempts", "channels", "channelDeliveries", "gates", "usage", "events",
                    "stalled",  // Cairn's extension, after the reference's keys
                ])
            #expect(detail.json["state"] == .null)
        }
    }

    @Test func stepProtocolActions() async throws {
        try await TestServer().test { http in
            let id = try await http.newRun()
            let begun = try await http.post("/runs/\(id)/begin", nil)
            let owner = try #require(begun.json["leaseOwner"]?.stringValue)
            #expect(owner.count == 36)
            let stepBody =
                #"{"name":"plan","inputHash":"abc","input":{"q":1},"options":{"retries":2},"leaseOwner":"\#(owner)"}"#
            let exec = try await http.post("/runs/\(id)/steps/begin", stepBody)
            #expect(exec.json["action"] == .string("execute") && exec.json["leaseOwner"] == .string(owner))
            let step = try #require(exec.json["step"])
            #expect(
                step.keys == [
                    "id", "runId", "name", "inputHash", "input", "options", "resumeContract", "status", "output",
                    "error",
                    "leaseOwner", "leaseExpiresAt", "attempt", "startedAt", "completedAt", "createdAt", "updatedAt",
                ])
            #expect(
                step["resumeContract"]?.keys == [
                    "sideEffects", "idempotencyKey", "replay", "checkpointInvariant", "verifiedBy", "credentials",
                ])
            let stepId = try #require(step["id"]?.stringValue)
            let locked = try await http.post(
                "/runs/\(id)/steps/begin", #"{"name":"plan","inputHash":"abc","leaseOwner":"someone-else"}"#)
            #expect(locked.json["action"] == .string("locked"))
            let lost = try await http.post("/runs/\(id)/steps/\(stepId)/complete", #"{"leaseOwner":"nope"}"#)
            #expect(lost.status == .conflict && lost.json["error"] == .string("step not found or lease lost"))
            let done = try await http.post(
                "/runs/\(id)/steps/\(stepId)/complete", #"{"leaseOwner":"\#(owner)","output":{"plan":[1,2]}}"#)
            #expect(done.json["step"]?["status"] == .string("completed"))
            let replay = try await http.post("/runs/\(id)/steps/begin", stepBody)
            #expect(replay.json["action"] == .string("return") && replay.json["output"]?.jsonText == #"{"plan":[1,2]}"#)
            let mismatch = try await http.post("/runs/\(id)/steps/begin", #"{"name":"plan","inputHash":"zzz"}"#)
            #expect(mismatch.json["action"] == .string("input_mismatch"))
            #expect(
                mismatch.json["expectedInputHash"] == .string("abc")
                    && mismatch.json["actualInputHash"] == .string("zzz"))
        }
    }

    @Test func badInputGets400AndChangesNothing() async throws {
        try await TestServer().test { http in
            let id = try await http.newRun()
            for body in [
                "", "{bad", "[1]", #"{"name":"","inputHash":"x"}"#, #"{"name":5,"inputHash":"x"}"#,
                #"{"inputHash":"x"}"#,
            ] {
                let reply = try await http.call(.post, "/runs/\(id)/steps/begin", body)
                #expect(reply.status == .badRequest, "body \(body)")
                #expect(reply.json["error"] == .string("invalid request body"))
            }
            let usage = try await http.post("/runs/\(id)/usage", #"{"inputTokens":-1}"#)
            #expect(usage.status == .badRequest)
            let wrongType = try await http.post("/runs/\(id)/usage", #"{"costUsd":"cheap"}"#)
            #expect(wrongType.status == .badRequest)
            let badDecision = try await http.post("/runs/\(id)/state/save", #"{"label":"x","importance":"huge"}"#)
            #expect(badDecision.status == .badRequest)
            let badPatch = try await http.call(.patch, "/runs/\(id)/state", #"{"value":[1,2]}"#)
            #expect(badPatch.status == .badRequest)
            let badHook = try await http.post("/runs/wf", #"{"recoveryWebhook":"not a url"}"#)
            #expect(badHook.status == .badRequest)
            let badAfter = try await http.get("/runs/\(id)/events?after=-1")
            #expect(badAfter.status == .badRequest)
            // Nothing above wrote anything: the run has only its creation event, and no second run exists.
            let detail = try await http.get("/runs/\(id)")
            #expect(detail.json["events"]?.arrayValue?.count == 1)
            #expect(detail.json["steps"]?.arrayValue?.isEmpty == true)
            #expect(try await http.get("/runs").json["runs"]?.arrayValue?.count == 1)
        }
    }

    @Test func unknownRunsGet404() async throws {
        try await TestServer().test { http in
            #expect(
                try await http.get("/runs/run_missing").json
                    == .object(JSONObject([("error", .string("run not found"))])))
            for (method, path, body) in [
                (HTTPRequest.Method.post, "/runs/run_missing/begin", "{}"),
                (.post, "/runs/run_missing/steps/begin", #"{"name":"a","inputHash":"b"}"#),
                (.post, "/runs/run_missing/gates/begin", #"{"name":"a","prompt":"b"}"#),
                (.put, "/runs/run_missing/state", #"{"value":1}"#),
                (.post, "/runs/run_missing/usage", "{}"),
                (.post, "/runs/run_missing/snapshots", #"{"label":"x"}"#),
                (.post, "/runs/run_missing/complete", "{}"),
                (.post, "/runs/run_missing/cancel", "{}"),
            ] {
                let reply = try await http.call(method, path, body)
                #expect(reply.status == .notFound, "\(method) \(path)")
            }
            let child = try await http.post("/runs/run_missing/children", #"{"name":"a","workflowName":"b"}"#)
            #expect(child.status == .notFound && child.json["error"] == .string("parent run not found"))
        }
    }

    @Test func leaseAndLifecycleErrors() async throws {
        try await TestServer().test { http in
            let id = try await http.newRun()
            var worker = http
            worker.headers[HTTPField.Name("x-tidebase-worker")!] = "worker-a"
            #expect(try await worker.post("/runs/\(id)/begin", nil).json["leaseOwner"] == .string("worker-a"))
            let leased = try await http.post("/runs/\(id)/begin", nil)
            #expect(leased.status == .conflict && leased.json["leaseOwner"] == .string("worker-a"))
            #expect(try await http.post("/runs/\(id)/heartbeat", "{}").status == .badRequest)
            #expect(try await http.post("/runs/\(id)/heartbeat", #"{"leaseOwner":"worker-a"}"#).status == .ok)
            _ = try await http.post("/runs/\(id)/complete", #"{"result":{"ok":true}}"#)
            let hb = try await http.post("/runs/\(id)/heartbeat", #"{"leaseOwner":"worker-a"}"#)
            #expect(hb.status == .conflict && hb.json["code"] == .string("lease_lost"))
            let cancel = try await http.post("/runs/\(id)/cancel", nil)
            #expect(cancel.status == .conflict && cancel.json["error"] == .string("run already completed"))

            let other = try await http.newRun()
            let cancelled = try await http.post("/runs/\(other)/cancel", #"{"reason":"stop","actor":"ann"}"#)
            #expect(cancelled.json["run"]?["status"] == .string("cancelled"))
            let begin = try await http.post("/runs/\(other)/begin", nil)
            #expect(begin.status == .conflict && begin.json["code"] == .string("run_cancelled"))
            let step = try await http.post("/runs/\(other)/steps/begin", #"{"name":"a","inputHash":"b"}"#)
            #expect(step.json == .object(JSONObject([("action", .string("cancelled"))])))
            let gate = try await http.post("/runs/\(other)/gates/begin", #"{"name":"a","prompt":"b"}"#)
            #expect(gate.status == .conflict && gate.json["code"] == .string("run_cancelled"))
        }
    }

    @Test func gatesOverHTTP() async throws {
        try await TestServer().test { http in
            let id = try await http.newRun()
            let begun = try await http.post(
                "/runs/\(id)/gates/begin",
                #"{"name":"approve","prompt":"Ship?","data":{"n":1},"channels":[{"type":"webhook","url":"http://x.test/h","secret":"s3cret"}]}"#
            )
            #expect(begun.json["action"] == .string("wait"))
            let gate = try #require(begun.json["gate"])
            #expect(!begun.text.contains("s3cret"))
            let gateId = try #require(gate["id"]?.stringValue)
            let token = try #require(gate["resolveToken"]?.stringValue)
            let polled = try await http.get("/runs/\(id)/gates/\(gateId)")
            #expect(
                polled.json["runStatus"] == .string("pending") && polled.json["gate"]?["status"] == .string("pending"))
            let resolved = try await http.post(
                "/runs/\(id)/gates/\(gateId)/resolve",
                #"{"token":"\#(token)","decision":"approved","actor":"ann","payload":{"note":"ok"}}"#)
            #expect(resolved.json["gate"]?["decision"] == .string("approved"))
            #expect(resolved.json["gate"]?["decisionPayload"]?.jsonText == #"{"note":"ok"}"#)
            let again = try await http.post(
                "/runs/\(id)/gates/\(gateId)/resolve", #"{"token":"\#(token)","decision":"rejected"}"#)
            #expect(again.status == .conflict)
            let replay = try await http.post("/runs/\(id)/gates/begin", #"{"name":"approve","prompt":"Ship?"}"#)
            #expect(replay.json["action"] == .string("return"))
            #expect(try await http.get("/runs/\(id)/gates/gate_missing").status == .notFound)
            let events = try await http.get("/runs/\(id)").json["events"]?.arrayValue ?? []
            let created = try #require(events.first { $0["type"] == .string("gate.created") })
            #expect(
                created["payload"]?["gate"]?.keys == [
                    "id", "runId", "name", "prompt", "data", "status", "decision", "actor", "capability", "resolveUrl",
                    "resolveToken",
                ])
        }
    }

    @Test func runDetailNeverShowsChannelSecrets() async throws {
        try await TestServer().test { http in
            let created = try await http.post(
                "/runs/wf",
                #"{"channels":[{"type":"webhook","url":"https://hooks.test/a","secret":"topsecret","events":["run.completed"]}]}"#
            )
            let id = try #require(created.json["run"]?["id"]?.stringValue)
            let detail = try await http.get("/runs/\(id)")
            #expect(!detail.text.contains("topsecret"))
            let channel = try #require(detail.json["channels"]?.arrayValue?.first)
            #expect(channel["config"]?["url"] == .string("https://hooks.test/a"))
            #expect(channel["events"] == .array([.string("run.completed")]))
            let badChannel = try await http.post("/runs/wf", #"{"channels":[{"type":"sms","url":"https://x.test"}]}"#)
            #expect(badChannel.status == .badRequest)
        }
    }

    @Test func authRequiresTheKeyExceptHealthAndAcceptsTokenOnlyOnSSE() async throws {
        let key = "test-key-0123456789abcdef"
        try await TestServer(apiKey: key).test { (http: HTTP) async throws -> Void in
            #expect(try await http.get("/health").status == .ok)
            #expect(try await http.get("/runs").status == .unauthorized)
            #expect(try await http.get("/runs?token=\(key)").status == .unauthorized)
            var authed = http
            authed.headers[.authorization] = "Bearer \(key)"
            #expect(try await authed.get("/runs").status == .ok)
            var wrong = http
            wrong.headers[.authorization] = "Bearer \(key)x"
            #expect(try await wrong.get("/runs").status == .unauthorized)
            // The SSE route accepts ?token= (its body is tested elsewhere; an unknown run's stream is empty).
            #expect(try await http.get("/runs/run_x/events?token=wrong").status == .unauthorized)
        }
    }

    /// Only `/runs/<id>/events` takes its key from `?token=`.
    @Test func onlyARunsEventStreamPathTakesATokenFromTheQuery() {
        for path in ["/runs/run_x/events", "/runs/r/events"] {
            #expect(AuthMiddleware<CairnRequestContext>.isEventStreamPath(path), "\(path)")
        }
        for path in [
            "/runs/events", "/runs//events", "/runs/a/b/events", "/runs/x/events/", "/run/x/events", "runs/x/events",
            "/runs/x/eventsx", "/xruns/x/events", "/runs", "/",
        ] {
            #expect(!AuthMiddleware<CairnRequestContext>.isEventStreamPath(path), "\(path)")
        }
    }

    @Test func eventStreamReplaysThenPushesLiveEvents() async throws {
        let server = try TestServer(sseKeepalive: .milliseconds(50))
        try await server.test { http in
            let id = try await http.newRun()
            _ = try await http.call(.put, "/runs/\(id)/state", #"{"value":{"a":1}}"#)
            async let stream = http.get("/runs/\(id)/events?after=1")
            // Once the stream is subscribed, write a live event, then end all streams.
            while server.server.broker.subscriberCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
            _ = try await http.post("/runs/\(id)/usage", #"{"inputTokens":3}"#)
            try await Task.sleep(for: .milliseconds(120))
            server.server.broker.shutdown()
            let reply = try await stream
            let frames = reply.text.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }
            #expect(frames.count == 2)
            #expect(frames[0].hasSuffix("\nid: 2") && frames[0].contains(#""type":"state.updated""#))
            #expect(frames[1].hasSuffix("\nid: 3") && frames[1].contains(#""type":"usage.recorded""#))
            #expect(reply.text.contains(": keepalive"))
        }
    }

    /// After a read and a write, `/metrics` reports them: request counters and durations by
    /// route, and the store's commits with their group-commit batch sizes.
    @Test func metricsEndpointReportsRequestsAndCommits() async throws {
        try await TestServer(registry: processMetricsRegistry).test { http in
            #expect(try await http.get("/health").status == .ok)
            _ = try await http.newRun("metrics")
            let reply = try await http.get("/metrics")
            #expect(reply.status == .ok)
            let samples = PrometheusSample.parse(reply.text)
            // Other tests of this process share the registry, so values are lower bounds.
            func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
                let matching = samples.filter { sample in
                    sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value }
                }
                return matching.isEmpty ? nil : matching.map(\.value).reduce(0, +)
            }
            let health = ["method": "GET", "route": "/health", "status": "200"]
            #expect(value("cairn_http_requests_total", health) ?? 0 >= 1, "\(reply.text)")
            #expect(value("cairn_http_requests_total", ["method": "POST"]) ?? 0 >= 1)
            let healthDuration = ["method": "GET", "route": "/health"]
            #expect(value("cairn_http_request_duration_seconds_count", healthDuration) ?? 0 >= 1)
            #expect(value("cairn_http_request_duration_seconds_sum", healthDuration) ?? 0 > 0)

            let commits = try #require(value("cairn_store_commits_total"))
            #expect(commits >= 1)
            let batches = try #require(value("cairn_store_group_commit_batch_size_count"))
            let batchedWrites = try #require(value("cairn_store_group_commit_batch_size_sum"))
            // A batch holds at least one write.
            #expect(batches >= 1)
            #expect(batchedWrites >= batches)
            #expect(value("cairn_store_group_commit_batch_size_bucket", ["le": "+Inf"]) == batches)
            let timed = try #require(value("cairn_store_commit_duration_seconds_count"))
            #expect(timed >= 1)
            #expect(value("cairn_store_commit_duration_seconds_sum") ?? 0 > 0)
        }
    }

    /// The recorder keeps each (method, route, status)'s counter and timer: repeated requests
    /// count on the same handles, and every one of them is counted.
    @Test func requestRecorderCountsEachRequestOnCachedHandles() throws {
        let registry = processMetricsRegistry
        let recorder = RequestRecorder(accessLog: nil)
        let route = "/recorder-test-\(UInt64.random(in: 0...UInt64.max))"
        for status in [200, 200, 200, 404] {
            recorder.record(method: .get, path: route, status: status, route: route, elapsed: .milliseconds(2))
        }
        let samples = PrometheusSample.parse(registry.emitToString())
        func value(_ name: String, _ labels: [String: String]) -> Double? {
            samples.first { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }?
                .value
        }
        #expect(value("cairn_http_requests_total", ["route": route, "status": "200"]) == 3)
        #expect(value("cairn_http_requests_total", ["route": route, "status": "404"]) == 1)
        #expect(value("cairn_http_request_duration_seconds_count", ["route": route]) == 4)
    }
}

@Suite struct RecoveryTests {
    @Test func signatureIsHexHMACSHA256WithPrefix() {
        // RFC 4231, test case 2.
        #expect(
            RecoveryDispatcher.signature(body: "what do ya want for nothing?", secret: "Jefe")
                == "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func recoverWithoutWebhookIs422AndUnreachableWebhookIsRecordedAsFailed() async throws {
        try await TestServer().test { http in
            let plain = try await http.newRun()
            let refused = try await http.post("/runs/\(plain)/recover", nil)
            #expect(refused.status == .unprocessableContent)
            #expect(refused.json["error"] == .string("run has no recoveryWebhook configured"))
            // Port 9 (discard) on loopback refuses connections.
            let created = try await http.post("/runs/wf", #"{"recoveryWebhook":"http://127.0.0.1:9/hook"}"#)
            let id = try #require(created.json["run"]?["id"]?.stringValue)
            let attempt = try await http.post("/runs/\(id)/recover", #"{"reason":"test"}"#)
            #expect(attempt.status == .ok)
            #expect(attempt.json["recoveryAttempt"]?["status"] == .string("failed"))
            #expect(attempt.json["recoveryAttempt"]?["reason"] == .string("test"))
            let detail = try await http.get("/runs/\(id)")
            let types = detail.json["events"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? []
            #expect(types == ["run.created", "recovery.started", "recovery.failed"])
            #expect(detail.json["recoveryAttempts"]?.arrayValue?.count == 1)
        }
    }
}

/// The metrics backend of this test process: the global `MetricsSystem` can be bootstrapped
/// only once, so every test that reads metrics shares this registry.
let processMetricsRegistry: PrometheusCollectorRegistry = {
    let registry = PrometheusCollectorRegistry()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    return registry
}()

/// One sample line of the Prometheus text format: `name{label="value",...} value`.
struct PrometheusSample {
    let name: String
    let labels: [String: String]
    let value: Double

    static func parse(_ text: String) -> [PrometheusSample] {
        text.split(separator: "\n").compactMap { line -> PrometheusSample? in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "),
                let value = Double(line[line.index(after: space)...])
            else { return nil }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else {
                return PrometheusSample(name: String(series), labels: [:], value: value)
            }
            var labels: [String: String] = [:]
            // Label values here never hold commas or quotes (methods, routes, statuses, bounds).
            let inside = series[series.index(after: brace)..<series.index(before: series.endIndex)]
            for pair in inside.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
            }
            return PrometheusSample(name: String(series[..<brace]), labels: labels, value: value)
        }
    }
}
