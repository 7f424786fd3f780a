import CairnCore

extension SQLRunTransaction {
    private static var workflowColumns: String {
        """
        tenant_id, workflow_id, latest_step, total_checkpoints, total_size_bytes, error_count, status, resumed, \
        started_at, last_activity_at, expires_at, unordered_from
        """
    }

    /// The head's columns of `table` (a name or an alias) and whether the workflow is a fork,
    /// as `decodeWorkflow` reads them.
    private static func workflowSelect(_ table: String) -> String {
        prefixed(workflowColumns, table)
            + ", EXISTS (SELECT 1 FROM checkpoint_forks f WHERE f.tenant_id = \(table).tenant_id "
            + "AND f.workflow_id = \(table).workflow_id)"
    }

    private static func decodeWorkflow<R: SQLRow>(_ r: inout R) -> CheckpointWorkflow {
        CheckpointWorkflow(
            tenant: TenantID(rawValue: r.string()), workflowId: r.string(), latestStep: r.int(),
            totalCheckpoints: r.int(), totalSizeBytes: r.int(), errorCount: r.int(),
            status: WorkflowStatus(rawValue: r.string()) ?? .active, resumed: r.bool(), startedAt: r.timestamp(),
            lastActivityAt: r.timestamp(), expiresAt: r.timestamp(), unorderedFrom: r.optionalInt(), isFork: r.bool())
    }

    private static var checkpointColumns: String {
        """
        tenant_id, workflow_id, step, sequence, label, state_json, metadata_json, agent_id, etag, diff_json, \
        size_bytes, error_type, error_message, created_at
        """
    }

    private static func decodeCheckpoint<R: SQLRow>(_ r: inout R) -> Checkpoint {
        Checkpoint(
            tenant: TenantID(rawValue: r.string()), workflowId: r.string(), step: r.int(), sequence: r.int(),
            label: r.optionalString(), state: r.string(), metadata: r.optionalString(), agentId: r.optionalString(),
            etag: r.string(), diff: r.string(), sizeBytes: r.int(), errorType: r.optionalString(),
            errorMessage: r.optionalString(), createdAt: r.timestamp())
    }

    private static var agentColumns: String {
        """
        serial, tenant_id, agent_id, name, description, capabilities_json, metadata_json, last_seen_at, created_at
        """
    }

    private static func decodeAgent<R: SQLRow>(_ r: inout R) -> Agent {
        Agent(
            serial: r.int(), tenant: TenantID(rawValue: r.string()), agentId: r.string(), name: r.optionalString(),
            description: r.optionalString(), capabilities: r.string(), metadata: r.string(),
            lastSeenAt: r.optionalTimestamp(), createdAt: r.timestamp())
    }

    // MARK: Reads

