import CairnCore

/// The checkpoint domain in-process, on the embedded store: the server's `CheckpointService`
/// with no HTTP in between.
struct EmbeddedCheckpointTransport: CheckpointTransport {
    let checkpoints: CheckpointService
    let tenant = TenantID.default

    func save(_ request: CheckpointService.SaveRequest) async throws -> SavedCheckpoint {
        let saved: CheckpointService.SavedCheckpoint
        do {
            saved = try await checkpoints.save(request, tenant: tenant)
        } catch CheckpointError.etagMismatch {
            throw CairnError.checkpointConflict(
                checkpointId: Checkpoint.id(workflowId: request.workflowId, step: request.step), currentETag: nil)
        } catch let error as CheckpointError {
            throw CairnError(error)
        }
        let c = saved.checkpoint
        return SavedCheckpoint(
            id: c.id, workflowId: c.workflowId, step: c.step, etag: c.etag, createdAt: c.createdAt,
            diff: try CheckpointDiff(wire: try JSONParser.parse(c.diff)), sizeBytes: c.sizeBytes)
    }

    func checkpoint(id: String) async throws -> WorkflowCheckpoint {
        let (c, expiresAt) = try await mapped { try await checkpoints.checkpoint(id: id, tenant: tenant) }
        var checkpoint = WorkflowCheckpoint(c)
        checkpoint.diff = try CheckpointDiff(wire: try JSONParser.parse(c.diff))
        checkpoint.expiresAt = expiresAt
        return checkpoint
    }

    func resume(workflowId: String) async throws -> ResumePoint {
        let (workflow, latest) = try await mapped {
            try await checkpoints.resume(workflowId: workflowId, tenant: tenant)
        }
        return ResumePoint(
            workflowId: workflow.workflowId, latest: WorkflowCheckpoint(latest),
            totalCheckpoints: workflow.totalCheckpoints, startedAt: workflow.startedAt,
            lastActivityAt: workflow.lastActivityAt)
    }

    func fork(workflowId: String, step: Int, newWorkflowId: String?, ttlSeconds: Int64?) async throws -> ResumePoint {
        let forked = try await mapped {
            try await checkpoints.forkWorkflow(
                id: workflowId, atStep: step, newWorkflowId: newWorkflowId, ttlSeconds: ttlSeconds, tenant: tenant)
        }
        return ResumePoint(
            workflowId: forked.workflow.workflowId, latest: WorkflowCheckpoint(forked.latest),
            totalCheckpoints: forked.workflow.totalCheckpoints, startedAt: forked.workflow.startedAt,
            lastActivityAt: forked.workflow.lastActivityAt)
    }

    func replay(workflowId: String, fromStep: Int?, toStep: Int?, limit: Int) async throws -> ReplayPage {
        // The server's bounds on these parameters, so both transports refuse the same input.
        guard (1...1000).contains(limit) else { throw CairnError(CheckpointError.invalid("limit must be 1...1000")) }
        guard (fromStep ?? 0) >= 0, (toStep ?? 0) >= 0 else {
            throw CairnError(CheckpointError.invalid("from_step and to_step must be >= 0"))
        }
        let page = try await mapped {
            try await checkpoints.replay(
                workflowId: workflowId, fromStep: fromStep, toStep: toStep, limit: limit, tenant: tenant)
        }
        return ReplayPage(checkpoints: page.checkpoints.map { WorkflowCheckpoint($0) }, hasMore: page.hasMore)
    }

    func workflows(limit: Int, cursor: String?) async throws -> WorkflowPage {
        var after: ListCursor?
        if let cursor {
            guard let parsed = ListCursor(text: cursor) else {
                throw CairnError(CheckpointError.invalid("cursor: not a cursor this store gave (nextCursor)"))
            }
            after = parsed
        }
        let page = try await mapped { try await checkpoints.workflows(tenant: tenant, limit: limit, after: after) }
        return WorkflowPage(
            workflows: page.workflows.map { h in
                WorkflowSummary(
                    workflowId: h.workflowId, latestStep: h.latestStep, totalCheckpoints: h.totalCheckpoints,
                    totalSizeBytes: h.totalSizeBytes, status: h.status, startedAt: h.startedAt,
                    lastActivityAt: h.lastActivityAt, expiresAt: h.expiresAt)
            }, nextCursor: page.next?.text)
    }

    func upsertAgent(agentId: String, fields: CheckpointService.AgentFields) async throws -> Agent {
        try await mapped { try await checkpoints.upsertAgent(agentId: agentId, fields: fields, tenant: tenant) }
    }

    func agents() async throws -> [Agent] { try await mapped { try await checkpoints.agents(tenant: tenant) } }

    func agent(id: String) async throws -> Agent {
        try await mapped { try await checkpoints.agent(agentId: id, tenant: tenant) }
    }

    func updateAgent(id: String, changes: CheckpointService.AgentChanges) async throws -> Agent {
        try await mapped { try await checkpoints.updateAgent(agentId: id, changes: changes, tenant: tenant) }
    }

    func deleteAgent(id: String) async throws {
        try await mapped { try await checkpoints.deleteAgent(agentId: id, tenant: tenant) }
    }

    /// Embedded mode makes no outbound calls: a webhook registered here would never be sent.
    func registerWebhook(url: String, events: [String], secret: String?) async throws -> CheckpointWebhook {
        throw CairnError.server(status: 501, body: "webhooks need a server; embedded mode sends none")
    }

    func webhooks() async throws -> [CheckpointWebhook] {
        try await mapped { try await checkpoints.webhooks(tenant: tenant) }.map { hook in
            var shown = hook
            shown.secret = nil
            return shown
        }
    }

    func deleteWebhook(id: String) async throws {
        try await mapped { try await checkpoints.deleteWebhook(id: id, tenant: tenant) }
    }

    /// Core refusals become the SDK's typed errors, as the HTTP transport's statuses do.
    private func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as CheckpointError {
            throw CairnError(error)
        }
    }
}

extension WorkflowCheckpoint {
    /// A stored checkpoint as resume and replay show it (no diff, no expiry).
    init(_ c: Checkpoint) {
        self.init(
            id: c.id, workflowId: c.workflowId, step: c.step, label: c.label.flatMap { $0.isEmpty ? nil : $0 },
            state: c.state, metadata: c.metadata ?? "{}", etag: c.etag, sizeBytes: c.sizeBytes,
            createdAt: c.createdAt)
    }
}
