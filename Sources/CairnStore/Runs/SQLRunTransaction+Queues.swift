import CairnCore

extension SQLRunTransaction {
    func activeRun(tenant: TenantID, queue: String, dedupeKey: String) async throws -> Run? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: RunSQL.runColumns) FROM runs WHERE tenant_id = \(tenant.rawValue) \
            AND queue_name = \(queue) AND dedupe_key = \(dedupeKey) AND status IN ('queued', 'running') LIMIT 1
            """, RunSQL.decodeRun)
    }

    func dueRuns(tenant: TenantID, queue: String, now: Timestamp, limit: Int, unlessCapped: Bool) async throws
        -> [Run]
    {
        try await connection.all(
            RunSQL.dueRuns(
                columns: RunSQL.runColumns, tenant: tenant, queue: queue, now: now, limit: limit,
                unlessCapped: unlessCapped),
            RunSQL.decodeRun)
    }

    func claimUncapped(
        tenant: TenantID, queue: String, owner: String, leaseExpiresAt: Timestamp, limit: Int,
        eventPayload: RawJSON, at now: Timestamp
    ) async throws -> [Run]? {
        let type = "run.claimed"
        switch connection.dialect {
        case .postgres:
            let rows = try await connection.all(
                RunSQL.claimUncapped(
                    tenant: tenant, queue: queue, owner: owner, leaseExpiresAt: leaseExpiresAt, limit: limit,
                    eventPayload: eventPayload, at: now)
            ) { r -> (capped: Bool, claim: (eventId: Int, seq: Int64, run: Run)?) in
                let capped = r.bool()
                guard let eventId = r.optionalInt() else { return (capped, nil) }
                return (capped, (eventId, r.int64(), RunSQL.decodeRun(&r)))
            }
            let claims = rows.compactMap(\.claim)
            if claims.isEmpty, rows.first?.capped == true { return nil }
            appended(
                claims.map {
                    RunEvent(
                        id: Int64($0.eventId), runId: $0.run.id, seq: $0.seq, type: type, payload: eventPayload,
                        createdAt: now)
                })
            return claims.map(\.run)
        case .sqlite:
            // One writer at a time: the same decisions, statement by statement.
            let due = try await dueRuns(tenant: tenant, queue: queue, now: now, limit: limit, unlessCapped: true)
            if due.isEmpty {
                let config = try await queueConfig(tenant: tenant, name: queue)
                if let config, config.pausedAt == nil, config.concurrency != nil || config.ratePerMinute != nil {
                    return nil
                }
                return []
            }
            try await markClaimed(runIds: due.map(\.id), owner: owner, leaseExpiresAt: leaseExpiresAt, at: now)
            _ = try await appendEvents(
                due.map { RunEventDraft(runId: $0.id, type: type, payload: eventPayload) }, at: now)
            return due.map { $0.claimed(by: owner, leaseExpiresAt: leaseExpiresAt, at: now) }
        }
    }

    /// Statements of at most 32 ids: few distinct texts, each few enough binds to prepare.
    func markClaimed(runIds: [String], owner: String, leaseExpiresAt: Timestamp, at now: Timestamp) async throws {
        for start in stride(from: 0, to: runIds.count, by: 32) {
            try await connection.run(
                RunSQL.markClaimed(
                    runIds[start..<min(start + 32, runIds.count)], owner: owner, leaseExpiresAt: leaseExpiresAt,
                    at: now))
        }
    }

    func runningCount(tenant: TenantID, queue: String) async throws -> Int {
        try await connection.first(
            """
            SELECT COUNT(*) FROM runs WHERE tenant_id = \(tenant.rawValue) AND queue_name = \(queue) \
            AND status = 'running'
            """, { $0.int() }) ?? 0
    }

    func claimedCount(tenant: TenantID, queue: String, since: Timestamp) async throws -> Int {
        try await connection.first(
            """
            SELECT COUNT(*) FROM runs WHERE tenant_id = \(tenant.rawValue) AND queue_name = \(queue) \
            AND claimed_at > \(since)
            """, { $0.int() }) ?? 0
    }

    func queueCounts(tenant: TenantID, queue: String?) async throws
        -> [(queue: String, status: RunStatus, count: Int)]
    {
        try await connection.all(
            """
            SELECT queue_name, status, COUNT(*) FROM runs WHERE tenant_id = \(tenant.rawValue) \
            AND \(Self.queueNamed(queue)) GROUP BY queue_name, status ORDER BY queue_name, status
            """
        ) { r in (r.string(), RunStatus(rawValue: r.string()) ?? .pending, r.int()) }
    }

    /// Every time a run was claimed, completed or failed is at most its `updated_at`, so one
    /// condition on it bounds the rows of every window.
    func queueActivity(tenant: TenantID, queue: String?, since: [Timestamp]) async throws
        -> [(queue: String, claimed: [Int], completed: [Int], failed: [Int])]
    {
        guard let oldest = since.min() else { return [] }
        var counts: [SQL] = []
        for start in since {
            counts.append("COUNT(CASE WHEN claimed_at > \(start) THEN 1 END)")
            counts.append("COUNT(CASE WHEN status = 'completed' AND completed_at > \(start) THEN 1 END)")
            counts.append("COUNT(CASE WHEN status = 'failed' AND updated_at > \(start) THEN 1 END)")
        }
        return try await connection.all(
            """
            SELECT queue_name, \(counts.joined(separator: ", ")) FROM runs WHERE tenant_id = \(tenant.rawValue) \
            AND \(Self.queueNamed(queue)) AND updated_at > \(oldest) GROUP BY queue_name ORDER BY queue_name
            """
        ) { r in
            let queue = r.string()
            var claimed: [Int] = []
            var completed: [Int] = []
            var failed: [Int] = []
            for _ in since {
                claimed.append(r.int())
                completed.append(r.int())
                failed.append(r.int())
            }
            return (queue, claimed, completed, failed)
        }
    }

    /// Runs of any queue, or of the one named.
    private static func queueNamed(_ queue: String?) -> SQL {
        queue.map { "queue_name = \($0)" } ?? "queue_name IS NOT NULL"
    }

    private static var configColumns: String {
        "name, concurrency, rate_per_minute, invoke_url, paused_at, created_at, updated_at"
    }

    private static func decodeConfig<R: SQLRow>(_ r: inout R) -> QueueConfig {
        QueueConfig(
            name: r.string(), concurrency: r.optionalInt(), ratePerMinute: r.optionalInt(),
            invokeURL: r.optionalString(), pausedAt: r.optionalTimestamp(),
            createdAt: r.timestamp(), updatedAt: r.timestamp())
    }

    func queueConfigs(tenant: TenantID, queue: String?) async throws -> [QueueConfig] {
        let named: SQL = queue.map { "AND name = \($0)" } ?? ""
        return try await connection.all(
            """
            SELECT \(unsafeRaw: Self.configColumns) FROM queue_configs WHERE tenant_id = \(tenant.rawValue) \(named) ORDER BY name
            """, Self.decodeConfig)
    }

    func queueConfig(tenant: TenantID, name: String) async throws -> QueueConfig? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: Self.configColumns) FROM queue_configs WHERE tenant_id = \(tenant.rawValue) AND name = \(name)
            """, Self.decodeConfig)
    }

    func pushQueueConfigs() async throws -> [(tenant: TenantID, config: QueueConfig)] {
        try await connection.all(
            """
            SELECT tenant_id, \(unsafeRaw: Self.configColumns) FROM queue_configs WHERE invoke_url IS NOT NULL \
            AND paused_at IS NULL ORDER BY tenant_id, name
            """
        ) { r in (TenantID(rawValue: r.string()), Self.decodeConfig(&r)) }
    }

    func upsertQueueConfig(_ c: QueueConfig, tenant: TenantID) async throws {
        try await connection.run(
            """
            INSERT INTO queue_configs (tenant_id, \(unsafeRaw: Self.configColumns)) VALUES (\(tenant.rawValue), \(c.name), \
            \(c.concurrency), \(c.ratePerMinute), \(c.invokeURL), \(c.pausedAt), \(c.createdAt), \(c.updatedAt)) \
            ON CONFLICT (tenant_id, name) DO UPDATE SET concurrency = excluded.concurrency, \
            rate_per_minute = excluded.rate_per_minute, invoke_url = excluded.invoke_url, \
            paused_at = excluded.paused_at, updated_at = excluded.updated_at
            """)
    }
}
