import CairnCore

extension SQLRunTransaction {
    private static var scheduleColumns: String {
        """
        name, cron, workflow_name, input_json, queue_name, max_attempts, enabled, next_run_at, last_enqueued_at, \
        created_at, updated_at
        """
    }

    private static func decodeSchedule<R: SQLRow>(_ r: inout R) -> Schedule {
        Schedule(
            name: r.string(), cron: r.string(), workflowName: r.string(), input: r.string(), queue: r.string(),
            maxAttempts: r.int(), enabled: r.int() != 0, nextRunAt: r.optionalTimestamp(),
            lastEnqueuedAt: r.optionalTimestamp(), createdAt: r.timestamp(), updatedAt: r.timestamp())
    }

    func schedules(tenant: TenantID) async throws -> [Schedule] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: Self.scheduleColumns) FROM schedules WHERE tenant_id = \(tenant.rawValue) ORDER BY name
            """, Self.decodeSchedule)
    }

    func schedule(tenant: TenantID, name: String) async throws -> Schedule? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: Self.scheduleColumns) FROM schedules WHERE tenant_id = \(tenant.rawValue) AND name = \(name)
            """, Self.decodeSchedule)
    }

    func dueSchedules(now: Timestamp, limit: Int) async throws -> [(tenant: TenantID, schedule: Schedule)] {
        try await connection.all(
            """
            SELECT tenant_id, \(unsafeRaw: Self.scheduleColumns) FROM schedules WHERE enabled = 1 \
            AND next_run_at <= \(now) ORDER BY next_run_at LIMIT \(limit)\(SQL.Hook.forUpdateSkipLocked)
            """
        ) { r in (TenantID(rawValue: r.string()), Self.decodeSchedule(&r)) }
    }

    func upsertSchedule(_ s: Schedule, tenant: TenantID) async throws {
        try await connection.run(
            """
            INSERT INTO schedules (tenant_id, \(unsafeRaw: Self.scheduleColumns)) VALUES (\(tenant.rawValue), \(s.name), \
            \(s.cron), \(s.workflowName), \(s.input), \(s.queue), \(s.maxAttempts), \(s.enabled), \(s.nextRunAt), \
            \(s.lastEnqueuedAt), \(s.createdAt), \(s.updatedAt)) ON CONFLICT (tenant_id, name) DO UPDATE SET \
            cron = excluded.cron, workflow_name = excluded.workflow_name, input_json = excluded.input_json, \
            queue_name = excluded.queue_name, max_attempts = excluded.max_attempts, enabled = excluded.enabled, \
            next_run_at = excluded.next_run_at, last_enqueued_at = excluded.last_enqueued_at, \
            updated_at = excluded.updated_at
            """)
    }

    func deleteSchedule(tenant: TenantID, name: String) async throws -> Bool {
        return try await connection.changedRows(
            "DELETE FROM schedules WHERE tenant_id = \(tenant.rawValue) AND name = \(name)") > 0
    }
}
