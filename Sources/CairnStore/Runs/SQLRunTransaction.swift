import CairnCore

/// The run repository over one SQLite connection inside an open transaction. Used only on the
/// thread that owns the connection; events it appends are handed to the broker after commit.
final class SQLiteRunTransaction: RunWriteTransaction, @unchecked Sendable {
    let connection: SQLiteConnection
    private(set) var appendedEvents: [RunEvent] = []

    init(connection: SQLiteConnection) { self.connection = connection }

    // MARK: Reads

    func run(id: String, tenant: TenantID) throws -> Run? {
        try connection.first(RunSQL.run(id: id, tenant: tenant), RunSQL.decodeRun)
    }

    func runs(tenant: TenantID, query: RunListQuery, now: Timestamp) throws -> [Run] {
        try connection.all(RunSQL.runs(tenant: tenant, query: query, now: now), RunSQL.decodeRun)
    }

    func runs(ids: [String]) throws -> [Run] {
        try ids.compactMap { try connection.first(RunSQL.run(id: $0), RunSQL.decodeRun) }
    }

    func steps(runId: String) throws -> [Step] {
        try connection.all(
            "SELECT \(unsafeRaw: RunSQL.stepColumns) FROM steps WHERE run_id = \(runId) ORDER BY created_at, rowid",
            RunSQL.decodeStep)
    }

    func step(runId: String, name: String) throws -> Step? {
        try connection.first(
            "SELECT \(unsafeRaw: RunSQL.stepColumns) FROM steps WHERE run_id = \(runId) AND name = \(name)",
            RunSQL.decodeStep)
    }

    func step(runId: String, id: String) throws -> Step? {
        try connection.first(
            "SELECT \(unsafeRaw: RunSQL.stepColumns) FROM steps WHERE id = \(id) AND run_id = \(runId)",
            RunSQL.decodeStep)
    }

    func state(runId: String) throws -> RunState? {
        try connection.first(
            "SELECT run_id, value_json, version, updated_at FROM run_state WHERE run_id = \(runId)", RunSQL.decodeState)
    }

    func stateStreams(runId: String) throws -> [StateStream] {
        try connection.all(
            "SELECT \(unsafeRaw: RunSQL.streamColumns) FROM state_streams WHERE run_id = \(runId) ORDER BY created_at, rowid",
            RunSQL.decodeStream)
    }

    func stateStream(runId: String, name: String) throws -> StateStream? {
        try connection.first(
            "SELECT \(unsafeRaw: RunSQL.streamColumns) FROM state_streams WHERE run_id = \(runId) AND name = \(name)",
            RunSQL.decodeStream)
    }

    func stateVersions(runId: String, stream: String?, labeledOnly: Bool) throws -> [StateVersion] {
        try connection.all(
            RunSQL.stateVersions(runId: runId, stream: stream, labeledOnly: labeledOnly), RunSQL.decodeVersion)
    }

    func snapshots(runId: String) throws -> [StateVersion] {
        try connection.all(
            """
            SELECT \(unsafeRaw: RunSQL.versionColumns) FROM state_versions WHERE run_id = \(runId) AND label IS NOT NULL \
            ORDER BY created_at DESC, rowid DESC
            """, RunSQL.decodeVersion)
    }

    func edges(parentRunId: String) throws -> [RunEdge] {
        try connection.all(
            """
            SELECT \(unsafeRaw: RunSQL.edgeColumns) FROM run_edges WHERE parent_run_id = \(parentRunId) \
            ORDER BY created_at, rowid
            """, RunSQL.decodeEdge)
    }

    func edge(parentRunId: String, name: String) throws -> RunEdge? {
        try connection.first(
            """
            SELECT \(unsafeRaw: RunSQL.edgeColumns) FROM run_edges WHERE parent_run_id = \(parentRunId) AND name = \(name)
            """, RunSQL.decodeEdge)
    }

    func gates(runId: String) throws -> [Gate] {
        try connection.all(
            "SELECT \(unsafeRaw: RunSQL.gateColumns) FROM gates WHERE run_id = \(runId) ORDER BY created_at, rowid",
            RunSQL.decodeGate)
    }

    func gate(runId: String, id: String) throws -> Gate? {
        try connection.first(
            "SELECT \(unsafeRaw: RunSQL.gateColumns) FROM gates WHERE id = \(id) AND run_id = \(runId)",
            RunSQL.decodeGate)
    }

    func gate(runId: String, name: String) throws -> Gate? {
        try connection.first(
            "SELECT \(unsafeRaw: RunSQL.gateColumns) FROM gates WHERE run_id = \(runId) AND name = \(name)",
            RunSQL.decodeGate)
    }

    func usage(runId: String) throws -> [UsageRecord] {
        try connection.all(
            "SELECT \(unsafeRaw: RunSQL.usageColumns) FROM usage_records WHERE run_id = \(runId) ORDER BY created_at, rowid",
            RunSQL.decodeUsage)
    }

    func usage(runId: String, idempotencyKey: String) throws -> UsageRecord? {
        try connection.first(
            """
            SELECT \(unsafeRaw: RunSQL.usageColumns) FROM usage_records \
            WHERE run_id = \(runId) AND idempotency_key = \(idempotencyKey)
            """,
            RunSQL.decodeUsage)
    }

    func channels(runId: String) throws -> [Channel] {
        try connection.all(
            "SELECT \(unsafeRaw: RunSQL.channelColumns) FROM channels WHERE run_id = \(runId) ORDER BY created_at, rowid",
            RunSQL.decodeChannel)
    }

    func recoveryAttempts(runId: String) throws -> [RecoveryAttempt] {
        try connection.all(
            """
            SELECT \(unsafeRaw: RunSQL.recoveryColumns) FROM recovery_attempts WHERE run_id = \(runId) \
            ORDER BY created_at DESC, rowid DESC
            """, RunSQL.decodeRecovery)
    }

