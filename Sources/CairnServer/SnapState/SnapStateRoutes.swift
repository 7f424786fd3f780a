import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore

/// The checkpoint protocol, wire-compatible with the SnapState server 3.0 and its
/// `snapstate-sdk` 1.0.2 (contracts/snapstate.md §1.5–1.9): decode, call `CheckpointService`,
/// encode. Deliberate differences are listed in docs/compat/snapstate.md.
struct SnapStateRoutes<Context: PrincipalContext>: Sendable {
    let checkpoints: CheckpointService
    let bodyLimit: Int
    /// Nil when rate limiting is off.
    let limiter: SlidingWindowRateLimiter?

    func register(on router: Router<Context>) {
        let group = router.group().add(middleware: SnapStateErrorMiddleware<Context>())
        // Rate limits cover the checkpoint, workflow and webhook routes, as in the reference.
        let limited = limiter.map { group.group().add(middleware: RateLimitMiddleware<Context>(limiter: $0)) } ?? group
        limited.post("/checkpoints", use: save)
        limited.get("/checkpoints/:checkpointId", use: getCheckpoint)
        limited.get("/workflows", use: listWorkflows)
        limited.get("/workflows/:workflowId/resume", use: resume)
        limited.get("/workflows/:workflowId/replay", use: replay)
        limited.post("/workflows/:workflowId/fork", use: fork)
        limited.post("/webhooks", use: registerWebhook)
        limited.get("/webhooks", use: listWebhooks)
        limited.delete("/webhooks/:webhookId", use: deleteWebhook)
        group.post("/agents", use: upsertAgent)
        group.get("/agents", use: listAgents)
        group.get("/agents/:agentId", use: getAgent)
        group.patch("/agents/:agentId", use: updateAgent)
        group.delete("/agents/:agentId", use: deleteAgent)
        group.get("/analytics/overview", use: overview)
        group.get("/analytics/workflows/:workflowId", use: workflowAnalytics)
        group.get("/analytics/failures", use: failures)
        group.get("/analytics/agents", use: agentAnalytics)
    }

    // MARK: Checkpoints

    @Sendable func save(_ request: Request, context: Context) async throws -> Response {
        var request = request
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        body.rejectUnknownFields(allowed: SnapStateFields.save)
        let workflowId = body.requiredString("workflow_id", minLength: 1, maxLength: 128)
        let step = Self.requiredInt(&body, "step", min: 0)
        let state = Self.requiredObject(&body, "state")
        let label = body.string("label", maxLength: 256)
        let agentId = body.string("agent_id", maxLength: 255)
        let metadata = body.object("metadata")
        let ttl = try Self.ttlSeconds(request)
        try body.validate()
        let saved = try await checkpoints.save(
            .init(
                workflowId: workflowId, step: step ?? 0, state: .object(state ?? JSONObject()), label: label,
                agentId: agentId, metadata: metadata, ttlSeconds: ttl, ifMatch: request.headers[.ifMatch]),
            tenant: context.principal.tenant)
        let c = saved.checkpoint
        Counter(label: "cairn_checkpoint_saves_total").increment()
        Counter(label: "cairn_checkpoint_saved_bytes_total").increment(by: c.sizeBytes)
        return JSONResponse.object(.created) { w in
            w.field("checkpoint_id", c.id)
            w.field("workflow_id", c.workflowId)
            w.field("step", c.step)
            w.field("etag", c.etag)
            w.field("created_at", timestamp: c.createdAt)
            w.field("diff_from_previous", raw: c.diff)
            w.field("size_bytes", c.sizeBytes)
        }
    }

    /// `X-Checkpoint-TTL`, when sent: whole seconds within the protocol's bounds.
    static func ttlSeconds(_ request: Request) throws -> Int64? {
        guard let header = request.headers[.checkpointTTL] else { return nil }
        let limit = CheckpointService.Configuration.maxTTLSeconds
        guard let seconds = Int64(header.trimmingCharacters(in: .whitespaces)), seconds > 0, seconds <= limit else {
            throw CheckpointError.invalid("X-Checkpoint-TTL must be a whole number of seconds from 1 to \(limit)")
        }
        return seconds
    }