    func checkpointWorkflow(tenant: TenantID, workflowId: String) async throws -> CheckpointWorkflow? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: Self.workflowSelect("w")) FROM checkpoint_workflows w \
            WHERE tenant_id = \(tenant.rawValue) AND workflow_id = \(workflowId)
            """, Self.decodeWorkflow)
    }

    func checkpointWorkflowForUpdate(tenant: TenantID, workflowId: String) async throws -> CheckpointWorkflow? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: Self.workflowSelect("w")) FROM checkpoint_workflows w \
            WHERE tenant_id = \(tenant.rawValue) AND workflow_id = \(workflowId)\(SQL.Hook.forUpdate)
            """, Self.decodeWorkflow)
    }

    func checkpointWorkflows(tenant: TenantID, now: Timestamp, after: ListCursor?, limit: Int) async throws
        -> [CheckpointWorkflow]
    {
        var sql: SQL = """
            SELECT \(unsafeRaw: Self.workflowSelect("w")) FROM checkpoint_workflows w \
            WHERE tenant_id = \(tenant.rawValue) AND expires_at > \(now)
            """
        if let after {
            sql =
                sql
                    + """
                     AND (last_activity_at < \(after.createdAt) \
                    OR (last_activity_at = \(after.createdAt) AND workflow_id < \(after.id)))
                    """
        }
        return try await connection.all(
            sql + " ORDER BY last_activity_at DESC, workflow_id DESC LIMIT \(limit)", Self.decodeWorkflow)
    }

    func checkpoint(tenant: TenantID, workflowId: String, step: Int) async throws -> Checkpoint? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: Self.checkpointColumns) FROM checkpoints \
            WHERE tenant_id = \(tenant.rawValue) AND workflow_id = \(workflowId) AND step = \(step)
            """, Self.decodeCheckpoint)
    }

    func checkpoints(
        tenant: TenantID, segments: [CheckpointSegment], fromStep: Int?, toStep: Int?, limit: Int, stepsAscend: Bool
    ) async throws -> [Checkpoint] {
        // One ordered, limited scan per segment, merged: a page costs the same whatever the
        // segments hold. When the steps ascend, the scan follows the step key from the first
        // step wanted, so a page from a later step skips the saves before it; otherwise it
        // follows the sequence and filters by step.
        var sql: SQL = ""
        for (index, segment) in segments.enumerated() {
            if index > 0 { sql = sql + " UNION ALL " }
            var range: SQL = """
                tenant_id = \(tenant.rawValue) AND workflow_id = \(segment.workflowId) \
                AND sequence > \(segment.after) AND sequence <= \(segment.through)
                """
            if stepsAscend {
                range =
                    range
                        + """
                         AND step >= \(max(fromStep ?? 0, segment.firstStep)) \
                        AND step <= \(min(toStep ?? Int.max, segment.lastStep)) ORDER BY step
                        """
            } else {
                range = range + " AND step >= \(fromStep ?? 0) AND step <= \(toStep ?? Int.max) ORDER BY sequence"
            }
            sql =
                sql
                    + """
                    SELECT * FROM (SELECT \(unsafeRaw: Self.checkpointColumns) FROM checkpoints \
                    WHERE \(range) LIMIT \(limit)) s\(unsafeRaw: String(index))
                    """
        }
        guard !segments.isEmpty else { return [] }
        return try await connection.all(sql + " ORDER BY sequence LIMIT \(limit)", Self.decodeCheckpoint)
    }

    func checkpointRunningTotals(tenant: TenantID, workflowId: String, step: Int) async throws
        -> CheckpointRunningTotals?
    {
        guard
            let (sizeBytes, errorCount, sequence) = try await connection.first(
                """
                SELECT running_size_bytes, running_error_count, sequence FROM checkpoints \
                WHERE tenant_id = \(tenant.rawValue) AND workflow_id = \(workflowId) AND step = \(step)
                """, { r in (r.optionalInt(), r.optionalInt(), r.int()) })
        else { return nil }
        if let sizeBytes, let errorCount {
            return CheckpointRunningTotals(sizeBytes: sizeBytes, errorCount: errorCount)
        }
        // Saved before the totals were recorded (migration 15): sum them.
        return try await connection.first(
            """
            SELECT COALESCE(SUM(size_bytes), 0), COALESCE(SUM(CASE WHEN error_type IS NULL THEN 0 ELSE 1 END), 0) \
            FROM checkpoints WHERE tenant_id = \(tenant.rawValue) AND workflow_id = \(workflowId) \
            AND sequence <= \(sequence)
            """
        ) { r in CheckpointRunningTotals(sizeBytes: r.int(), errorCount: r.int()) }
    }

    func segmentAgents(tenant: TenantID, segments: [CheckpointSegment]) async throws -> [String] {
        guard !segments.isEmpty else { return [] }
        var inSegments: SQL = ""
        for (index, segment) in segments.enumerated() {
            inSegments =
                inSegments + (index > 0 ? " OR " : "")
                    + """
                    (workflow_id = \(segment.workflowId) AND sequence > \(segment.after) \
                    AND sequence <= \(segment.through))
                    """
        }
        return try await connection.all(
            """
            SELECT agent_id FROM (SELECT agent_id, MIN(sequence) AS first_sequence FROM checkpoints \
            WHERE tenant_id = \(tenant.rawValue) AND agent_id IS NOT NULL AND (\(inSegments)) \
            GROUP BY agent_id) a ORDER BY first_sequence, agent_id
            """
        ) { $0.string() }
    }

    func resumePoint(tenant: TenantID, workflowId: String, webhookEvent: CheckpointEvent) async throws
        -> (workflow: CheckpointWorkflow, latest: Checkpoint, webhookSubscribed: Bool)?
    {
        // Events are stored as a JSON array of plain strings, so a subscription is the quoted
        // name inside it; the names hold no LIKE wildcards.
        let quoted = "%\"" + webhookEvent.rawValue + "\"%"
        return try await connection.first(
            """
            SELECT \(unsafeRaw: Self.workflowSelect("w")), \
            \(unsafeRaw: Self.prefixed(Self.checkpointColumns, "c")), \
            EXISTS (SELECT 1 FROM checkpoint_webhooks h WHERE h.tenant_id = w.tenant_id AND h.events_json LIKE \(quoted)) \
            FROM checkpoint_workflows w JOIN checkpoints c ON c.tenant_id = w.tenant_id \
            AND c.workflow_id = w.workflow_id AND c.step = w.latest_step \
            WHERE w.tenant_id = \(tenant.rawValue) AND w.workflow_id = \(workflowId)
            """
        ) { r in (Self.decodeWorkflow(&r), Self.decodeCheckpoint(&r), r.bool()) }
    }

    /// `a, b` as `t.a, t.b`, for a join.
    private static func prefixed(_ columns: String, _ table: String) -> String {
        columns.split(separator: ",").map { table + "." + $0.filter { !$0.isWhitespace } }.joined(separator: ", ")
    }

    func checkpointWebhooks(tenant: TenantID) async throws -> [CheckpointWebhook] {
        try await connection.all(
            """
            SELECT id, tenant_id, url, events_json, secret, created_at FROM checkpoint_webhooks \
            WHERE tenant_id = \(tenant.rawValue) ORDER BY created_at, \(.insertionOrder)
            """
        ) { r in
            let id = r.string(), tenant = TenantID(rawValue: r.string()), url = r.string()
            let events = ((try? JSONParser.parse(r.string()))?.arrayValue ?? []).compactMap(\.stringValue)
            return CheckpointWebhook(
                id: id, tenant: tenant, url: url, events: events, secret: r.optionalString(), createdAt: r.timestamp())
        }
    }

    func agent(tenant: TenantID, agentId: String) async throws -> Agent? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: Self.agentColumns) FROM agents WHERE tenant_id = \(tenant.rawValue) \
            AND agent_id = \(agentId)
            """, Self.decodeAgent)
    }

    func agents(tenant: TenantID) async throws -> [Agent] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: Self.agentColumns) FROM agents WHERE tenant_id = \(tenant.rawValue) \
            ORDER BY last_seen_at IS NULL, last_seen_at DESC, created_at DESC, serial DESC
            """, Self.decodeAgent)
    }

    func agentCount(tenant: TenantID) async throws -> Int {
        try await connection.first("SELECT COUNT(*) FROM agents WHERE tenant_id = \(tenant.rawValue)") { $0.int() } ?? 0
    }

    func expiredCheckpointWorkflows(now: Timestamp, limit: Int) async throws -> [CheckpointWorkflow] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: Self.workflowSelect("w")) FROM checkpoint_workflows w WHERE expires_at <= \(now) \
            ORDER BY expires_at LIMIT \(limit)\(SQL.Hook.forUpdateSkipLocked)
            """, Self.decodeWorkflow)
    }

    func workflowTotals(tenant: TenantID, from: Timestamp, to: Timestamp) async throws -> WorkflowTotals {
        try await connection.first(
            """
            SELECT COUNT(*), COALESCE(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0), \
            COALESCE(SUM(CASE WHEN status = 'active' THEN 1 ELSE 0 END), 0), COALESCE(SUM(total_checkpoints), 0), AVG(total_checkpoints), \
            AVG((last_activity_at - started_at) / 1000.0) FROM checkpoint_workflows \
            WHERE tenant_id = \(tenant.rawValue) AND last_activity_at >= \(from) AND last_activity_at <= \(to)
            """
        ) { r in
            var t = WorkflowTotals()
            t.workflows = r.int()
            t.completed = r.int()
            t.failed = r.int()
            t.active = r.int()
            t.checkpoints = r.int()
            t.averageSteps = r.optionalDouble() ?? 0
            t.averageDurationSeconds = r.optionalDouble() ?? 0
            return t
        } ?? WorkflowTotals()
    }

    func agentActivity(tenant: TenantID, from: Timestamp, to: Timestamp) async throws -> [AgentActivity] {
        try await connection.all(
            """
            SELECT a.agent_id, COUNT(*), COALESCE(SUM(CASE WHEN w.status = 'active' THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN w.status = 'failed' THEN 1 ELSE 0 END), 0), \
            SUM(a.checkpoints), AVG(w.total_checkpoints), AVG((w.last_activity_at - w.started_at) / 1000.0) \
            FROM checkpoint_workflow_agents a JOIN checkpoint_workflows w \
            ON w.tenant_id = a.tenant_id AND w.workflow_id = a.workflow_id \
            WHERE a.tenant_id = \(tenant.rawValue) AND w.last_activity_at >= \(from) AND w.last_activity_at <= \(to) \
            GROUP BY a.agent_id ORDER BY COUNT(*) DESC, a.agent_id
            """
        ) { r in
            AgentActivity(
                agentId: r.string(), workflows: r.int(), activeWorkflows: r.int(), failedWorkflows: r.int(),
                checkpoints: r.int(), averageSteps: r.optionalDouble() ?? 0,
                averageDurationSeconds: r.optionalDouble() ?? 0)
        }
    }

    func workflowAgents(tenant: TenantID, workflowId: String) async throws -> [String] {
        try await connection.all(
            """
            SELECT agent_id FROM checkpoint_workflow_agents WHERE tenant_id = \(tenant.rawValue) \
            AND workflow_id = \(workflowId) ORDER BY first_seen_at, \(.insertionOrder)
            """
        ) { $0.string() }
    }

    func failedCheckpoints(tenant: TenantID, since: Timestamp, agentId: String?, limit: Int) async throws
        -> [Checkpoint]
    {
        let agentFilter: SQL = agentId.map { "AND agent_id = \($0)" } ?? ""
        return try await connection.all(
            """
            SELECT \(unsafeRaw: Self.checkpointColumns) FROM checkpoints WHERE tenant_id = \(tenant.rawValue) \
            AND error_type IS NOT NULL AND created_at >= \(since) \(agentFilter) \
            ORDER BY created_at DESC, \(.insertionOrder) DESC LIMIT \(limit)
            """, Self.decodeCheckpoint)
    }

    func failureCounts(tenant: TenantID, since: Timestamp) async throws -> FailureCounts {
        var counts = FailureCounts()
        let scope: SQL = "tenant_id = \(tenant.rawValue) AND error_type IS NOT NULL AND created_at >= \(since)"
        counts.total = try await connection.first("SELECT COUNT(*) FROM checkpoints WHERE \(scope)") { $0.int() } ?? 0
        counts.byStep = try await connection.all(
            "SELECT step, COUNT(*) FROM checkpoints WHERE \(scope) GROUP BY step ORDER BY COUNT(*) DESC, step LIMIT 10"
        ) { r in (r.int(), r.int()) }
        counts.byAgent = try await connection.all(
            """
            SELECT agent_id, COUNT(*) FROM checkpoints WHERE \(scope) AND agent_id IS NOT NULL \
            GROUP BY agent_id ORDER BY COUNT(*) DESC, agent_id LIMIT 10
            """
        ) { r in (r.string(), r.int()) }
        return counts
    }

    // MARK: Writes

    func insertCheckpoint(_ c: Checkpoint, runningTotals: CheckpointRunningTotals) async throws {
        try await connection.run(
            """
            INSERT INTO checkpoints (\(unsafeRaw: Self.checkpointColumns), running_size_bytes, running_error_count) \
            VALUES (\(c.tenant.rawValue), \(c.workflowId), \(c.step), \(c.sequence), \(c.label), \(c.state), \
            \(c.metadata), \(c.agentId), \(c.etag), \(c.diff), \(c.sizeBytes), \(c.errorType), \(c.errorMessage), \
            \(c.createdAt), \(runningTotals.sizeBytes), \(runningTotals.errorCount))
            """)
    }

    func upsertCheckpointWorkflow(_ w: CheckpointWorkflow) async throws {
        try await connection.run(
            """
            INSERT INTO checkpoint_workflows (\(unsafeRaw: Self.workflowColumns)) VALUES (\(w.tenant.rawValue), \
            \(w.workflowId), \(w.latestStep), \(w.totalCheckpoints), \(w.totalSizeBytes), \(w.errorCount), \
            \(w.status.rawValue), \(w.resumed), \(w.startedAt), \(w.lastActivityAt), \(w.expiresAt), \
            \(w.unorderedFrom)) \
            ON CONFLICT (tenant_id, workflow_id) DO UPDATE SET latest_step = excluded.latest_step, \
            total_checkpoints = excluded.total_checkpoints, total_size_bytes = excluded.total_size_bytes, \
            error_count = excluded.error_count, status = excluded.status, resumed = excluded.resumed, \
            started_at = excluded.started_at, last_activity_at = excluded.last_activity_at, \
            expires_at = excluded.expires_at, unordered_from = excluded.unordered_from
            """)
    }

    func recordWorkflowAgent(tenant: TenantID, workflowId: String, agentId: String, at: Timestamp) async throws {
        try await connection.run(
            """
            INSERT INTO checkpoint_workflow_agents (tenant_id, workflow_id, agent_id, checkpoints, first_seen_at) \
            VALUES (\(tenant.rawValue), \(workflowId), \(agentId), 1, \(at)) \
            ON CONFLICT (tenant_id, workflow_id, agent_id) DO UPDATE SET checkpoints = checkpoint_workflow_agents.checkpoints + 1
            """)
    }

    func deleteCheckpointWorkflow(tenant: TenantID, workflowId: String) async throws {
        for table in ["checkpoints", "checkpoint_workflow_agents", "checkpoint_forks", "checkpoint_workflows"] {
            try await connection.run(
                """
                DELETE FROM \(unsafeRaw: table) WHERE tenant_id = \(tenant.rawValue) AND workflow_id = \(workflowId)
                """)
        }
    }

    func insertCheckpointWebhook(_ h: CheckpointWebhook) async throws {
        let events = JSONValue.array(h.events.map { .string($0) }).jsonText
        try await connection.run(
            """
            INSERT INTO checkpoint_webhooks (id, tenant_id, url, events_json, secret, created_at) \
            VALUES (\(h.id), \(h.tenant.rawValue), \(h.url), \(events), \(h.secret), \(h.createdAt))
            """)
    }

    func deleteCheckpointWebhook(tenant: TenantID, id: String) async throws -> Bool {
        return try await connection.changedRows(
            "DELETE FROM checkpoint_webhooks WHERE tenant_id = \(tenant.rawValue) AND id = \(id)") > 0
    }

    func upsertAgent(_ a: Agent) async throws -> Agent {
        try await connection.run(
            """
            INSERT INTO agents (tenant_id, agent_id, name, description, capabilities_json, metadata_json, \
            last_seen_at, created_at) VALUES (\(a.tenant.rawValue), \(a.agentId), \(a.name), \(a.description), \
            \(a.capabilities), \(a.metadata), \(a.lastSeenAt), \(a.createdAt)) \
            ON CONFLICT (tenant_id, agent_id) DO UPDATE SET name = excluded.name, description = excluded.description, \
            capabilities_json = excluded.capabilities_json, metadata_json = excluded.metadata_json
            """)
        guard let stored = try await agent(tenant: a.tenant, agentId: a.agentId) else {
            throw StoreInvariantError("upserted agent not found")
        }
        return stored
    }

    func updateAgent(_ a: Agent) async throws {
        try await connection.run(
            """
            UPDATE agents SET name = \(a.name), description = \(a.description), \
            capabilities_json = \(a.capabilities), metadata_json = \(a.metadata), last_seen_at = \(a.lastSeenAt) \
            WHERE tenant_id = \(a.tenant.rawValue) AND agent_id = \(a.agentId)
            """)
    }

    func deleteAgent(tenant: TenantID, agentId: String) async throws -> Bool {
        return try await connection.changedRows(
            "DELETE FROM agents WHERE tenant_id = \(tenant.rawValue) AND agent_id = \(agentId)") > 0
    }

    func touchAgent(tenant: TenantID, agentId: String, at: Timestamp) async throws {
        try await connection.run(
            "UPDATE agents SET last_seen_at = \(at) WHERE tenant_id = \(tenant.rawValue) AND agent_id = \(agentId)")
    }
}