    func events(runId: String, after: Int64, limit: Int) throws -> [RunEvent] {
        try connection.all(
            """
            SELECT \(unsafeRaw: RunSQL.eventColumns) FROM events WHERE run_id = \(runId) AND seq > \(after) \
            ORDER BY seq LIMIT \(Int64(clamping: limit))
            """, RunSQL.decodeEvent)
    }

    // MARK: Writes

    /// The single writer already serializes transactions, so no row lock is needed.
    func runForUpdate(id: String, tenant: TenantID) throws -> Run? { try run(id: id, tenant: tenant) }

    func insertRun(_ run: Run) throws { try connection.run(RunSQL.insertRun(run)) }
    func updateRun(_ run: Run) throws { try connection.run(RunSQL.updateRun(run)) }
    func insertStep(_ step: Step) throws { try connection.run(RunSQL.insertStep(step)) }
    func updateStep(_ step: Step) throws { try connection.run(RunSQL.updateStep(step)) }
    func insertGate(_ gate: Gate) throws { try connection.run(RunSQL.insertGate(gate)) }

    func resolveGate(
        runId: String, gateId: String, token: String, decision: GateStatus, actor: String?, payload: RawJSON,
        at now: Timestamp
    ) throws -> Gate? {
        try connection.first(
            RunSQL.resolveGate(
                runId: runId, gateId: gateId, token: token, decision: decision, actor: actor, payload: payload, at: now),
            RunSQL.decodeGate)
    }

    func upsertState(_ state: RunState) throws { try connection.run(RunSQL.upsertState(state)) }

    func insertStateStream(_ s: StateStream) throws {
        try connection.run(
            """
            INSERT INTO state_streams (\(unsafeRaw: RunSQL.streamColumns)) VALUES (\(s.id), \(s.runId), \(s.name), \
            \(s.targetType), \(s.targetId), \(s.currentVersion), \(s.currentValue), \(s.metadata), \(s.createdAt), \
            \(s.updatedAt))
            """)
    }

    func updateStateStream(_ s: StateStream) throws {
        try connection.run(
            """
            UPDATE state_streams SET target_type = \(s.targetType), target_id = \(s.targetId), \
            current_version = \(s.currentVersion), current_value_json = \(s.currentValue), updated_at = \(s.updatedAt) \
            WHERE id = \(s.id)
            """)
    }

    func insertStateVersion(_ v: StateVersion) throws {
        try connection.run(
            """
            INSERT INTO state_versions (\(unsafeRaw: RunSQL.versionColumns)) VALUES (\(v.id), \(v.streamId), \
            \(v.runId), \(v.stepId), \(v.version), \(v.value), \(v.patch), \(v.label), \(v.reason), \
            \(v.importance.rawValue), \(v.metadata), \(v.createdBy), \(v.createdAt))
            """)
    }

    func insertEdge(_ e: RunEdge) throws {
        try connection.run(
            """
            INSERT INTO run_edges (\(unsafeRaw: RunSQL.edgeColumns)) VALUES (\(e.id), \(e.parentRunId), \
            \(e.childRunId), \(e.name), \(e.edgeType), \(e.metadata), \(e.createdAt))
            """)
    }

    func insertUsage(_ u: UsageRecord, idempotencyKey: String?) throws {
        try connection.run(
            """
            INSERT INTO usage_records (\(unsafeRaw: RunSQL.usageColumns), idempotency_key) VALUES (\(u.id), \(u.runId), \
            \(u.stepId), \(u.kind), \(u.provider), \(u.model), \(u.label), \(u.quantity), \(u.unit), \(u.inputTokens), \
            \(u.outputTokens), \(u.totalTokens), \(u.costUsd), \(u.metadata), \(u.createdAt), \(idempotencyKey))
            """)
    }

    func insertChannel(_ c: Channel) throws {
        let events = JSONValue.array(c.events.map { .string($0) }).jsonText
        try connection.run(
            """
            INSERT INTO channels (\(unsafeRaw: RunSQL.channelColumns)) VALUES (\(c.id), \(c.runId), \(c.type), \
            \(c.url), \(c.secret), \(events), \(c.createdAt))
            """)
    }

    func insertRecoveryAttempt(_ r: RecoveryAttempt) throws {
        try connection.run(
            """
            INSERT INTO recovery_attempts (\(unsafeRaw: RunSQL.recoveryColumns)) VALUES (\(r.id), \(r.runId), \(r.reason), \
            \(r.webhookURL), \(r.status), \(r.httpStatus), \(r.responseBody), \(r.errorText), \(r.createdAt), \(r.completedAt))
            """)
    }

    func updateRecoveryAttempt(_ r: RecoveryAttempt) throws {
        try connection.run(
            """
            UPDATE recovery_attempts SET status = \(r.status), http_status = \(r.httpStatus), \
            response_body = \(r.responseBody), error_text = \(r.errorText), completed_at = \(r.completedAt) WHERE id = \(r.id)
            """)
    }

    func appendEvent(runId: String, type: String, payload: RawJSON, at now: Timestamp) throws -> RunEvent {
        let seq = (try connection.first(RunSQL.lastEventSeq(runId: runId)) { $0.int64() } ?? 0) + 1
        guard
            let id = try connection.first(
                RunSQL.insertEvent(runId: runId, seq: seq, type: type, payload: payload, at: now), { $0.int64() })
        else { throw SQLiteError(code: 1, message: "event insert returned no row") }
        let event = RunEvent(id: id, runId: runId, seq: seq, type: type, payload: payload, createdAt: now)
        appendedEvents.append(event)
        return event
    }
}
