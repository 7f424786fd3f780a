import CairnCore

/// The run repository over one engine's connection inside an open transaction, written once for
/// SQLite and Postgres. Used by one task at a time; events it appends are handed to the broker
/// after commit.
typealias SQLiteRunTransaction = SQLRunTransaction<SQLiteConnection>

final class SQLRunTransaction<Connection: SQLConnection>: RunWriteTransaction, @unchecked Sendable {
    let connection: Connection
    private(set) var appendedEvents: [RunEvent] = []

    /// Events a statement of this transaction appended, to publish after commit.
    func appended(_ events: [RunEvent]) { appendedEvents += events }

    init(connection: Connection) { self.connection = connection }

    // MARK: Reads

    func run(id: String, tenant: TenantID) async throws -> Run? {
        try await connection.first(RunSQL.run(id: id, tenant: tenant), RunSQL.decodeRun)
    }

    func runs(tenant: TenantID, query: RunListQuery, now: Timestamp) async throws -> [Run] {
        try await connection.all(RunSQL.runs(tenant: tenant, query: query, now: now), RunSQL.decodeRun)
    }

    func runs(ids: [String]) async throws -> [Run] {
        var found: [Run] = []
        for id in ids {
            if let run = try await connection.first(RunSQL.run(id: id), RunSQL.decodeRun) { found.append(run) }
        }
        return found
    }

    func steps(runId: String) async throws -> [Step] {
        try await connection.all(
            "SELECT \(unsafeRaw: RunSQL.stepColumns) FROM steps WHERE run_id = \(runId) ORDER BY created_at, \(.insertionOrder)",
            RunSQL.decodeStep)
    }

    func step(runId: String, name: String) async throws -> Step? {
        try await connection.first(
            "SELECT \(unsafeRaw: RunSQL.stepColumns) FROM steps WHERE run_id = \(runId) AND name = \(name)",
            RunSQL.decodeStep)
    }

    func step(runId: String, id: String) async throws -> Step? {
        try await connection.first(
            "SELECT \(unsafeRaw: RunSQL.stepColumns) FROM steps WHERE \(RunSQL.stepKey(id: id, runId: "\(runId)"))",
            RunSQL.decodeStep)
    }

    func state(runId: String) async throws -> RunState? {
        try await connection.first(
            "SELECT run_id, value_json, version, updated_at FROM run_state WHERE run_id = \(runId)", RunSQL.decodeState)
    }

    func stateStreams(runId: String) async throws -> [StateStream] {
        try await connection.all(
            "SELECT \(unsafeRaw: RunSQL.streamColumns) FROM state_streams WHERE run_id = \(runId) ORDER BY created_at, \(.insertionOrder)",
            RunSQL.decodeStream)
    }

    func stateStream(runId: String, name: String) async throws -> StateStream? {
        try await connection.first(
            "SELECT \(unsafeRaw: RunSQL.streamColumns) FROM state_streams WHERE run_id = \(runId) AND name = \(name)",
            RunSQL.decodeStream)
    }

    func stateVersions(runId: String, stream: String?, labeledOnly: Bool) async throws -> [StateVersion] {
        try await connection.all(
            RunSQL.stateVersions(runId: runId, stream: stream, labeledOnly: labeledOnly), RunSQL.decodeVersion)
    }