    @Sendable func getCheckpoint(_ request: Request, context: Context) async throws -> Response {
        let id = try request.pathParameter("checkpointId", context)
        let (c, expiresAt) = try await checkpoints.checkpoint(id: id, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.field("checkpoint_id", c.id)
            w.field("workflow_id", c.workflowId)
            w.field("step", c.step)
            w.field("label", c.label)
            w.field("state", raw: c.state)
            w.field("metadata", raw: c.metadata)
            w.field("etag", c.etag)
            w.field("created_at", timestamp: c.createdAt)
            w.field("expires_at", timestamp: expiresAt)
            w.field("diff_from_previous", raw: c.diff)
            w.field("size_bytes", c.sizeBytes)
        }
    }

    /// A checkpoint as resume and replay list it: the reference's six keys plus
    /// `workflow_id`, `etag` and `size_bytes`, which the SDKs read when present.
    static func listedCheckpoint(_ w: inout JSONWriter, _ c: Checkpoint) {
        w.beginObjectValue()
        w.field("checkpoint_id", c.id)
        w.field("workflow_id", c.workflowId)
        w.field("step", c.step)
        w.field("label", c.label.flatMap { $0.isEmpty ? nil : $0 })
        w.field("state", raw: c.state)
        w.field("metadata", raw: c.metadata ?? "{}")
        w.field("etag", c.etag)
        w.field("size_bytes", c.sizeBytes)
        w.field("created_at", timestamp: c.createdAt)
        w.endObject()
    }

    // MARK: Workflows

    @Sendable func resume(_ request: Request, context: Context) async throws -> Response {
        let workflowId = try request.pathParameter("workflowId", context)
        let (workflow, latest) = try await checkpoints.resume(workflowId: workflowId, tenant: context.principal.tenant)
        return JSONResponse.object { w in Self.resumeFields(&w, workflow, latest) }
    }

    static func resumeFields(_ w: inout JSONWriter, _ workflow: CheckpointWorkflow, _ latest: Checkpoint) {
        w.field("workflow_id", workflow.workflowId)
        w.key("latest_checkpoint")
        listedCheckpoint(&w, latest)
        w.field("total_checkpoints", workflow.totalCheckpoints)
        w.field("workflow_started_at", timestamp: workflow.startedAt)
        w.field("last_activity_at", timestamp: workflow.lastActivityAt)
    }

    /// `POST /workflows/:id/fork` with `{"step", "workflow_id"?}` (a Cairn extension): a new
    /// workflow whose history is this one's up to its save of `step`, read through, not copied.
    /// Answers like resume of the new workflow, with `forked_from`, `etag` and `expires_at`.
    @Sendable func fork(_ request: Request, context: Context) async throws -> Response {
        let workflowId = try request.pathParameter("workflowId", context)
        var request = request
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        body.rejectUnknownFields(allowed: SnapStateFields.fork)
        let step = Self.requiredInt(&body, "step", min: 0)
        let newWorkflowId = body.string("workflow_id", minLength: 1, maxLength: 128)
        let ttl = try Self.ttlSeconds(request)
        try body.validate()
        let forked = try await checkpoints.forkWorkflow(
            id: workflowId, atStep: step ?? 0, newWorkflowId: newWorkflowId, ttlSeconds: ttl,
            tenant: context.principal.tenant)
        Counter(label: "cairn_checkpoint_forks_total").increment()
        var response = JSONResponse.object(.created) { w in
            Self.resumeFields(&w, forked.workflow, forked.latest)
            w.key("forked_from"); w.checkpointFork(forked.fork)
            w.field("etag", forked.latest.etag)
            w.field("expires_at", timestamp: forked.workflow.expiresAt)
        }
        response.headers[.eTag] = forked.latest.etag
        return response
    }

    /// `GET /workflows?limit=&cursor=`: the tenant's live workflows, most recently active
    /// first (a Cairn extension).
    @Sendable func listWorkflows(_ request: Request, context: Context) async throws -> Response {
        var query = QueryReader(request, allowed: ["limit", "cursor"])
        let limit = query.int("limit", min: 1, max: 1000) ?? 100
        var cursor: ListCursor?
        if let text = query.string("cursor") {
            cursor = ListCursor(text: text)
            if cursor == nil { throw CheckpointError.invalid("cursor: not a cursor this server gave (next_cursor)") }
        }
        try query.validate()
        let page = try await checkpoints.workflows(tenant: context.principal.tenant, limit: limit, after: cursor)
        return JSONResponse.object { w in
            w.array("workflows", page.workflows) { w, h in
                w.beginObjectValue()
                w.field("workflow_id", h.workflowId)
                w.field("latest_step", h.latestStep)
                w.field("total_checkpoints", h.totalCheckpoints)
                w.field("total_size_bytes", h.totalSizeBytes)
                w.field("status", h.status.rawValue)
                w.field("started_at", timestamp: h.startedAt)
                w.field("last_activity_at", timestamp: h.lastActivityAt)
                w.field("expires_at", timestamp: h.expiresAt)
                w.endObject()
            }
            w.field("next_cursor", page.next?.text)
        }
    }

