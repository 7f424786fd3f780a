import CairnCore
import NIOHTTP1

/// The checkpoint protocol over HTTP: SnapState's routes, snake_case JSON and its error
/// envelope `{"error":{"code","message"}}`.
struct HTTPCheckpointTransport: CheckpointTransport {
    let http: HTTPTransport

    /// Sends a request and returns the JSON of a 2xx answer; a refusal becomes the SDK's
    /// error. `subject` is the id a 404 or 409 is about.
    private func call(
        _ method: HTTPMethod, _ path: String, _ body: RawJSON? = nil, headers: [(String, String)] = [],
        subject: String
    ) async throws -> JSONValue {
        let reply = try await http.send(method, path, body, headers: headers)
        guard !(200..<300).contains(reply.status.code) else { return reply.json }
        let parsed = reply.json
        let code = parsed["error"]?["code"]?.stringValue
        let message = parsed["error"]?["message"]?.stringValue ?? reply.text
        switch reply.status.code {
        case 404: throw CairnError.notFound(subject)
        case 409:
            throw CairnError.checkpointConflict(
                checkpointId: parsed["existing"]?["checkpoint_id"]?.stringValue ?? subject,
                currentETag: parsed["existing"]?["etag"]?.stringValue)
        case 400, 413: throw CairnError.invalidRequest(code: code ?? "VALIDATION_ERROR", message: message)
        default: throw CairnError.server(status: Int(reply.status.code), body: reply.text)
        }
    }

    private static func path(_ segment: String) -> String { HTTPTransport.path(segment) }

    func save(_ r: CheckpointService.SaveRequest) async throws -> SavedCheckpoint {
        let body = jsonObject { w in
            w.field("workflow_id", r.workflowId)
            w.field("step", r.step)
            w.field("state", json: r.state)
            if let v = r.label { w.field("label", v) }
            if let v = r.agentId { w.field("agent_id", v) }
            if let v = r.metadata { w.field("metadata", json: .object(v)) }
        }
        var headers: [(String, String)] = []
        if let ttl = r.ttlSeconds { headers.append(("x-checkpoint-ttl", String(ttl))) }
        if let etag = r.ifMatch { headers.append(("if-match", etag)) }
        let reply = try await call(
            .POST, "/checkpoints", body, headers: headers,
            subject: Checkpoint.id(workflowId: r.workflowId, step: r.step))
        let o = try WireObject(reply)
        return SavedCheckpoint(
            id: try o.string("checkpoint_id"), workflowId: try o.string("workflow_id"), step: o.int("step"),
            etag: try o.string("etag"), createdAt: o.requiredTimestamp("created_at"),
            diff: try CheckpointDiff(wire: reply["diff_from_previous"]), sizeBytes: o.int("size_bytes"))
    }

    func checkpoint(id: String) async throws -> WorkflowCheckpoint {
        let reply = try await call(.GET, "/checkpoints/\(Self.path(id))", subject: id)
        var checkpoint = try WorkflowCheckpoint(wire: reply)
        checkpoint.diff = try reply["diff_from_previous"].map { try CheckpointDiff(wire: $0) }
        checkpoint.expiresAt = try WireObject(reply).timestamp("expires_at")
        return checkpoint
    }

    func resume(workflowId: String) async throws -> ResumePoint {
        try Self.resumePoint(
            try await call(.GET, "/workflows/\(Self.path(workflowId))/resume", subject: workflowId))
    }

    /// The resume shape (a resume's answer, and a fork's).
    private static func resumePoint(_ reply: JSONValue) throws -> ResumePoint {
        let o = try WireObject(reply)
        return ResumePoint(
            workflowId: try o.string("workflow_id"), latest: try WorkflowCheckpoint(wire: reply["latest_checkpoint"]),
            totalCheckpoints: o.int("total_checkpoints"), startedAt: o.requiredTimestamp("workflow_started_at"),
            lastActivityAt: o.requiredTimestamp("last_activity_at"))
    }

    func fork(workflowId: String, step: Int, newWorkflowId: String?, ttlSeconds: Int64?) async throws -> ResumePoint {
        let body = jsonObject { w in
            w.field("step", step)
            if let newWorkflowId { w.field("workflow_id", newWorkflowId) }
        }
        let headers = ttlSeconds.map { [("x-checkpoint-ttl", String($0))] } ?? []
        let reply: JSONValue
        do {
            reply = try await call(
                .POST, "/workflows/\(Self.path(workflowId))/fork", body, headers: headers, subject: workflowId)
        } catch CairnError.checkpointConflict {
            // A fork's 409 is its new id in use (it names no checkpoint).
            throw CairnError.workflowExists(newWorkflowId ?? "")
        }
        return try Self.resumePoint(reply)
    }

    func replay(workflowId: String, fromStep: Int?, toStep: Int?, limit: Int) async throws -> ReplayPage {
        var query = ["limit=\(limit)"]
        if let fromStep { query.append("from_step=\(fromStep)") }
        if let toStep { query.append("to_step=\(toStep)") }
        let reply = try await call(
            .GET, "/workflows/\(Self.path(workflowId))/replay?" + query.joined(separator: "&"), subject: workflowId)
        let o = try WireObject(reply)
        return ReplayPage(
            checkpoints: try o.list("checkpoints").map { try WorkflowCheckpoint(wire: $0) },
            hasMore: o.object["has_more"]?.boolValue ?? false)
    }

