import CairnCore

/// The run store's SQL, shared by every engine, and the decoders of its rows.
enum RunSQL {
    static let runColumns = """
        id, tenant_id, workflow_name, input_json, metadata_json, status, result_json, error_json, recovery_webhook, \
        lease_owner, lease_expires_at, attempt, queue_name, dedupe_key, priority, run_at, max_attempts, deadline_at, \
        claimed_at, cancel_requested_at, cancelled_at, cancel_reason, cancel_actor, failure_class, created_at, \
        updated_at, completed_at
        """

    static func decodeRun<R: SQLRow>(_ r: inout R) -> Run {
        var run = Run(
            id: r.string(), tenant: TenantID(rawValue: r.string()), workflowName: r.string(), input: r.string(),
            metadata: r.string(), status: RunStatus(rawValue: r.string()) ?? .pending, recoveryWebhook: nil,
            now: Timestamp(milliseconds: 0))
        run.result = r.optionalString()
        run.error = r.optionalString()
        run.recoveryWebhook = r.optionalString()
        run.leaseOwner = r.optionalString()
        run.leaseExpiresAt = r.optionalTimestamp()
        run.attempt = r.int()
        run.queue = r.optionalString()
        run.dedupeKey = r.optionalString()
        run.priority = r.int()
        run.runAt = r.optionalTimestamp()
        run.maxAttempts = r.int()
        run.deadlineAt = r.optionalTimestamp()
        run.claimedAt = r.optionalTimestamp()
        run.cancelRequestedAt = r.optionalTimestamp()
        run.cancelledAt = r.optionalTimestamp()
        run.cancelReason = r.optionalString()
        run.cancelActor = r.optionalString()
        run.failureClass = r.optionalString()
        run.createdAt = r.timestamp()
        run.updatedAt = r.timestamp()
        run.completedAt = r.optionalTimestamp()
        return run
    }

    static func insertRun(_ run: Run) -> SQL {
        """
        INSERT INTO runs (\(unsafeRaw: runColumns)) VALUES (\(run.id), \(run.tenant.rawValue), \(run.workflowName), \
        \(run.input), \(run.metadata), \(run.status.rawValue), \(run.result), \(run.error), \(run.recoveryWebhook), \
        \(run.leaseOwner), \(run.leaseExpiresAt), \(run.attempt), \(run.queue), \(run.dedupeKey), \(run.priority), \
        \(run.runAt), \(run.maxAttempts), \(run.deadlineAt), \(run.claimedAt), \(run.cancelRequestedAt), \
        \(run.cancelledAt), \(run.cancelReason), \(run.cancelActor), \(run.failureClass), \(run.createdAt), \
        \(run.updatedAt), \(run.completedAt))
        """
    }

    static func updateRun(_ run: Run) -> SQL {
        """
        UPDATE runs SET status = \(run.status.rawValue), result_json = \(run.result), error_json = \(run.error), \
        recovery_webhook = \(run.recoveryWebhook), lease_owner = \(run.leaseOwner), \
        lease_expires_at = \(run.leaseExpiresAt), attempt = \(run.attempt), queue_name = \(run.queue), \
        dedupe_key = \(run.dedupeKey), priority = \(run.priority), run_at = \(run.runAt), \
        max_attempts = \(run.maxAttempts), deadline_at = \(run.deadlineAt), claimed_at = \(run.claimedAt), \
        cancel_requested_at = \(run.cancelRequestedAt), cancelled_at = \(run.cancelledAt), \
        cancel_reason = \(run.cancelReason), cancel_actor = \(run.cancelActor), failure_class = \(run.failureClass), \
        updated_at = \(run.updatedAt), completed_at = \(run.completedAt), metadata_json = \(run.metadata) \
        WHERE id = \(run.id)
        """
    }

    static func run(id: String, tenant: TenantID) -> SQL {
        "SELECT \(unsafeRaw: runColumns) FROM runs WHERE \(runKey(id: id, tenant: tenant))"
    }

    // A prepared statement's generic plan is made once per connection from the statistics of
    // the moment and kept until the table is next analyzed. Made while a table is nearly empty,
    // every index costs about the same, and Postgres was seen finding a run by id through a
    // tenant-leading index (reading all of the tenant's runs) and a step by id through
    // `(run_id, name)` (all of the run's steps: 0.37 ms a completion at 800 steps, against 0.1).
    // The second column of these lookups is therefore compared as `(…) IS TRUE`, which no index
    // serves, so the only plan is the primary key's whatever the statistics say.