    @Sendable func replay(_ request: Request, context: Context) async throws -> Response {
        let workflowId = try request.pathParameter("workflowId", context)
        var query = QueryReader(request, allowed: ["from_step", "to_step", "limit"])
        let fromStep = query.int("from_step", min: 0)
        let toStep = query.int("to_step", min: 0)
        let limit = query.int("limit", min: 1, max: 1000) ?? 100
        try query.validate()
        let page = try await checkpoints.replay(
            workflowId: workflowId, fromStep: fromStep, toStep: toStep, limit: limit, tenant: context.principal.tenant)
        // Each listed checkpoint is its state and metadata plus about 300 bytes of fields.
        let expectedSize = page.checkpoints.reduce(256) {
            $0 + $1.state.utf8.count + ($1.metadata?.utf8.count ?? 2) + 300
        }
        return JSONResponse.object(capacity: expectedSize) { w in
            w.field("workflow_id", workflowId)
            w.array("checkpoints", page.checkpoints) { w, c in Self.listedCheckpoint(&w, c) }
            w.field("total", page.checkpoints.count)
            w.field("has_more", page.hasMore)
        }
    }

    // MARK: Webhooks

    @Sendable func registerWebhook(_ request: Request, context: Context) async throws -> Response {
        var request = request
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        body.rejectUnknownFields(allowed: SnapStateFields.webhook)
        let url = body.requiredString("url", minLength: 1, maxLength: 2048)
        if !url.isEmpty, !BodyReader.isHTTPURL(url) { body.fail("url", "expected an absolute http(s) URL") }
        var events: [String] = []
        let allowed = CheckpointEvent.allCases.map(\.rawValue)
        if let list = body.array("events") {
            if list.isEmpty { body.fail("events", "must name at least one event") }
            for item in list {
                guard let name = item.stringValue, allowed.contains(name) else {
                    body.fail("events", "each event must be one of \(allowed.joined(separator: ", "))")
                    break
                }
                events.append(name)
            }
        } else if body.object["events"] == nil || body.object["events"]?.isNull == true {
            body.fail("events", "required")
        }
        let secret = body.string("secret", maxLength: 256)
        try body.validate()
        let hook = try await checkpoints.registerWebhook(
            url: url, events: events, secret: secret, tenant: context.principal.tenant)
        return JSONResponse.object(.created) { w in Self.webhookFields(&w, hook) }
    }

    static func webhookFields(_ w: inout JSONWriter, _ hook: CheckpointWebhook) {
        w.field("webhook_id", hook.id)
        w.field("url", hook.url)
        w.key("events"); w.stringArray(hook.events)
        w.field("created_at", timestamp: hook.createdAt)
    }

    @Sendable func listWebhooks(_ request: Request, context: Context) async throws -> Response {
        let hooks = try await checkpoints.webhooks(tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.array("webhooks", hooks) { w, hook in
                w.beginObjectValue()
                Self.webhookFields(&w, hook)
                w.endObject()
            }
        }
    }

    @Sendable func deleteWebhook(_ request: Request, context: Context) async throws -> Response {
        let id = try request.pathParameter("webhookId", context)
        try await checkpoints.deleteWebhook(id: id, tenant: context.principal.tenant)
        return Response(status: .noContent)
    }

    // MARK: Agents

