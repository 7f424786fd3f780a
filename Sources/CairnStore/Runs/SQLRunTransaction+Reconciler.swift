import CairnCore

extension SQLRunTransaction {
    func expiredQueueRuns(now: Timestamp, limit: Int) async throws -> [Run] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: RunSQL.runColumns) FROM runs WHERE status = 'running' AND lease_expires_at < \(now) \
            AND queue_name IS NOT NULL ORDER BY lease_expires_at LIMIT \(limit)\(SQL.Hook.forUpdateSkipLocked)
            """, RunSQL.decodeRun)
    }

    func stalledWebhookRuns(now: Timestamp, quietSince: Timestamp, limit: Int) async throws -> [Run] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: RunSQL.runColumns) FROM runs WHERE status = 'running' AND lease_expires_at < \(now) \
            AND queue_name IS NULL AND recovery_webhook IS NOT NULL AND NOT EXISTS (SELECT 1 FROM recovery_attempts a \
            WHERE a.run_id = runs.id AND a.created_at > \(quietSince)) ORDER BY lease_expires_at LIMIT \(limit)\(SQL.Hook.forUpdateSkipLocked)
            """, RunSQL.decodeRun)
    }

    func overdueRuns(now: Timestamp, limit: Int) async throws -> [Run] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: RunSQL.runColumns) FROM runs WHERE deadline_at < \(now) \
            AND status IN ('pending', 'queued', 'running') ORDER BY deadline_at LIMIT \(limit)\(SQL.Hook.forUpdateSkipLocked)
            """, RunSQL.decodeRun)
    }
}