    /// The condition that finds run `id` of `tenant` by the primary key alone.
    static func runKey(id: String, tenant: TenantID) -> SQL {
        "id = \(id) AND (tenant_id = \(tenant.rawValue)) IS TRUE"
    }

    /// The condition that finds step `id` of the run `runId` (a value or a subquery) by the
    /// primary key alone.
    static func stepKey(id: String, runId: SQL) -> SQL {
        "id = \(id) AND (run_id = \(runId)) IS TRUE"
    }

    /// A listing page; each filter adds one condition, so there are few distinct statements
    /// to prepare. The order matches the `runs_tenant_created` index, and with a status or
    /// workflow filter the `runs_tenant_status_created` or `runs_tenant_workflow_created` one.
    static func runs(tenant: TenantID, query: RunListQuery, now: Timestamp) -> SQL {
        var sql: SQL = "SELECT \(unsafeRaw: runColumns) FROM runs WHERE tenant_id = \(tenant.rawValue)"
        if let status = query.status { sql = sql + " AND status = \(status.rawValue)" }
        if let workflow = query.workflowName { sql = sql + " AND workflow_name = \(workflow)" }
        if let since = query.createdSince { sql = sql + " AND created_at >= \(since)" }
        if query.stalledOnly {
            sql =
                sql
                    + """
                     AND status = 'running' AND queue_name IS NULL AND recovery_webhook IS NULL \
                    AND lease_expires_at IS NOT NULL AND lease_expires_at < \(now)
                    """
        }
        // Oldest first reads the same indexes backwards.
        sql = sql + beyond(query.after, idColumn: "id", ascending: query.oldestFirst)
        let order: SQL = query.oldestFirst ? " ORDER BY created_at ASC, id ASC" : " ORDER BY created_at DESC, id DESC"
        return sql + order + " LIMIT \(query.limit)"
    }

    /// The condition that continues a listing ordered by (`created_at`, `idColumn`) past
    /// `cursor`: older records when it lists newest first, newer ones when `ascending`.
    static func beyond(_ cursor: ListCursor?, idColumn: String, ascending: Bool = false) -> SQL {
        guard let cursor else { return "" }
        let past = ascending ? ">" : "<"
        return """
             AND (created_at \(unsafeRaw: past) \(cursor.createdAt) OR (created_at = \(cursor.createdAt) \
            AND \(unsafeRaw: idColumn) \(unsafeRaw: past) \(cursor.id)))
            """
    }

    static func run(id: String) -> SQL { "SELECT \(unsafeRaw: runColumns) FROM runs WHERE id = \(id)" }

    // MARK: Steps

    static let stepColumns = """
        id, run_id, name, input_hash, input_json, options_json, resume_contract_json, status, output_json, error_json, \
        lease_owner, lease_expires_at, attempt, started_at, completed_at, completed_seq, created_at, updated_at
        """

    static func decodeStep<R: SQLRow>(_ r: inout R) -> Step {
        Step(
            id: r.string(), runId: r.string(), name: r.string(), inputHash: r.string(), input: r.string(),
            options: r.string(), resumeContract: r.string(), status: StepStatus(rawValue: r.string()) ?? .pending,
            output: r.optionalString(), error: r.optionalString(), leaseOwner: r.optionalString(),
            leaseExpiresAt: r.optionalTimestamp(), attempt: r.int(), startedAt: r.optionalTimestamp(),
            completedAt: r.optionalTimestamp(), completedSeq: r.optionalInt().map(Int64.init), createdAt: r.timestamp(),
            updatedAt: r.timestamp())
    }

    /// A step's values in `stepColumns` order.
    static func stepValues(_ s: Step) -> SQL {
        """
        \(s.id), \(s.runId), \(s.name), \(s.inputHash), \(s.input), \(s.options), \(s.resumeContract), \
        \(s.status.rawValue), \(s.output), \(s.error), \(s.leaseOwner), \(s.leaseExpiresAt), \(s.attempt), \
        \(s.startedAt), \(s.completedAt), \(s.completedSeq), \(s.createdAt), \(s.updatedAt)
        """
    }

    static func insertStep(_ s: Step) -> SQL {
        "INSERT INTO steps (\(unsafeRaw: stepColumns)) VALUES (\(stepValues(s)))"
    }

