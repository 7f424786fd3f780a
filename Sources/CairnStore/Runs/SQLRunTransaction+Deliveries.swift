import CairnCore

extension SQLRunTransaction {
    private static var deliveryColumns: String {
        """
        id, kind, run_id, channel_id, gate_id, url, secret, event_type, payload_json, status, attempts, next_attempt_at, \
        http_status, response_body, error_text, created_at, completed_at
        """
    }

    private static func decodeDelivery<R: SQLRow>(_ r: inout R) -> ChannelDelivery {
        ChannelDelivery(
            id: r.string(), kind: DeliveryKind(rawValue: r.string()) ?? .runChannel, runId: r.optionalString(),
            channelId: r.optionalString(), gateId: r.optionalString(),
            url: r.string(),
            secret: r.optionalString(), eventType: r.string(), payload: r.string(), status: r.string(),
            attempts: r.int(),
            nextAttemptAt: r.optionalTimestamp(), httpStatus: r.optionalInt(), responseBody: r.optionalString(),
            errorText: r.optionalString(), createdAt: r.timestamp(), completedAt: r.optionalTimestamp())
    }

    func deliveries(runId: String, limit: Int) async throws -> [ChannelDelivery] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: Self.deliveryColumns) FROM deliveries WHERE run_id = \(runId) \
            ORDER BY created_at DESC, \(.insertionOrder) DESC LIMIT \(limit)
            """, Self.decodeDelivery)
    }

    func deliveries(channelId: String, limit: Int) async throws -> [ChannelDelivery] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: Self.deliveryColumns) FROM deliveries WHERE channel_id = \(channelId) \
            ORDER BY created_at DESC, \(.insertionOrder) DESC LIMIT \(limit)
            """, Self.decodeDelivery)
    }

    func dueDeliveries(now: Timestamp, limit: Int) async throws -> [ChannelDelivery] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: Self.deliveryColumns) FROM deliveries WHERE status = 'pending' \
            AND next_attempt_at <= \(now) ORDER BY next_attempt_at, \(.insertionOrder) LIMIT \(limit)
            """, Self.decodeDelivery)
    }

    func lockDueDeliveries(now: Timestamp, limit: Int) async throws -> [ChannelDelivery] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: Self.deliveryColumns) FROM deliveries WHERE status = 'pending' \
            AND next_attempt_at <= \(now) ORDER BY next_attempt_at, \(.insertionOrder) LIMIT \(limit)\(SQL.Hook.forUpdateSkipLocked)
            """, Self.decodeDelivery)
    }

    func insertDelivery(_ d: ChannelDelivery) async throws {
        try await connection.run(
            """
            INSERT INTO deliveries (\(unsafeRaw: Self.deliveryColumns)) VALUES (\(d.id), \(d.kind.rawValue), \(d.runId), \
            \(d.channelId), \(d.gateId), \(d.url), \(d.secret), \(d.eventType), \(d.payload), \(d.status), \(d.attempts), \
            \(d.nextAttemptAt), \(d.httpStatus), \(d.responseBody), \(d.errorText), \(d.createdAt), \(d.completedAt))
            """)
    }

    func updateDelivery(_ d: ChannelDelivery) async throws {
        try await connection.run(
            """
            UPDATE deliveries SET status = \(d.status), attempts = \(d.attempts), \
            next_attempt_at = \(d.nextAttemptAt), http_status = \(d.httpStatus), response_body = \(d.responseBody), \
            error_text = \(d.errorText), completed_at = \(d.completedAt) WHERE id = \(d.id)
            """)
    }
}

extension SQLRunTransaction {
    /// Counts for the gauges; sampled every few seconds, not per request.
    func storeFigures() async throws -> StoreFigures {
        var figures = StoreFigures()
        for (status, count) in try await connection.all(
            "SELECT status, COUNT(*) FROM runs WHERE status IN ('queued', 'running') GROUP BY status",
            { row in (row.string(), row.int()) })
        {
            if status == "queued" { figures.queuedRuns = count } else { figures.runningRuns = count }
        }
        figures.pendingDeliveries =
            try await connection.first("SELECT COUNT(*) FROM deliveries WHERE status = 'pending'") { $0.int() } ?? 0
        return figures
    }
}
