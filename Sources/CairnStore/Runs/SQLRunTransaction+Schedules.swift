import CairnCore

extension SQLiteRunTransaction {
    private static let scheduleColumns = """
        name, cron, workflow_name, input_json, queue_name, max_attempts, enabled, next_run_at, last_enqueued_at, \
        created_at, updated_at
        """

    private static func decodeSchedule(_ r: inout SQLiteRow) -> Schedule {
        Schedule(
            name: r.string(), cron: r.string(), workflowName: r.string(), input: r.string(), queue: r.string(),
            maxAttempts: r.int(), enabled: r.int() != 0, nextRunAt: r.optionalTimestamp(),
            lastEnqueuedAt: r.optionalTimestamp(), createdAt: r.timestamp(), updatedAt: r.timestamp())
    }

    func schedules(tenant: TenantID) throws -> [Schedule] {
        try connection.all(
            """
            SELECT \(unsafeRaw: Self.scheduleColumns) FROM schedules WHERE tenant_id = \(tenant.rawValue) ORDER BY name
            """, Self.decodeSchedule)
    }

    func schedule(tenant: TenantID, name: String) throws -> Schedule? {
        try connection.first(
            """
            SELECT \(unsafeRaw: Self.scheduleColumns) FROM schedules WHERE tenant_id = \(tenant.rawValue) AND name = \(name)
            """, Self.decodeSchedule)
    }

    func dueSchedules(now: Timestamp, limit: Int) throws -> [(tenant: TenantID, schedule: Schedule)] {
        try connection.all(
            """
            SELECT tenant_id, \(unsafeRaw: Self.scheduleColumns) FROM schedules WHERE enabled = 1 \
            AND next_run_at <= \(now) ORDER BY next_run_at LIMIT \(limit)
            """
        ) { r in (TenantID(rawValue: r.string()), Self.decodeSchedule(&r)) }
    }

    func upsertSchedule(_ s: Schedule, tenant: TenantID) throws {
        try connection.run(
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

    func deleteSchedule(tenant: TenantID, name: String) throws -> Bool {
        try connection.run("DELETE FROM schedules WHERE tenant_id = \(tenant.rawValue) AND name = \(name)")
        return connection.changes > 0
    }
}