    // A step's begin and complete as single Postgres statements (`RunStore.writeStatement`):
    // the run's row lock first, then the step's write, then its event, each fed by the one
    // before, so nothing is written unless every earlier part found its row. The statement
    // numbers its event from its own snapshot, taken before it waited for the lock: a writer of
    // the same run that committed meanwhile makes that number clash on (run_id, seq), and the
    // store reruns the statement, as it reruns a transaction that lost a race.

    /// `RunWriteTransaction.startStep`. One row if the run exists (its status, and the new
    /// event's id and number if the step was inserted); none otherwise.
    static func startStep(_ s: Step, tenant: TenantID, eventPayload: RawJSON) -> SQL {
        """
        WITH run AS (SELECT status FROM runs WHERE \(runKey(id: s.runId, tenant: tenant)) FOR UPDATE), \
        step AS (INSERT INTO steps (\(unsafeRaw: stepColumns)) SELECT \(stepValues(s)) FROM run \
        WHERE run.status <> \(RunStatus.cancelled.rawValue) ON CONFLICT (run_id, name) DO NOTHING RETURNING run_id), \
        event AS (\(unsafeRaw: insertEvent) \
        SELECT step.run_id, \(nextEventSeq(of: "step.run_id")), 'step.started', \(eventPayload), \(s.createdAt) \
        FROM step RETURNING id, seq) \
        SELECT run.status, event.id, event.seq FROM run LEFT JOIN event ON TRUE
        """
    }

    /// The assignments that checkpoint a step's output and give up its lease. The completion's
    /// number is that of the `step.completed` event written with it (under the run's lock).
    static func completedStepAssignments(output: RawJSON?, at now: Timestamp) -> SQL {
        """
        status = \(StepStatus.completed.rawValue), output_json = \(output), error_json = NULL, lease_owner = NULL, \
        lease_expires_at = NULL, completed_at = \(now), completed_seq = \(nextEventSeq(of: "steps.run_id")), \
        updated_at = \(now)
        """
    }

    /// `RunWriteTransaction.completeStep`. One row if the run exists: the event's id, number and
    /// payload and the completed step, all null if the lease was not `leaseOwner`'s; none
    /// otherwise. The payload is `Step.completedEventPayload` built in SQL: `to_json` escapes a
    /// string exactly as `JSONWriter` does, and `json ->` returns a member's text as stored, which
    /// is `JSONWriter`'s (a store test compares the two on tricky input).
    static func completeStep(
        runId: String, tenant: TenantID, stepId: String, leaseOwner: String, output: RawJSON?, at now: Timestamp
    ) -> SQL {
        """
        WITH run AS (SELECT id FROM runs WHERE \(runKey(id: runId, tenant: tenant)) FOR UPDATE), \
        step AS (UPDATE steps SET \(completedStepAssignments(output: output, at: now)) \
        WHERE \(stepKey(id: stepId, runId: "(SELECT id FROM run)")) AND lease_owner = \(leaseOwner) \
        RETURNING \(unsafeRaw: stepColumns)), \
        event AS (\(unsafeRaw: insertEvent) \
        SELECT step.run_id, step.completed_seq, 'step.completed', \
        '{"stepId":' || to_json(step.id)::text || ',"name":' || to_json(step.name)::text || \
        ',"checkpointInvariant":' || \
        COALESCE((step.resume_contract_json::json -> 'checkpointInvariant')::text, 'null') || \
        ',"verifiedBy":' || COALESCE((step.resume_contract_json::json -> 'verifiedBy')::text, 'null') || '}', \
        \(now) FROM step RETURNING id, seq, payload_json) \
        SELECT event.id, event.seq, event.payload_json, step.* FROM run LEFT JOIN step ON TRUE LEFT JOIN event ON TRUE
        """
    }

    static func updateStep(_ s: Step) -> SQL {
        """
        UPDATE steps SET input_hash = \(s.inputHash), input_json = \(s.input), options_json = \(s.options), \
        resume_contract_json = \(s.resumeContract), status = \(s.status.rawValue), output_json = \(s.output), \
        error_json = \(s.error), lease_owner = \(s.leaseOwner), lease_expires_at = \(s.leaseExpiresAt), \
        attempt = \(s.attempt), started_at = \(s.startedAt), completed_at = \(s.completedAt), \
        updated_at = \(s.updatedAt) WHERE id = \(s.id)
        """
    }

    // MARK: Forks

    static let runForkColumns = "run_id, parent_run_id, step_name, point, point_run_id, point_seq, created_at"