    func steps(runId: String, before: ListCursor?, newestFirstLimit limit: Int) async throws -> [Step] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: RunSQL.stepColumns) FROM steps WHERE run_id = \(runId)\(RunSQL.beyond(before, idColumn: "id")) \
            ORDER BY created_at DESC, id DESC LIMIT \(Int64(clamping: limit))
            """, RunSQL.decodeStep)
    }

    func stateVersions(runId: String, newestFirstLimit limit: Int) async throws -> [StateVersion] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: RunSQL.versionColumns) FROM state_versions WHERE run_id = \(runId) \
            ORDER BY created_at DESC, \(.insertionOrder) DESC LIMIT \(Int64(clamping: limit))
            """, RunSQL.decodeVersion)
    }

    func snapshots(runId: String) async throws -> [StateVersion] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: RunSQL.versionColumns) FROM state_versions WHERE run_id = \(runId) AND label IS NOT NULL \
            ORDER BY created_at DESC, \(.insertionOrder) DESC
            """, RunSQL.decodeVersion)
    }

    func edges(parentRunId: String) async throws -> [RunEdge] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: RunSQL.edgeColumns) FROM run_edges WHERE parent_run_id = \(parentRunId) \
            ORDER BY created_at, \(.insertionOrder)
            """, RunSQL.decodeEdge)
    }

    func edge(parentRunId: String, name: String) async throws -> RunEdge? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: RunSQL.edgeColumns) FROM run_edges WHERE parent_run_id = \(parentRunId) AND name = \(name)
            """, RunSQL.decodeEdge)
    }

    func gates(runId: String) async throws -> [Gate] {
        try await connection.all(
            "SELECT \(unsafeRaw: RunSQL.gateColumns) FROM gates WHERE run_id = \(runId) ORDER BY created_at, \(.insertionOrder)",
            RunSQL.decodeGate)
    }

    func gate(runId: String, id: String) async throws -> Gate? {
        try await connection.first(
            "SELECT \(unsafeRaw: RunSQL.gateColumns) FROM gates WHERE id = \(id) AND run_id = \(runId)",
            RunSQL.decodeGate)
    }

    func gate(runId: String, name: String) async throws -> Gate? {
        try await connection.first(
            "SELECT \(unsafeRaw: RunSQL.gateColumns) FROM gates WHERE run_id = \(runId) AND name = \(name)",
            RunSQL.decodeGate)
    }

    func usage(runId: String) async throws -> [UsageRecord] {
        try await connection.all(
            "SELECT \(unsafeRaw: RunSQL.usageColumns) FROM usage_records WHERE run_id = \(runId) ORDER BY created_at, \(.insertionOrder)",
            RunSQL.decodeUsage)
    }

    func usage(runId: String, newestFirstLimit limit: Int) async throws -> [UsageRecord] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: RunSQL.usageColumns) FROM usage_records WHERE run_id = \(runId) \
            ORDER BY created_at DESC, \(.insertionOrder) DESC LIMIT \(Int64(clamping: limit))
            """, RunSQL.decodeUsage)
    }

    func usageTotals(runId: String) async throws -> UsageTotals {
        try await connection.first(
            """
            SELECT COUNT(*), COALESCE(SUM(COALESCE(total_tokens, COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0))), 0), \
            COALESCE(SUM(cost_usd), 0) FROM usage_records WHERE run_id = \(runId)
            """
        ) { r in UsageTotals(records: r.int(), tokens: r.int(), costUsd: r.optionalDouble() ?? 0) }
            ?? UsageTotals(records: 0, tokens: 0, costUsd: 0)
    }

    func usage(runId: String, idempotencyKey: String) async throws -> UsageRecord? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: RunSQL.usageColumns) FROM usage_records \
            WHERE run_id = \(runId) AND idempotency_key = \(idempotencyKey)
            """,
            RunSQL.decodeUsage)
    }

    func channels(runId: String) async throws -> [Channel] {
        try await connection.all(
            "SELECT \(unsafeRaw: RunSQL.channelColumns) FROM channels WHERE run_id = \(runId) ORDER BY created_at, \(.insertionOrder)",
            RunSQL.decodeChannel)
    }

    func recoveryAttempts(runId: String) async throws -> [RecoveryAttempt] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: RunSQL.recoveryColumns) FROM recovery_attempts WHERE run_id = \(runId) \
            ORDER BY created_at DESC, \(.insertionOrder) DESC
            """, RunSQL.decodeRecovery)
    }

    func events(runId: String, after: Int64, limit: Int) async throws -> [RunEvent] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: RunSQL.eventColumns) FROM events WHERE run_id = \(runId) AND seq > \(after) \
            ORDER BY seq LIMIT \(Int64(clamping: limit))
            """, RunSQL.decodeEvent)
    }

    func events(runId: String, before: Int64, newestFirstLimit limit: Int) async throws -> [RunEvent] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: RunSQL.eventColumns) FROM events WHERE run_id = \(runId) AND seq < \(before) \
            ORDER BY seq DESC LIMIT \(Int64(clamping: limit))
            """, RunSQL.decodeEvent)
    }

    // MARK: Writes

    /// A row lock on Postgres; SQLite's single writer already serializes transactions.
    func runForUpdate(id: String, tenant: TenantID) async throws -> Run? {
        try await connection.first(RunSQL.run(id: id, tenant: tenant) + "\(SQL.Hook.forUpdate)", RunSQL.decodeRun)
    }

    func lock(_ key: String) async throws {
        guard connection.dialect == .postgres else { return }
        try await connection.run("SELECT pg_advisory_xact_lock(hashtextextended(\(key), 0))")
    }

    func insertRun(_ run: Run) async throws { try await connection.run(RunSQL.insertRun(run)) }
    func updateRun(_ run: Run) async throws { try await connection.run(RunSQL.updateRun(run)) }
    func insertStepIfNew(_ step: Step) async throws -> Bool {
        try await connection.first(RunSQL.insertStep(step) + " ON CONFLICT (run_id, name) DO NOTHING RETURNING id") {
            $0.string()
        } != nil
    }

    func startStep(_ step: Step, tenant: TenantID, eventPayload: RawJSON) async throws -> StepStart {
        let type = "step.started"
        switch connection.dialect {
        case .postgres:
            let sql = RunSQL.startStep(step, tenant: tenant, eventPayload: eventPayload)
            guard
                let (status, eventId, seq) = try await connection.first(
                    sql, { r in (r.string(), r.optionalInt(), r.int64()) })
            else { return .runNotFound }
            guard let eventId else { return status == RunStatus.cancelled.rawValue ? .runCancelled : .stepExists }
            appended([
                RunEvent(
                    id: Int64(eventId), runId: step.runId, seq: seq, type: type, payload: eventPayload,
                    createdAt: step.createdAt)
            ])
        case .sqlite:
            // One writer at a time: the same decisions, statement by statement.
            guard let run = try await runForUpdate(id: step.runId, tenant: tenant) else { return .runNotFound }
            if run.status == .cancelled { return .runCancelled }
            guard try await insertStepIfNew(step) else { return .stepExists }
            _ = try await appendEvent(runId: step.runId, type: type, payload: eventPayload, at: step.createdAt)
        }
        return .started
    }

    func updateStep(_ step: Step) async throws { try await connection.run(RunSQL.updateStep(step)) }

    func completeStep(
        runId: String, tenant: TenantID, stepId: String, leaseOwner: String, output: RawJSON?, at now: Timestamp
    ) async throws -> StepCompletion {
        let type = "step.completed"
        switch connection.dialect {
        case .postgres:
            let sql = RunSQL.completeStep(
                runId: runId, tenant: tenant, stepId: stepId, leaseOwner: leaseOwner, output: output, at: now)
            guard
                let row = try await connection.first(
                    sql,
                    { r -> (event: RunEvent, step: Step)? in
                        guard let id = r.optionalInt() else { return nil }
                        let seq = r.int64(), payload = r.string()
                        return (
                            RunEvent(
                                id: Int64(id), runId: runId, seq: seq, type: type, payload: payload, createdAt: now),
                            RunSQL.decodeStep(&r)
                        )
                    })
            else { return .runNotFound }
            guard let (event, step) = row else { return .leaseLost }
            appended([event])
            return .completed(step)
        case .sqlite:
            guard try await runForUpdate(id: runId, tenant: tenant) != nil else { return .runNotFound }
            guard
                let step = try await connection.first(
                    """
                    UPDATE steps SET \(RunSQL.completedStepAssignments(output: output, at: now)) \
                    WHERE \(RunSQL.stepKey(id: stepId, runId: "\(runId)")) AND lease_owner = \(leaseOwner) \
                    RETURNING \(unsafeRaw: RunSQL.stepColumns)
                    """, RunSQL.decodeStep)
            else { return .leaseLost }
            _ = try await appendEvent(runId: runId, type: type, payload: step.completedEventPayload, at: now)
            return .completed(step)
        }
    }
    func insertGate(_ gate: Gate) async throws { try await connection.run(RunSQL.insertGate(gate)) }

    func resolveGate(
        runId: String, gateId: String, token: String, decision: GateStatus, actor: String?, payload: RawJSON,
        at now: Timestamp
    ) async throws -> Gate? {
        try await connection.first(
            RunSQL.resolveGate(
                runId: runId, gateId: gateId, token: token, decision: decision, actor: actor, payload: payload, at: now),
            RunSQL.decodeGate)
    }

    func upsertState(_ state: RunState) async throws { try await connection.run(RunSQL.upsertState(state)) }

    func insertStateStream(_ s: StateStream) async throws {
        try await connection.run(
            """
            INSERT INTO state_streams (\(unsafeRaw: RunSQL.streamColumns)) VALUES (\(s.id), \(s.runId), \(s.name), \
            \(s.targetType), \(s.targetId), \(s.currentVersion), \(s.currentValue), \(s.metadata), \(s.createdAt), \
            \(s.updatedAt))
            """)
    }

    func updateStateStream(_ s: StateStream) async throws {
        try await connection.run(
            """
            UPDATE state_streams SET target_type = \(s.targetType), target_id = \(s.targetId), \
            current_version = \(s.currentVersion), current_value_json = \(s.currentValue), updated_at = \(s.updatedAt) \
            WHERE id = \(s.id)
            """)
    }

    func insertStateVersion(_ v: StateVersion) async throws {
        try await connection.run(
            """
            INSERT INTO state_versions (\(unsafeRaw: RunSQL.versionColumns), seq) VALUES (\(v.id), \(v.streamId), \
            \(v.runId), \(v.stepId), \(v.version), \(v.value), \(v.patch), \(v.label), \(v.reason), \
            \(v.importance.rawValue), \(v.metadata), \(v.createdBy), \(v.createdAt), \(RunSQL.nextEventSeq(ofRun: v.runId)))
            """)
    }

    func insertEdge(_ e: RunEdge) async throws {
        try await connection.run(
            """
            INSERT INTO run_edges (\(unsafeRaw: RunSQL.edgeColumns)) VALUES (\(e.id), \(e.parentRunId), \
            \(e.childRunId), \(e.name), \(e.edgeType), \(e.metadata), \(e.createdAt))
            """)
    }

    func insertUsage(_ u: UsageRecord, idempotencyKey: String?) async throws {
        try await connection.run(
            """
            INSERT INTO usage_records (\(unsafeRaw: RunSQL.usageColumns), idempotency_key) VALUES (\(u.id), \(u.runId), \
            \(u.stepId), \(u.kind), \(u.provider), \(u.model), \(u.label), \(u.quantity), \(u.unit), \(u.inputTokens), \
            \(u.outputTokens), \(u.totalTokens), \(u.costUsd), \(u.metadata), \(u.createdAt), \(idempotencyKey))
            """)
    }

    func insertChannel(_ c: Channel) async throws {
        let events = JSONValue.array(c.events.map { .string($0) }).jsonText
        try await connection.run(
            """
            INSERT INTO channels (\(unsafeRaw: RunSQL.channelColumns)) VALUES (\(c.id), \(c.runId), \(c.type), \
            \(c.url), \(c.secret), \(events), \(c.createdAt))
            """)
    }

    func insertRecoveryAttempt(_ r: RecoveryAttempt) async throws {
        try await connection.run(
            """
            INSERT INTO recovery_attempts (\(unsafeRaw: RunSQL.recoveryColumns)) VALUES (\(r.id), \(r.runId), \(r.reason), \
            \(r.webhookURL), \(r.status), \(r.httpStatus), \(r.responseBody), \(r.errorText), \(r.createdAt), \(r.completedAt))
            """)
    }

    func updateRecoveryAttempt(_ r: RecoveryAttempt) async throws {
        try await connection.run(
            """
            UPDATE recovery_attempts SET status = \(r.status), http_status = \(r.httpStatus), \
            response_body = \(r.responseBody), error_text = \(r.errorText), completed_at = \(r.completedAt) WHERE id = \(r.id)
            """)
    }

    func appendEvent(runId: String, type: String, payload: RawJSON, at now: Timestamp) async throws -> RunEvent {
        try await appendEvents([RunEventDraft(runId: runId, type: type, payload: payload)], at: now)[0]
    }

    /// Statements of at most 16 rows: few distinct texts, each few enough binds to prepare.
    func appendEvents(_ drafts: [RunEventDraft], at now: Timestamp) async throws -> [RunEvent] {
        precondition(Set(drafts.map(\.runId)).count == drafts.count, "one event per run in a batch")
        var byRun: [String: (id: Int64, seq: Int64)] = [:]
        for start in stride(from: 0, to: drafts.count, by: 16) {
            let chunk = drafts[start..<min(start + 16, drafts.count)]
            for (id, runId, seq) in try await connection.all(
                RunSQL.appendEvents(chunk, at: now), { ($0.int64(), $0.string(), $0.int64()) })
            {
                byRun[runId] = (id, seq)
            }
        }
        var events: [RunEvent] = []
        events.reserveCapacity(drafts.count)
        for d in drafts {
            guard let (id, seq) = byRun[d.runId] else { throw StoreInvariantError("event insert returned no row") }
            events.append(RunEvent(id: id, runId: d.runId, seq: seq, type: d.type, payload: d.payload, createdAt: now))
        }
        appended(events)
        return events
    }
}
