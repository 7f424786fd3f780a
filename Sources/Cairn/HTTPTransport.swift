import AsyncHTTPClient
import CairnCore
import Foundation
import NIOCore
import NIOHTTP1

/// The run protocol over HTTP (a Cairn server, or any server speaking Tidebase 0.7).
struct HTTPTransport: RunTransport {
    let baseURL: String
    let apiKey: String?
    let timeout: TimeAmount
    /// What a 429 answer leads to (the checkpoint routes are rate limited per key).
    var rateLimitRetry = RateLimitRetry()

    /// One client for the process; it lives as long as the process does.
    static let client = HTTPClient(
        eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

    /// A reply read whole: status, headers and body.
    struct Reply {
        let status: HTTPResponseStatus
        let headers: HTTPHeaders
        let body: ByteBuffer

        /// The body as JSON; `null` when it is empty or not JSON.
        var json: JSONValue { (try? JSONParser.parse(bytes: Array(body.readableBytesView))) ?? .null }
        var text: String { String(buffer: body) }
    }

    /// Sends one JSON request and reads its reply, whatever its status. A 429 is retried as
    /// `rateLimitRetry` allows, after the `Retry-After` seconds it names; when it allows no more,
    /// `CairnError.rateLimited` is thrown.
    func send(_ method: HTTPMethod, _ path: String, _ body: RawJSON? = nil, headers: [(String, String)] = [])
        async throws -> Reply
    {
        var attempt = 1
        while true {
            var request = HTTPClientRequest(url: baseURL + path)
            request.method = method
            request.headers.add(name: "content-type", value: "application/json")
            if let apiKey { request.headers.add(name: "authorization", value: "Bearer \(apiKey)") }
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body { request.body = .bytes(ByteBuffer(string: body)) }
            let response = try await Self.client.execute(request, timeout: timeout)
            let reply = Reply(
                status: response.status, headers: response.headers,
                body: try await response.body.collect(upTo: 64 * 1024 * 1024))
            // A 429 is refused before any work is done, so even a POST is safe to send again.
            guard reply.status == .tooManyRequests else { return reply }
            let seconds = reply.headers.first(name: "retry-after").flatMap { Int($0) }
            // A missing or unreadable Retry-After (an HTTP date) waits one second.
            let wait = Duration.seconds(max(1, seconds ?? 1))
            guard attempt < rateLimitRetry.maxAttempts, wait <= rateLimitRetry.maxWait else {
                throw CairnError.rateLimited(retryAfterSeconds: seconds)
            }
            try await rateLimitRetry.sleep(wait)
            attempt += 1
        }
    }

    private func call(_ method: HTTPMethod, _ path: String, _ body: RawJSON? = nil) async throws -> JSONValue {
        let reply = try await send(method, path, body)
        let parsed = reply.json
        // 200, or 201 for what creates (a fork).
        guard (200..<300).contains(reply.status.code) else {
            let code = parsed["code"]?.stringValue
            if code == "run_cancelled" {
                throw CairnError.runCancelled(
                    runId: path.split(separator: "/").dropFirst().first.map(String.init) ?? "")
            }
            switch (reply.status.code, code) {
            case (404, _) where parsed["error"]?.stringValue?.contains("run not found") == true:
                throw CairnError.runNotFound
            case (400, "invalid_cron"):
                throw CairnError.invalidCron(parsed["error"]?.stringValue ?? "", field: parsed["field"]?.stringValue)
            case (409, "lease_lost"): throw CairnError.leaseLost
            case (409, _) where parsed["error"]?.stringValue == "run is leased":
                throw CairnError.runLeased(holder: parsed["leaseOwner"]?.stringValue ?? "")
            case (409, _) where parsed["error"]?.stringValue == "step not found or lease lost":
                throw CairnError.leaseLost
            case (409, _) where parsed["error"]?.stringValue == "run already completed":
                throw CairnError.runAlreadyCompleted
            default: throw CairnError.server(status: Int(reply.status.code), body: reply.text)
            }
        }
        return parsed
    }

    static func path(_ segment: String) -> String {
        segment.addingPercentEncoding(
            withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? segment
    }

    func createRun(workflow: String, input: JSONValue, recoveryWebhook: String?) async throws -> Run {
        let body = jsonObject { w in
            w.field("input", json: input)
            if let recoveryWebhook { w.field("recoveryWebhook", recoveryWebhook) }
        }
        return try Run(wire: try await call(.POST, "/runs/\(Self.path(workflow))", body)["run"])
    }

    func run(id: String) async throws -> RunDetail { try RunDetail(wire: try await call(.GET, "/runs/\(id)")) }

    func listRuns(_ q: RunListQuery) async throws -> RunPage {
        var query = ["limit=\(q.limit)"]
        if let v = q.status { query.append("status=" + v.rawValue) }
        if let v = q.workflowName { query.append("workflow=" + Self.queryValue(v)) }
        if let v = q.createdSince { query.append("createdSince=" + Self.queryValue(v.iso8601)) }
        if q.stalledOnly { query.append("stalled=true") }
        if let v = q.after { query.append("cursor=" + Self.queryValue(v.text)) }
        let reply = try await call(.GET, "/runs?" + query.joined(separator: "&"))
        return RunPage(
            runs: try reply["runs"]?.arrayValue?.map { try Run(wire: $0) } ?? [],
            next: reply["nextCursor"]?.stringValue.flatMap(ListCursor.init(text:)))
    }

    static func queryValue(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+#")))
            ?? s
    }

    func forkRun(id: String, atStep step: String) async throws -> Run {
        try Run(wire: try await call(.POST, "/runs/\(id)/fork", jsonObject { $0.field("step", step) })["run"])
    }

    func beginRun(id: String) async throws -> (run: Run, leaseOwner: String) {
        let reply = try await call(.POST, "/runs/\(id)/begin", "{}")
        return (try Run(wire: reply["run"]), reply["leaseOwner"]?.stringValue ?? "")
    }

    func completeRun(id: String, result: JSONValue) async throws -> Run {
        try Run(
            wire: try await call(.POST, "/runs/\(id)/complete", jsonObject { $0.field("result", json: result) })["run"])
    }

    func failRun(id: String, error: JSONValue) async throws -> Run {
        try Run(wire: try await call(.POST, "/runs/\(id)/fail", jsonObject { $0.field("error", json: error) })["run"])
    }

    func cancelRun(id: String, reason: String?, actor: String?) async throws -> Run {
        let body = jsonObject { w in
            if let reason { w.field("reason", reason) }
            if let actor { w.field("actor", actor) }
        }
        return try Run(wire: try await call(.POST, "/runs/\(id)/cancel", body)["run"])
    }

    func beginStep(runId: String, _ r: BeginStepRequest) async throws -> StepDecision {
        let body = jsonObject { w in
            w.field("name", r.name)
            w.field("inputHash", r.inputHash)
            w.field("input", json: r.input ?? .null)
            w.field("options", json: .object(r.options ?? JSONObject()))
            if let owner = r.leaseOwner { w.field("leaseOwner", owner) }
        }
        let reply = try await call(.POST, "/runs/\(runId)/steps/begin", body)
        switch reply["action"]?.stringValue {
        case "execute":
            return .execute(try Step(wire: reply["step"]), leaseOwner: reply["leaseOwner"]?.stringValue ?? "")
        case "return": return .replay(output: reply["output"].flatMap { $0.isNull ? nil : $0.jsonText })
        case "cancelled": return .cancelled
        case "locked": return .locked
        case "input_mismatch":
            return .inputMismatch(
                expected: reply["expectedInputHash"]?.stringValue ?? "",
                actual: reply["actualInputHash"]?.stringValue ?? "")
        default: throw CairnError.encoding("unknown step action in \(reply.jsonText)")
        }
    }

    func completeStep(runId: String, stepId: String, leaseOwner: String, output: JSONValue) async throws {
        _ = try await call(
            .POST, "/runs/\(runId)/steps/\(stepId)/complete",
            jsonObject { w in
                w.field("leaseOwner", leaseOwner)
                w.field("output", json: output)
            })
    }

    func failStep(runId: String, stepId: String, _ r: FailStepRequest) async throws {
        _ = try await call(
            .POST, "/runs/\(runId)/steps/\(stepId)/fail",
            jsonObject { w in
                w.field("leaseOwner", r.leaseOwner)
                w.field("retryable", r.retryable)
                if let d = r.resumeDecision { w.field("resumeDecision", d.rawValue) }
                w.field("error", json: r.error ?? .null)
            })
    }

    func beginGate(runId: String, _ r: BeginGateRequest) async throws -> Gate {
        let body = jsonObject { w in
            w.field("name", r.name)
            w.field("prompt", r.prompt)
            w.field("data", json: r.data ?? .emptyObject)
            w.field("channels", json: r.channels ?? .array([]))
            w.field("capability", json: r.capability ?? .null)
        }
        return try Gate(wire: try await call(.POST, "/runs/\(runId)/gates/begin", body)["gate"])
    }

    func gate(runId: String, gateId: String) async throws -> (gate: Gate, runStatus: RunStatus) {
        let reply = try await call(.GET, "/runs/\(runId)/gates/\(gateId)")
        return (try Gate(wire: reply["gate"]), RunStatus(rawValue: reply["runStatus"]?.stringValue ?? "") ?? .pending)
    }

    func resolveGate(runId: String, gateId: String, _ r: ResolveGateRequest) async throws -> Gate {
        let body = jsonObject { w in
            w.field("token", r.token)
            w.field("decision", r.decision.rawValue)
            if let actor = r.actor { w.field("actor", actor) }
            if let payload = r.payload { w.field("payload", json: payload) }
        }
        return try Gate(wire: try await call(.POST, "/runs/\(runId)/gates/\(gateId)/resolve", body)["gate"])
    }

    func createChild(parentId: String, _ r: CreateChildRequest) async throws -> Run {
        let body = jsonObject { w in
            w.field("name", r.name)
            w.field("workflowName", r.run.workflowName)
            w.field("input", json: r.run.input ?? .null)
            if let t = r.edgeType { w.field("edgeType", t) }
            if let m = r.edgeMetadata { w.field("edgeMetadata", json: .object(m)) }
        }
        return try Run(wire: try await call(.POST, "/runs/\(parentId)/children", body)["run"])
    }

    private static func stateOptionFields(_ o: StateWriteOptions, _ w: inout JSONWriter) {
        if let v = o.stream { w.field("stream", v) }
        if let v = o.label { w.field("label", v) }
        if let v = o.reason { w.field("reason", v) }
        if let v = o.importance { w.field("importance", v.rawValue) }
        if let v = o.metadata { w.field("metadata", json: .object(v)) }
        if let v = o.createdBy { w.field("createdBy", v) }
    }

    func writeState(runId: String, value: JSONValue, merge: Bool, options: StateWriteOptions) async throws -> RunState {
        let body = jsonObject { w in
            w.field("value", json: value)
            Self.stateOptionFields(options, &w)
        }
        return try RunState(wire: try await call(merge ? .PATCH : .PUT, "/runs/\(runId)/state", body)["state"])
    }

    func saveState(runId: String, label: String, options: StateWriteOptions) async throws -> StateVersion {
        let body = jsonObject { w in
            w.field("label", label)
            Self.stateOptionFields(options, &w)
        }
        return try StateVersion(wire: try await call(.POST, "/runs/\(runId)/state/save", body)["stateVersion"])
    }

    func stateVersions(runId: String, stream: String?, labeledOnly: Bool) async throws -> [StateVersion] {
        var query: [String] = []
        if let stream { query.append("stream=\(Self.path(stream))") }
        if labeledOnly { query.append("labeled=true") }
        let suffix = query.isEmpty ? "" : "?" + query.joined(separator: "&")
        let reply = try await call(.GET, "/runs/\(runId)/state/versions\(suffix)")
        return try reply["stateVersions"]?.arrayValue?.map { try StateVersion(wire: $0) } ?? []
    }

    func recordUsage(runId: String, _ u: RecordUsageRequest) async throws -> UsageRecord {
        let body = jsonObject { w in
            if let v = u.stepId { w.field("stepId", v) }
            if let v = u.kind { w.field("kind", v) }
            if let v = u.provider { w.field("provider", v) }
            if let v = u.model { w.field("model", v) }
            if let v = u.label { w.field("label", v) }
            if let v = u.quantity { w.key("quantity"); w.double(v) }
            if let v = u.unit { w.field("unit", v) }
            if let v = u.inputTokens { w.field("inputTokens", v) }
            if let v = u.outputTokens { w.field("outputTokens", v) }
            if let v = u.totalTokens { w.field("totalTokens", v) }
            if let v = u.costUsd { w.key("costUsd"); w.double(v) }
            if let v = u.metadata { w.field("metadata", json: .object(v)) }
            if let v = u.idempotencyKey { w.field("idempotencyKey", v) }
        }
        return try UsageRecord(wire: try await call(.POST, "/runs/\(runId)/usage", body)["usage"])
    }

    func enqueue(queue: String, _ e: EnqueueRequest) async throws -> Run {
        let body = jsonObject { w in
            w.field("workflowName", e.run.workflowName)
            w.field("input", json: e.run.input ?? .null)
            if let v = e.dedupeKey { w.field("dedupeKey", v) }
            if let v = e.delayMilliseconds { w.field("delayMs", Int(v)) }
            if let v = e.runAt { w.field("runAt", v.iso8601) }
            if e.maxAttempts != 1 { w.field("maxAttempts", e.maxAttempts) }
            if e.priority != 0 { w.field("priority", e.priority) }
            if let v = e.deadlineMilliseconds { w.field("deadlineMs", Int(v)) }
        }
        return try Run(wire: try await call(.POST, "/queues/\(Self.path(queue))/enqueue", body)["run"])
    }

    func claim(queues: [String], owner: String, limit: Int) async throws -> [Run] {
        let body = jsonObject { w in
            w.key("queues"); w.stringArray(queues)
            w.field("leaseOwner", owner)
            w.field("limit", limit)
        }
        return try (try await call(.POST, "/queues/claim", body))["runs"]?.arrayValue?.map { try Run(wire: $0) } ?? []
    }

    func configureQueue(name: String, _ u: QueueConfigUpdate) async throws -> QueueConfig {
        func field<T>(
            _ key: String, _ update: FieldUpdate<T>, _ w: inout JSONWriter, _ write: (inout JSONWriter, T) -> Void
        ) {
            switch update {
            case .keep: break
            case .clear: w.key(key); w.null()
            case .set(let v): w.key(key); write(&w, v)
            }
        }
        let body = jsonObject { w in
            field("concurrency", u.concurrency, &w) { $0.int($1) }
            field("ratePerMinute", u.ratePerMinute, &w) { $0.int($1) }
            field("invokeUrl", u.invokeURL, &w) { $0.string($1) }
        }
        return try QueueConfig(wire: try await call(.PUT, "/queues/\(Self.path(name))/config", body)["config"])
    }

    func queueStats() async throws -> [QueueStat] {
        try (try await call(.GET, "/queues"))["queues"]?.arrayValue?.map { try QueueStat(wire: $0) } ?? []
    }

    func queueStat(name: String) async throws -> QueueStat {
        try QueueStat(wire: try await call(.GET, "/queues/\(Self.path(name))")["queue"])
    }

    func setQueuePaused(name: String, paused: Bool) async throws -> QueueStat {
        let action = paused ? "pause" : "resume"
        return try QueueStat(wire: try await call(.POST, "/queues/\(Self.path(name))/\(action)", "{}")["queue"])
    }

    func putSchedule(name: String, _ r: ScheduleRequest) async throws -> Schedule {
        let body = jsonObject { w in
            w.field("cron", r.cron)
            w.field("workflowName", r.workflowName)
            w.field("input", json: r.input ?? .emptyObject)
            w.field("queue", r.queue)
            w.field("maxAttempts", r.maxAttempts)
            w.field("enabled", r.enabled)
        }
        return try Schedule(wire: try await call(.PUT, "/schedules/\(Self.path(name))", body)["schedule"])
    }

    func schedules() async throws -> [Schedule] {
        try (try await call(.GET, "/schedules"))["schedules"]?.arrayValue?.map { try Schedule(wire: $0) } ?? []
    }

    func deleteSchedule(name: String) async throws {
        _ = try await call(.DELETE, "/schedules/\(Self.path(name))")
    }

    func recover(runId: String, reason: String) async throws -> RecoveryAttempt {
        let reply = try await call(.POST, "/runs/\(runId)/recover", jsonObject { $0.field("reason", reason) })
        let o = try WireObject(reply["recoveryAttempt"])
        return RecoveryAttempt(
            id: try o.string("id"), runId: try o.string("runId"), reason: try o.string("reason"),
            webhookURL: try o.string("webhookUrl"), status: try o.string("status"),
            httpStatus: o.optionalInt("httpStatus"),
            responseBody: o.optionalString("responseBody"), errorText: o.optionalString("errorText"),
            createdAt: o.requiredTimestamp("createdAt"), completedAt: o.timestamp("completedAt"))
    }

    func events(runId: String, after: Int64) -> AsyncThrowingStream<RunEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<RunEvent, any Error>.makeStream()
        let url = baseURL + "/runs/\(runId)/events?after=\(after)"
        let apiKey = self.apiKey
        let task = Task {
            do {
                var request = HTTPClientRequest(url: url)
                request.headers.add(name: "accept", value: "text/event-stream")
                if let apiKey { request.headers.add(name: "authorization", value: "Bearer \(apiKey)") }
                let response = try await Self.client.execute(request, timeout: .hours(24 * 365))
                guard response.status == .ok else {
                    throw CairnError.server(status: Int(response.status.code), body: "event stream refused")
                }
                var parser = ServerSentEventParser()
                for try await chunk in response.body {
                    for event in try parser.feed(chunk.readableBytesView) {
                        continuation.yield(try RunEvent(wire: try JSONParser.parse(event.data)))
                    }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