    static func decodeRunFork<R: SQLRow>(_ r: inout R) -> RunFork {
        let (runId, parentRunId, stepName, point) = (r.string(), r.string(), r.string(), r.timestamp())
        let pointRunId = r.optionalString(), pointSeq = r.optionalInt()
        return RunFork(
            runId: runId, parentRunId: parentRunId, stepName: stepName, point: point,
            pointEvent: pointRunId.flatMap { id in pointSeq.map { EventPosition(runId: id, seq: Int64($0)) } },
            createdAt: r.timestamp())
    }

    // MARK: Gates

    static let gateColumns = """
        id, run_id, name, prompt, data_json, status, decision, actor, decision_json, capability_json, channels_json, \
        resolve_token, created_at, updated_at, resolved_at
        """

    static func decodeGate<R: SQLRow>(_ r: inout R) -> Gate {
        Gate(
            id: r.string(), runId: r.string(), name: r.string(), prompt: r.string(), data: r.string(),
            status: GateStatus(rawValue: r.string()) ?? .pending, decision: r.optionalString(),
            actor: r.optionalString(),
            decisionPayload: r.optionalString(), capability: r.optionalString(), channels: r.string(),
            resolveToken: r.string(), createdAt: r.timestamp(), updatedAt: r.timestamp(),
            resolvedAt: r.optionalTimestamp())
    }

    static func insertGate(_ g: Gate) -> SQL {
        """
        INSERT INTO gates (\(unsafeRaw: gateColumns)) VALUES (\(g.id), \(g.runId), \(g.name), \(g.prompt), \
        \(g.data), \(g.status.rawValue), \(g.decision), \(g.actor), \(g.decisionPayload), \(g.capability), \
        \(g.channels), \(g.resolveToken), \(g.createdAt), \(g.updatedAt), \(g.resolvedAt))
        """
    }

    /// The exactly-once resolution: only a pending gate with the right token changes.
    static func resolveGate(
        runId: String, gateId: String, token: String, decision: GateStatus, actor: String?, payload: RawJSON,
        at now: Timestamp
    ) -> SQL {
        """
        UPDATE gates SET status = \(decision.rawValue), decision = \(decision.rawValue), actor = \(actor), \
        decision_json = \(payload), resolved_at = \(now), updated_at = \(now) \
        WHERE run_id = \(runId) AND id = \(gateId) AND resolve_token = \(token) AND status = 'pending' \
        RETURNING \(unsafeRaw: gateColumns)
        """
    }

    // MARK: State

    static func decodeState<R: SQLRow>(_ r: inout R) -> RunState {
        RunState(runId: r.string(), value: r.string(), version: r.int(), updatedAt: r.timestamp())
    }

    static func upsertState(_ s: RunState) -> SQL {
        """
        INSERT INTO run_state (run_id, value_json, version, updated_at) VALUES (\(s.runId), \(s.value), \
        \(s.version), \(s.updatedAt)) ON CONFLICT (run_id) DO UPDATE SET value_json = excluded.value_json, \
        version = excluded.version, updated_at = excluded.updated_at
        """
    }

    static let streamColumns = """
        id, run_id, name, target_type, target_id, current_version, current_value_json, metadata_json, created_at, \
        updated_at
        """

    static func decodeStream<R: SQLRow>(_ r: inout R) -> StateStream {
        StateStream(
            id: r.string(), runId: r.string(), name: r.string(), targetType: r.string(), targetId: r.optionalString(),
            currentVersion: r.int(), currentValue: r.string(), metadata: r.string(), createdAt: r.timestamp(),
            updatedAt: r.timestamp())
    }

    static let versionColumns = """
        id, stream_id, run_id, step_id, version, value_json, patch_json, label, reason, importance, metadata_json, \
        created_by, created_at
        """

    static func decodeVersion<R: SQLRow>(_ r: inout R) -> StateVersion {
        StateVersion(
            id: r.string(), streamId: r.string(), runId: r.string(), stepId: r.optionalString(), version: r.int(),
            value: r.string(), patch: r.optionalString(), label: r.optionalString(), reason: r.optionalString(),
            importance: StateImportance(rawValue: r.string()) ?? .normal, metadata: r.string(),
            createdBy: r.optionalString(), createdAt: r.timestamp())
    }

    static func stateVersions(runId: String, stream: String?, labeledOnly: Bool) -> SQL {
        var sql: SQL = """
            SELECT \(unsafeRaw: versionColumns.split(separator: ",").map { "v." + $0.trimmingSpaces }.joined(separator: ", ")) \
            FROM state_versions v JOIN state_streams s ON s.id = v.stream_id WHERE v.run_id = \(runId)
            """
        if let stream { sql = sql + " AND s.name = \(stream)" }
        if labeledOnly { sql = sql + " AND v.label IS NOT NULL" }
        return sql + " ORDER BY s.name ASC, v.version ASC"
    }

