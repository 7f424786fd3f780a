import CairnCore

/// Forked checkpoint workflows' read-through records, and the copy a fork keeps of a parent
/// that expires, for both engines.
extension SQLRunTransaction {
    private static func decodeFork<R: SQLRow>(_ r: inout R) -> CheckpointFork {
        CheckpointFork(
            tenant: TenantID(rawValue: r.string()), workflowId: r.string(), parentWorkflowId: r.string(),
            step: r.int(), parentSequence: r.int(), createdAt: r.timestamp())
    }

    private static var forkColumns: String {
        "tenant_id, workflow_id, parent_workflow_id, step, parent_sequence, created_at"
    }

    func checkpointFork(tenant: TenantID, workflowId: String) async throws -> CheckpointFork? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: Self.forkColumns) FROM checkpoint_forks \
            WHERE tenant_id = \(tenant.rawValue) AND workflow_id = \(workflowId)
            """, Self.decodeFork)
    }

    func checkpointForks(tenant: TenantID, parentWorkflowId: String) async throws -> [CheckpointFork] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: Self.forkColumns) FROM checkpoint_forks \
            WHERE tenant_id = \(tenant.rawValue) AND parent_workflow_id = \(parentWorkflowId) ORDER BY workflow_id
            """, Self.decodeFork)
    }

    func upsertCheckpointFork(_ f: CheckpointFork) async throws {
        try await connection.run(
            """
            INSERT INTO checkpoint_forks (\(unsafeRaw: Self.forkColumns)) VALUES (\(f.tenant.rawValue), \
            \(f.workflowId), \(f.parentWorkflowId), \(f.step), \(f.parentSequence), \(f.createdAt)) \
            ON CONFLICT (tenant_id, workflow_id) DO UPDATE SET parent_workflow_id = excluded.parent_workflow_id, \
            step = excluded.step, parent_sequence = excluded.parent_sequence, created_at = excluded.created_at
            """)
    }

    func deleteCheckpointFork(tenant: TenantID, workflowId: String) async throws {
        try await connection.run(
            "DELETE FROM checkpoint_forks WHERE tenant_id = \(tenant.rawValue) AND workflow_id = \(workflowId)")
    }

    func copyCheckpoints(tenant: TenantID, segment: CheckpointSegment, to workflowId: String) async throws {
        let inSegment: SQL = """
            tenant_id = \(tenant.rawValue) AND workflow_id = \(segment.workflowId) \
            AND sequence > \(segment.after) AND sequence <= \(segment.through)
            """
        try await connection.run(
            """
            INSERT INTO checkpoints (tenant_id, workflow_id, step, sequence, label, state_json, metadata_json, \
            agent_id, etag, diff_json, size_bytes, error_type, error_message, created_at, running_size_bytes, \
            running_error_count) \
            SELECT tenant_id, \(workflowId), step, sequence, label, state_json, metadata_json, agent_id, etag, \
            diff_json, size_bytes, error_type, error_message, created_at, running_size_bytes, running_error_count \
            FROM checkpoints WHERE \(inSegment) ORDER BY sequence
            """)
        try await connection.run(
            """
            INSERT INTO checkpoint_workflow_agents (tenant_id, workflow_id, agent_id, checkpoints, first_seen_at) \
            SELECT tenant_id, \(workflowId), agent_id, COUNT(*), MIN(created_at) FROM checkpoints \
            WHERE \(inSegment) AND agent_id IS NOT NULL GROUP BY tenant_id, agent_id \
            ON CONFLICT (tenant_id, workflow_id, agent_id) DO UPDATE SET \
            checkpoints = checkpoint_workflow_agents.checkpoints + excluded.checkpoints, \
            first_seen_at = CASE WHEN excluded.first_seen_at < checkpoint_workflow_agents.first_seen_at \
            THEN excluded.first_seen_at ELSE checkpoint_workflow_agents.first_seen_at END
            """)
    }
}