    @Sendable func upsertAgent(_ request: Request, context: Context) async throws -> Response {
        var request = request
        var body = try await BodyReader.read(&request, limit: bodyLimit, allowEmpty: true)
        body.rejectUnknownFields(allowed: SnapStateFields.agent)
        let agentId = body.requiredString("agent_id", minLength: 1)
        if !agentId.isEmpty, !Self.isValidAgentId(agentId) {
            body.fail("agent_id", "agent_id must be 1–255 alphanumeric characters, underscores, or hyphens")
        }
        let name = body.string("name").map(Self.cleanName)
        let description = body.string("description")
        let capabilities = Self.capabilities(&body)
        let metadata = body.object("metadata")
        try body.validate()
        let agent = try await checkpoints.upsertAgent(
            agentId: agentId,
            fields: .init(
                name: name, description: description, capabilities: capabilities ?? "[]",
                metadata: metadata.map { JSONValue.object($0).jsonText } ?? "{}"),
            tenant: context.principal.tenant)
        return JSONResponse.make(.created, Self.agentJSON(agent))
    }

    @Sendable func listAgents(_ request: Request, context: Context) async throws -> Response {
        let agents = try await checkpoints.agents(tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("agents")
            w.beginArrayValue()
            for agent in agents { w.raw(Self.agentJSON(agent)) }
            w.endArray()
        }
    }

    @Sendable func getAgent(_ request: Request, context: Context) async throws -> Response {
        let agentId = try request.pathParameter("agentId", context)
        return JSONResponse.make(
            .ok, Self.agentJSON(try await checkpoints.agent(agentId: agentId, tenant: context.principal.tenant)))
    }

    @Sendable func updateAgent(_ request: Request, context: Context) async throws -> Response {
        let agentId = try request.pathParameter("agentId", context)
        var request = request
        var body = try await BodyReader.read(&request, limit: bodyLimit, allowEmpty: true)
        body.rejectUnknownFields(allowed: SnapStateFields.agent.subtracting(["agent_id"]))
        var changes = CheckpointService.AgentChanges()
        if let value = body.any("name") {
            changes.name = value.isNull ? .clear : body.string("name").map { .set(Self.cleanName($0)) } ?? .keep
        }
        if let value = body.any("description") {
            changes.description = value.isNull ? .clear : body.string("description").map { .set($0) } ?? .keep
        }
        if body.any("capabilities") != nil { changes.capabilities = Self.capabilities(&body) ?? "[]" }
        if body.any("metadata") != nil {
            changes.metadata = body.object("metadata").map { JSONValue.object($0).jsonText } ?? "{}"
        }
        try body.validate()
        let agent = try await checkpoints.updateAgent(
            agentId: agentId, changes: changes, tenant: context.principal.tenant)
        return JSONResponse.make(.ok, Self.agentJSON(agent))
    }

    @Sendable func deleteAgent(_ request: Request, context: Context) async throws -> Response {
        let agentId = try request.pathParameter("agentId", context)
        try await checkpoints.deleteAgent(agentId: agentId, tenant: context.principal.tenant)
        return Response(status: .noContent)
    }

    static func agentJSON(_ a: Agent) -> RawJSON {
        jsonObject { w in
            w.field("id", a.serial)
            w.field("agent_id", a.agentId)
            w.field("name", a.name)
            w.field("description", a.description)
            w.field("capabilities", raw: a.capabilities)
            w.field("metadata", raw: a.metadata)
            w.field("last_seen_at", timestamp: a.lastSeenAt)
            w.field("created_at", timestamp: a.createdAt)
        }
    }