    func workflows(limit: Int, cursor: String?) async throws -> WorkflowPage {
        var path = "/workflows?limit=\(limit)"
        if let cursor { path += "&cursor=" + HTTPTransport.queryValue(cursor) }
        let reply = try await call(.GET, path, subject: "workflows")
        let o = try WireObject(reply)
        return WorkflowPage(
            workflows: try o.list("workflows").map { item in
                let w = try WireObject(item)
                return WorkflowSummary(
                    workflowId: try w.string("workflow_id"), latestStep: w.int("latest_step"),
                    totalCheckpoints: w.int("total_checkpoints"), totalSizeBytes: w.int("total_size_bytes"),
                    status: WorkflowStatus(rawValue: w.optionalString("status") ?? "") ?? .active,
                    startedAt: w.requiredTimestamp("started_at"),
                    lastActivityAt: w.requiredTimestamp("last_activity_at"),
                    expiresAt: w.requiredTimestamp("expires_at"))
            }, nextCursor: o.optionalString("next_cursor"))
    }

    func upsertAgent(agentId: String, fields: CheckpointService.AgentFields) async throws -> Agent {
        let body = jsonObject { w in
            w.field("agent_id", agentId)
            if let v = fields.name { w.field("name", v) }
            if let v = fields.description { w.field("description", v) }
            w.field("capabilities", raw: fields.capabilities)
            w.field("metadata", raw: fields.metadata)
        }
        return try Agent(wire: try await call(.POST, "/agents", body, subject: agentId))
    }

    func agents() async throws -> [Agent] {
        try WireObject(try await call(.GET, "/agents", subject: "agents")).list("agents").map { try Agent(wire: $0) }
    }

    func agent(id: String) async throws -> Agent {
        try Agent(wire: try await call(.GET, "/agents/\(Self.path(id))", subject: id))
    }

    func updateAgent(id: String, changes: CheckpointService.AgentChanges) async throws -> Agent {
        func field(_ key: String, _ update: FieldUpdate<String>, _ w: inout JSONWriter) {
            switch update {
            case .keep: break
            case .clear: w.key(key); w.null()
            case .set(let v): w.field(key, v)
            }
        }
        let body = jsonObject { w in
            field("name", changes.name, &w)
            field("description", changes.description, &w)
            if let v = changes.capabilities { w.field("capabilities", raw: v) }
            if let v = changes.metadata { w.field("metadata", raw: v) }
        }
        return try Agent(wire: try await call(.PATCH, "/agents/\(Self.path(id))", body, subject: id))
    }

    func deleteAgent(id: String) async throws {
        _ = try await call(.DELETE, "/agents/\(Self.path(id))", subject: id)
    }

    func registerWebhook(url: String, events: [String], secret: String?) async throws -> CheckpointWebhook {
        let body = jsonObject { w in
            w.field("url", url)
            w.key("events"); w.stringArray(events)
            if let secret { w.field("secret", secret) }
        }
        return try CheckpointWebhook(wire: try await call(.POST, "/webhooks", body, subject: url))
    }

    func webhooks() async throws -> [CheckpointWebhook] {
        try WireObject(try await call(.GET, "/webhooks", subject: "webhooks")).list("webhooks").map {
            try CheckpointWebhook(wire: $0)
        }
    }

    func deleteWebhook(id: String) async throws {
        _ = try await call(.DELETE, "/webhooks/\(Self.path(id))", subject: id)
    }
}

extension CheckpointDiff {
    init(wire value: JSONValue?) throws {
        let o = try WireObject(value)
        func paths(_ key: String) -> [String] { o.list(key).compactMap(\.stringValue) }
        self.init(added: paths("added"), removed: paths("removed"), changed: paths("changed"))
    }
}

extension WorkflowCheckpoint {
    /// A checkpoint as get, resume and replay show it.
    init(wire value: JSONValue?) throws {
        let o = try WireObject(value)
        self.init(
            id: try o.string("checkpoint_id"), workflowId: try o.string("workflow_id"), step: o.int("step"),
            label: o.optionalString("label"), state: o.rawOrEmpty("state"), metadata: o.rawOrEmpty("metadata"),
            etag: try o.string("etag"), sizeBytes: o.int("size_bytes"), createdAt: o.requiredTimestamp("created_at"))
    }
}

extension Agent {
    init(wire value: JSONValue?) throws {
        let o = try WireObject(value)
        self.init(
            serial: o.int("id"), tenant: .default, agentId: try o.string("agent_id"), name: o.optionalString("name"),
            description: o.optionalString("description"), capabilities: o.raw("capabilities") ?? "[]",
            metadata: o.rawOrEmpty("metadata"), lastSeenAt: o.timestamp("last_seen_at"),
            createdAt: o.requiredTimestamp("created_at"))
    }
}

extension CheckpointWebhook {
    init(wire value: JSONValue?) throws {
        let o = try WireObject(value)
        self.init(
            id: try o.string("webhook_id"), tenant: .default, url: try o.string("url"),
            events: o.list("events").compactMap(\.stringValue), secret: nil,
            createdAt: o.requiredTimestamp("created_at"))
    }
}