    // MARK: Edges, usage, channels, events

    static let edgeColumns = "id, parent_run_id, child_run_id, name, edge_type, metadata_json, created_at"

    static func decodeEdge<R: SQLRow>(_ r: inout R) -> RunEdge {
        RunEdge(
            id: r.string(), parentRunId: r.string(), childRunId: r.string(), name: r.string(), edgeType: r.string(),
            metadata: r.string(), createdAt: r.timestamp())
    }

    static let usageColumns = """
        id, run_id, step_id, kind, provider, model, label, quantity, unit, input_tokens, output_tokens, total_tokens, \
        cost_usd, metadata_json, created_at
        """

    static func decodeUsage<R: SQLRow>(_ r: inout R) -> UsageRecord {
        UsageRecord(
            id: r.string(), runId: r.string(), stepId: r.optionalString(), kind: r.string(),
            provider: r.optionalString(),
            model: r.optionalString(), label: r.optionalString(), quantity: r.optionalDouble(),
            unit: r.optionalString(),
            inputTokens: r.optionalInt(), outputTokens: r.optionalInt(), totalTokens: r.optionalInt(),
            costUsd: r.optionalDouble(), metadata: r.string(), createdAt: r.timestamp())
    }

    static let channelColumns = "id, run_id, type, url, secret, events_json, created_at"

    static func decodeChannel<R: SQLRow>(_ r: inout R) -> Channel {
        let id = r.string(), runId = r.string(), type = r.string(), url = r.string(), secret = r.optionalString()
        let eventsText = r.string()
        let events = (try? JSONParser.parse(eventsText))?.arrayValue?.compactMap(\.stringValue) ?? []
        return Channel(
            id: id, runId: runId, type: type, url: url, secret: secret, events: events, createdAt: r.timestamp())
    }

    static let recoveryColumns = """
        id, run_id, reason, webhook_url, status, http_status, response_body, error_text, created_at, completed_at
        """

    static func decodeRecovery<R: SQLRow>(_ r: inout R) -> RecoveryAttempt {
        RecoveryAttempt(
            id: r.string(), runId: r.string(), reason: r.string(), webhookURL: r.string(), status: r.string(),
            httpStatus: r.optionalInt(), responseBody: r.optionalString(), errorText: r.optionalString(),
            createdAt: r.timestamp(), completedAt: r.optionalTimestamp())
    }

    static let eventColumns = "id, run_id, seq, type, payload_json, created_at"

    static func decodeEvent<R: SQLRow>(_ r: inout R) -> RunEvent {
        RunEvent(
            id: r.int64(), runId: r.string(), seq: r.int64(), type: r.string(), payload: r.string(),
            createdAt: r.timestamp())
    }

    /// Queued runs due at `now`, by priority then due time, locked and skipping rows another
    /// claimer holds; with `unlessCapped`, none if the queue has a cap or is paused.
    static func dueRuns(
        columns: String, tenant: TenantID, queue: String, now: Timestamp, limit: Int, unlessCapped: Bool
    ) -> SQL {
        let uncapped: SQL =
            unlessCapped
            ? """
             AND NOT EXISTS (SELECT 1 FROM queue_configs c WHERE c.tenant_id = \(tenant.rawValue) \
            AND c.name = \(queue) AND (c.concurrency IS NOT NULL OR c.rate_per_minute IS NOT NULL \
            OR c.paused_at IS NOT NULL))
            """ : ""
        return """
            SELECT \(unsafeRaw: columns) FROM runs WHERE tenant_id = \(tenant.rawValue) \
            AND queue_name = \(queue) AND status = 'queued' AND run_at <= \(now)\(uncapped) \
            ORDER BY priority DESC, run_at ASC, created_at ASC LIMIT \(limit)\(SQL.Hook.forUpdateSkipLocked)
            """
    }

    static let qualifiedRunColumns = runColumns.split(separator: ",").map { "runs." + $0.trimmingSpaces }
        .joined(separator: ", ")