    static func isValidAgentId(_ id: String) -> Bool {
        id.utf8.count <= 255
            && id.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-")
            }
    }

    /// Control characters stripped, trimmed, at most 255 characters (as the reference does).
    static func cleanName(_ name: String) -> String {
        let kept = String(
            String.UnicodeScalarView(name.unicodeScalars.filter { $0.properties.generalCategory != .control }))
        return String(kept.trimmingCharacters(in: .whitespacesAndNewlines).prefix(255))
    }

    /// `capabilities` as a JSON array of strings.
    static func capabilities(_ body: inout BodyReader) -> RawJSON? {
        guard let list = body.array("capabilities") else { return nil }
        guard list.allSatisfy({ $0.stringValue != nil }) else {
            body.fail("capabilities", "expected an array of strings")
            return nil
        }
        return JSONValue.array(list).jsonText
    }

    // MARK: Analytics

    @Sendable func overview(_ request: Request, context: Context) async throws -> Response {
        var query = QueryReader(request, allowed: ["start_date", "end_date"])
        let (from, to) = Self.period(&query, now: checkpoints.clock.now())
        try query.validate()
        let (totals, top) = try await checkpoints.overview(from: from, to: to, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.object("period") { w in
                w.field("start", timestamp: from)
                w.field("end", timestamp: to)
            }
            w.field("total_workflows", totals.workflows)
            w.field("completed_workflows", totals.completed)
            w.field("failed_workflows", totals.failed)
            w.field("active_workflows", totals.active)
            w.field("total_checkpoints", totals.checkpoints)
            w.key("avg_steps_per_workflow"); w.double(Self.round2(totals.averageSteps))
            w.key("avg_workflow_duration_seconds"); w.double(Self.round2(totals.averageDurationSeconds))
            w.array("top_agents", top) { w, a in
                w.beginObjectValue()
                w.field("agent_id", a.agentId)
                w.field("workflows", a.workflows)
                w.key("avg_steps"); w.double(Self.round2(a.averageSteps))
                w.endObject()
            }
        }
    }

    @Sendable func workflowAnalytics(_ request: Request, context: Context) async throws -> Response {
        let workflowId = try request.pathParameter("workflowId", context)
        let t = try await checkpoints.timeline(workflowId: workflowId, tenant: context.principal.tenant)
        let wf = t.workflow
        return JSONResponse.object { w in
            w.field("workflow_id", wf.workflowId)
            w.field("total_steps", wf.totalCheckpoints)
            w.field("total_size_bytes", wf.totalSizeBytes)
            w.key("duration_seconds")
            w.double(Self.round2(Double(wf.lastActivityAt.milliseconds - wf.startedAt.milliseconds) / 1000))
            w.field("status", wf.status.rawValue)
            w.key("agents_involved"); w.stringArray(t.agents)
            var previous: Timestamp?
            w.array("checkpoints", t.checkpoints) { w, c in
                w.beginObjectValue()
                w.field("step", c.step)
                w.field("label", c.label)
                w.field("size_bytes", c.sizeBytes)
                w.field("time_since_previous_ms", previous.map { Int(c.createdAt.milliseconds - $0.milliseconds) })
                w.field("agent_id", c.agentId)
                w.field("created_at", timestamp: c.createdAt)
                w.endObject()
                previous = c.createdAt
            }
            w.field("resumed", wf.resumed)
            w.field("error_count", wf.errorCount)
            w.field("first_checkpoint_at", timestamp: wf.startedAt)
            w.field("last_checkpoint_at", timestamp: wf.lastActivityAt)
        }
    }

    @Sendable func failures(_ request: Request, context: Context) async throws -> Response {
        var query = QueryReader(request, allowed: ["days", "agent_id"])
        let days = min(max(query.int("days") ?? 7, 1), 90)
        let agentId = query.string("agent_id")
        try query.validate()
        let since = checkpoints.clock.now().adding(milliseconds: -Int64(days) * 86_400_000)
        let report = try await checkpoints.failures(since: since, agentId: agentId, tenant: context.principal.tenant)
        let rates = Dictionary(report.agentActivity.map { ($0.agentId, $0.errorRate) }, uniquingKeysWith: { a, _ in a })
        return JSONResponse.object { w in
            w.field("period_days", days)
            w.field("total_failures", report.counts.total)
            w.array("failure_by_step", report.counts.byStep) { w, s in
                w.beginObjectValue()
                w.field("step", s.step)
                w.field("count", s.count)
                w.endObject()
            }
            w.array("failure_by_agent", report.counts.byAgent) { w, a in
                w.beginObjectValue()
                w.field("agent_id", a.agentId)
                w.field("count", a.count)
                w.key("error_rate"); w.double(rates[a.agentId] ?? 0)
                w.endObject()
            }
            w.array("recent_failures", report.recent) { w, c in
                w.beginObjectValue()
                w.field("workflow_id", c.workflowId)
                w.field("step", c.step)
                w.field("agent_id", c.agentId)
                w.field("error_type", c.errorType)
                w.field("error_message", c.errorMessage)
                w.field("created_at", timestamp: c.createdAt)
                w.endObject()
            }
        }
    }

    @Sendable func agentAnalytics(_ request: Request, context: Context) async throws -> Response {
        var query = QueryReader(request, allowed: ["start_date", "end_date"])
        let (from, to) = Self.period(&query, now: checkpoints.clock.now())
        try query.validate()
        let rows = try await checkpoints.agentReport(from: from, to: to, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.array("agents", rows) { w, row in
                let a = row.activity
                w.beginObjectValue()
                w.field("agent_id", row.agentId)
                w.field("name", row.agent?.name ?? row.agentId)
                w.field("total_workflows", a?.workflows ?? 0)
                w.field("active_workflows", a?.activeWorkflows ?? 0)
                w.key("avg_steps"); w.double(Self.round2(a?.averageSteps ?? 0))
                w.key("avg_duration_seconds"); w.double(Self.round2(a?.averageDurationSeconds ?? 0))
                w.field("total_checkpoints", a?.checkpoints ?? 0)
                w.key("error_rate"); w.double(a?.errorRate ?? 0)
                w.field("last_seen_at", timestamp: row.agent?.lastSeenAt)
                w.endObject()
            }
        }
    }

    /// `start_date` (default: 30 days ago, at midnight UTC) and `end_date` (default: now); a
    /// date alone means its midnight UTC.
    static func period(_ query: inout QueryReader, now: Timestamp) -> (Timestamp, Timestamp) {
        let monthAgo = now.adding(milliseconds: -30 * 86_400_000)
        let start = query.date("start_date") ?? monthAgo.adding(milliseconds: -(monthAgo.milliseconds % 86_400_000))
        let end = query.date("end_date") ?? now
        return (start, end)
    }

    static func round2(_ x: Double) -> Double { (x * 100).rounded() / 100 }

    // MARK: Body helpers

    static func requiredInt(_ body: inout BodyReader, _ key: String, min: Int) -> Int? {
        guard let value = body.any(key), !value.isNull else {
            body.fail(key, "required")
            return nil
        }
        guard case .number = value, value.intValue != nil else {
            body.fail(key, "expected an integer")
            return nil
        }
        return body.int(key, min: min)
    }

    static func requiredObject(_ body: inout BodyReader, _ key: String) -> JSONObject? {
        guard let value = body.any(key), !value.isNull else {
            body.fail(key, "required")
            return nil
        }
        return body.object(key)
    }
}