    /// `QueueWriteTransaction.claimUncapped` as one Postgres statement: the due runs locked, marked
    /// claimed and given their events (numbered as in `startStep`). One row per claimed run, in
    /// claim order (whether the queue is capped and not paused, the event's id and number, the
    /// run), or a single row of the flag and nulls when none was claimed.
    static func claimUncapped(
        tenant: TenantID, queue: String, owner: String, leaseExpiresAt: Timestamp, limit: Int, eventPayload: RawJSON,
        at now: Timestamp
    ) -> SQL {
        """
        WITH due AS (\(dueRuns(columns: "id", tenant: tenant, queue: queue, now: now, limit: limit, unlessCapped: true))), \
        claimed AS (UPDATE runs SET \(claimedRunAssignments(owner: owner, leaseExpiresAt: leaseExpiresAt, at: now)) \
        FROM due WHERE runs.id = due.id RETURNING \(unsafeRaw: qualifiedRunColumns)), \
        event AS (\(unsafeRaw: insertEvent) \
        SELECT claimed.id, \(nextEventSeq(of: "claimed.id")), 'run.claimed', \(eventPayload), \(now) FROM claimed \
        RETURNING id, run_id, seq) \
        SELECT EXISTS (SELECT 1 FROM queue_configs c WHERE c.tenant_id = \(tenant.rawValue) AND c.name = \(queue) \
        AND c.paused_at IS NULL AND (c.concurrency IS NOT NULL OR c.rate_per_minute IS NOT NULL)), \
        event.id, event.seq, claimed.* FROM (SELECT 1) AS one \
        LEFT JOIN (claimed JOIN event ON event.run_id = claimed.id) ON TRUE \
        ORDER BY claimed.priority DESC, claimed.run_at ASC, claimed.created_at ASC
        """
    }

    /// The assignments that mark a run claimed by `owner` (`Run.claimed`).
    static func claimedRunAssignments(owner: String, leaseExpiresAt: Timestamp, at now: Timestamp) -> SQL {
        """
        status = 'running', lease_owner = \(owner), lease_expires_at = \(leaseExpiresAt), \
        attempt = attempt + 1, claimed_at = \(now), updated_at = \(now)
        """
    }

    /// Marks runs claimed by their ids alone. They were selected in the same transaction by
    /// tenant and queue, so a tenant term adds no check, and it costs: with `tenant_id = ? AND
    /// id IN (…)`, SQLite's planner updates through the tenant's creation index, reading every
    /// run of the tenant, instead of looking the ids up by primary key.
    static func markClaimed(
        _ runIds: ArraySlice<String>, owner: String, leaseExpiresAt: Timestamp, at now: Timestamp
    ) -> SQL {
        let ids = runIds.map { id -> SQL in "\(id)" }.joined(separator: ", ")
        return
            "UPDATE runs SET \(claimedRunAssignments(owner: owner, leaseExpiresAt: leaseExpiresAt, at: now)) WHERE id IN (\(ids))"
    }

    /// One event for each of several different runs in one statement: each numbered one past its
    /// run's last event, found by an index probe on `(run_id, seq)` whatever the run's length.
    /// Writers to one run are serialized (the single SQLite writer; the run's row lock on
    /// Postgres, which the caller holds), so the numbers are free; `UNIQUE (run_id, seq)` backs
    /// it up. Rows come back as `id, run_id, seq`, in no promised order.
    static func appendEvents(_ drafts: ArraySlice<RunEventDraft>, at now: Timestamp) -> SQL {
        let values = drafts.map { d -> SQL in "(\(d.runId), \(d.type), \(d.payload))" }.joined(separator: ", ")
        return """
            \(unsafeRaw: insertEvent) \
            SELECT v.column1, \(nextEventSeq(of: "v.column1")), v.column2, v.column3, \(now) \
            FROM (VALUES \(values)) AS v RETURNING id, run_id, seq
            """
    }

    static let insertEvent = "INSERT INTO events (run_id, seq, type, payload_json, created_at)"

    /// The number of a run's next event: one past its last (a run's log is gap-free).
    static func nextEventSeq(of runIdColumn: String) -> SQL {
        "(SELECT COALESCE(MAX(e.seq), 0) + 1 FROM events e WHERE e.run_id = \(unsafeRaw: runIdColumn))"
    }

    /// The number run `runId`'s next event will take.
    static func nextEventSeq(ofRun runId: String) -> SQL {
        "(SELECT COALESCE(MAX(e.seq), 0) + 1 FROM events e WHERE e.run_id = \(runId))"
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(
            self.drop(while: { $0 == " " || $0 == "\n" }).reversed().drop(while: { $0 == " " || $0 == "\n" }).reversed()
        )
    }
}