/// The keys each body may carry (the reference's schemas are closed).
enum SnapStateFields {
    static let save: Set<String> = ["workflow_id", "step", "state", "label", "agent_id", "metadata"]
    static let fork: Set<String> = ["step", "workflow_id"]
    static let webhook: Set<String> = ["url", "events", "secret"]
    static let agent: Set<String> = ["agent_id", "name", "description", "capabilities", "metadata"]
}

/// Reads a closed set of query parameters, collecting every problem for one 400.
struct QueryReader {
    let parameters: [String: String]
    private(set) var issues: [ValidationIssue] = []

    init(_ request: Request, allowed: Set<String>) {
        var parameters: [String: String] = [:]
        var issues: [ValidationIssue] = []
        for (key, value) in request.uri.queryParameters {
            let name = String(key)
            if !allowed.contains(name) {
                issues.append(ValidationIssue(path: [name], message: "unknown query parameter"))
            }
            parameters[name] = String(value)
        }
        self.parameters = parameters
        self.issues = issues
    }

    /// An integer within `min...max`, each defaulting to ±`BodyReader.maxMagnitude`.
    mutating func int(_ key: String, min: Int? = nil, max: Int? = nil) -> Int? {
        guard let text = parameters[key] else { return nil }
        guard let value = Int(text) else {
            issues.append(ValidationIssue(path: [key], message: "must be an integer"))
            return nil
        }
        let lower = min ?? -BodyReader.maxMagnitude
        let upper = max ?? BodyReader.maxMagnitude
        if value < lower {
            issues.append(ValidationIssue(path: [key], message: "must be >= \(lower)"))
            return nil
        }
        if value > upper {
            issues.append(ValidationIssue(path: [key], message: "must be <= \(upper)"))
            return nil
        }
        return value
    }

    func string(_ key: String) -> String? { parameters[key] }

    /// `YYYY-MM-DD` (midnight UTC) or an ISO 8601 date-time.
    mutating func date(_ key: String) -> Timestamp? {
        guard let text = parameters[key] else { return nil }
        if let t = Timestamp(iso8601: text) ?? Timestamp(iso8601: text + "T00:00:00Z") { return t }
        issues.append(ValidationIssue(path: [key], message: "must be a date (YYYY-MM-DD) or an ISO 8601 date-time"))
        return nil
    }

    func validate() throws { if !issues.isEmpty { throw APIError.invalidBody(issues) } }
}
