/// The checkpoint protocol's behaviour (SnapState): saves with etags, diffs and TTL, resume,
/// replay, webhooks, agents and analytics, each scoped to one tenant.
public struct CheckpointService: Sendable {
    public struct Configuration: Sendable {
        /// How long a workflow lives after its latest save unless the save says otherwise.
        public var defaultTTLSeconds: Int64 = 604_800
        /// The longest TTL a save may ask for (100 years).
        public static let maxTTLSeconds: Int64 = 3_155_760_000
        /// Largest state, in bytes of compact JSON.
        public var maxStateBytes = 1_048_576
        public var maxAgentsPerTenant = 50
        public init() {}
    }

    public let store: any RunStore
    public let configuration: Configuration
    /// What TTLs, expiry and analytics periods are measured by.
    public let clock: any WallClock
    /// Told after a commit that recorded webhook deliveries, so they go out at once.
    public let deliveriesRecorded: @Sendable () -> Void
    let latestStates = LatestStateCache(budgetBytes: 64 << 20)

    public init(
        store: any RunStore, configuration: Configuration = .init(), clock: any WallClock = SystemClock(),
        deliveriesRecorded: @escaping @Sendable () -> Void = {}
    ) {
        self.store = store
        self.configuration = configuration
        self.clock = clock
        self.deliveriesRecorded = deliveriesRecorded
    }

    // MARK: Checkpoints

    public struct SaveRequest: Sendable {
        public var workflowId: String
        public var step: Int
        /// A JSON object.
        public var state: JSONValue
        public var label: String?
        public var agentId: String?
        public var metadata: JSONObject?
        public var ttlSeconds: Int64?
        public var ifMatch: String?

        public init(
            workflowId: String, step: Int, state: JSONValue, label: String? = nil, agentId: String? = nil,
            metadata: JSONObject? = nil, ttlSeconds: Int64? = nil, ifMatch: String? = nil
        ) {
            self.workflowId = workflowId
            self.step = step
            self.state = state
            self.label = label
            self.agentId = agentId
            self.metadata = metadata
            self.ttlSeconds = ttlSeconds
            self.ifMatch = ifMatch
        }
    }

    public struct SavedCheckpoint: Sendable {
        public var checkpoint: Checkpoint
        /// When the workflow expires, as of this save.
        public var expiresAt: Timestamp
        /// True when `If-Match` named the stored etag of an existing step: the stored record is
        /// returned and nothing is written.
        public var replayed: Bool
    }

    /// Saves a step. A step is immutable: saving it again is a conflict, unless `If-Match`
    /// carries its etag, which makes the call an idempotent replay of the original save.
    public func save(_ request: SaveRequest, tenant: TenantID) async throws -> SavedCheckpoint {
        // The protocol's bounds on a save, which its routes check field by field; checked here
        // too for callers without them (the SDK's embedded mode).
        guard (1...128).contains(request.workflowId.count), request.step >= 0,
            (request.label?.count ?? 0) <= 256, (request.agentId?.count ?? 0) <= 255
        else {
            throw CheckpointError.invalid(
                "workflow_id must be 1 to 128 characters, step >= 0, label at most 256 and agent_id at most 255")
        }
        let stateText = request.state.jsonText
        let size = stateText.utf8.count
        guard size <= configuration.maxStateBytes else {
            throw CheckpointError.stateTooLarge(limit: configuration.maxStateBytes)
        }
        let etag = Checkpoint.etag(state: stateText)
        let metadata =
            request.agentId.map {
                (request.metadata ?? JSONObject()).merging(JSONObject([("agent_id", .string($0))]))
            } ?? request.metadata
        let metadataText = metadata.map { JSONValue.object($0).jsonText }
        let failure = Self.failure(in: metadata)
        let status = Self.status(metadata: metadata, failed: failure != nil)
        let ttlMs = try ttlMilliseconds(request.ttlSeconds)

        // The diff is computed before the write transaction, against the latest save seen
        // then (from the cache of recent states, else read), so the single writer does not
        // parse states; it is redone inside only if another save of the workflow committed in
        // between.
        let cacheKey = LatestStateCache.Key(tenant: tenant, workflowId: request.workflowId)
        // A save is identified by its sequence and time: a workflow re-created after expiry
        // cannot repeat both.
        let seen: (total: Int?, savedAt: Timestamp?, latestState: JSONValue?)
        if let cached = latestStates.entry(cacheKey) {
            seen = (cached.sequence, cached.savedAt, cached.state)
        } else {
            let seenAt = clock.now()
            let read = try await store.read { tx -> (total: Int?, savedAt: Timestamp?, latestState: RawJSON?) in
                guard let head = try await tx.checkpointWorkflow(tenant: tenant, workflowId: request.workflowId),
                    !head.isExpired(at: seenAt)
                else { return (nil, nil, nil) }
                let latest = try await CheckpointHistory.of(head, tx).checkpoint(step: head.latestStep, tx)
                return (head.totalCheckpoints, head.lastActivityAt, latest?.checkpoint.state)
            }
            seen = (read.total, read.savedAt, read.latestState.flatMap { try? JSONParser.parse($0) })
        }
        let diffBudget = StateDiff.budget(stateBytes: size)
        let precomputedDiff = StateDiff(previous: seen.latestState, next: request.state, budgetBytes: diffBudget).json

        let (saved, recorded) = try await store.write { tx -> (SavedCheckpoint, Int) in
            let now = clock.now()
            var head = try await tx.checkpointWorkflowForUpdate(tenant: tenant, workflowId: request.workflowId)
            var recorded = 0
            if let expired = head, expired.isExpired(at: now) {
                recorded += try await Self.expire(expired, tx: tx, at: now)
                head = nil
            }
            // A fork sees (and may not save again) the steps it reads through its parent.
            var history: CheckpointHistory?
            if let head { history = try await CheckpointHistory.of(head, tx) }
            if let head, let (existing, _) = try await history?.checkpoint(step: request.step, tx) {
                guard let ifMatch = request.ifMatch else {
                    throw CheckpointError.checkpointExists(id: existing.id, etag: existing.etag)
                }
                guard ifMatch == existing.etag else { throw CheckpointError.etagMismatch }
                return (SavedCheckpoint(checkpoint: existing, expiresAt: head.expiresAt, replayed: true), recorded)
            }
            var diff = precomputedDiff
            if head?.totalCheckpoints != seen.total || head?.lastActivityAt != seen.savedAt {
                var latestState: RawJSON?
                if let head, let history {
                    latestState = try await history.checkpoint(step: head.latestStep, tx)?.checkpoint.state
                }
                diff = Self.diff(previous: latestState, next: request.state, budgetBytes: diffBudget)
            }
            let sequence = (head?.totalCheckpoints ?? 0) + 1
            let checkpoint = Checkpoint(
                tenant: tenant, workflowId: request.workflowId, step: request.step, sequence: sequence,
                label: request.label, state: stateText, metadata: metadataText,
                agentId: request.agentId, etag: etag, diff: diff, sizeBytes: size, errorType: failure?.type,
                errorMessage: failure?.message, createdAt: now)
            let workflow = CheckpointWorkflow(
                tenant: tenant, workflowId: request.workflowId, latestStep: request.step, totalCheckpoints: sequence,
                totalSizeBytes: (head?.totalSizeBytes ?? 0) + size,
                errorCount: (head?.errorCount ?? 0) + (failure == nil ? 0 : 1), status: status,
                resumed: head?.resumed ?? false, startedAt: head?.startedAt ?? now, lastActivityAt: now,
                expiresAt: now.adding(milliseconds: ttlMs),
                unorderedFrom: head.flatMap { h in h.unorderedFrom ?? (request.step > h.latestStep ? nil : sequence) })
            try await tx.insertCheckpoint(
                checkpoint,
                runningTotals: CheckpointRunningTotals(
                    sizeBytes: workflow.totalSizeBytes, errorCount: workflow.errorCount))
            try await tx.upsertCheckpointWorkflow(workflow)
            if let agentId = request.agentId {
                try await tx.recordWorkflowAgent(
                    tenant: tenant, workflowId: request.workflowId, agentId: agentId, at: now)
                try await tx.touchAgent(tenant: tenant, agentId: agentId, at: now)
            }
            recorded += try await Self.recordWebhookDeliveries(
                tx: tx, tenant: tenant, event: .checkpointSaved,
                data: jsonObject { w in
                    w.field("workflow_id", checkpoint.workflowId)
                    w.field("checkpoint_id", checkpoint.id)
                    w.field("step", checkpoint.step)
                }, at: now)
            return (SavedCheckpoint(checkpoint: checkpoint, expiresAt: workflow.expiresAt, replayed: false), recorded)
        }
        if recorded > 0 { deliveriesRecorded() }
        if !saved.replayed {
            latestStates.store(
                cacheKey,
                .init(
                    sequence: saved.checkpoint.sequence, savedAt: saved.checkpoint.createdAt, state: request.state,
                    bytes: LatestStateCache.footprint(of: request.state)))
        }
        return saved
    }

    /// A checkpoint by the id its save returned, with its workflow's expiry.
    public func checkpoint(id: String, tenant: TenantID) async throws -> (Checkpoint, expiresAt: Timestamp) {
        guard let (workflowId, step) = Checkpoint.parse(id: id) else { throw CheckpointError.checkpointNotFound(id) }
        let now = clock.now()
        return try await store.read { tx in
            guard let head = try await tx.checkpointWorkflow(tenant: tenant, workflowId: workflowId),
                !head.isExpired(at: now),
                let (checkpoint, _) = try await CheckpointHistory.of(head, tx).checkpoint(step: step, tx)
            else { throw CheckpointError.checkpointNotFound(id) }
            return (checkpoint, head.expiresAt)
        }
    }

    // MARK: Workflows

    /// The latest save of a live workflow. Reads the head and one checkpoint, whatever the
    /// history length; writes only to mark the workflow resumed the first time and to record
    /// `workflow.resumed` deliveries when a webhook wants them.
    /// The tenant's live workflows, most recently active first, one page at a time (a Cairn
    /// extension: the reference has no listing).
    public func workflows(tenant: TenantID, limit: Int, after: ListCursor?) async throws
        -> (workflows: [CheckpointWorkflow], next: ListCursor?)
    {
        guard (1...1000).contains(limit) else { throw CheckpointError.invalid("limit must be 1...1000") }
        let now = clock.now()
        let found = try await store.read { tx in
            try await tx.checkpointWorkflows(tenant: tenant, now: now, after: after, limit: limit + 1)
        }
        guard found.count > limit else { return (found, nil) }
        let page = Array(found.prefix(limit))
        return (page, page.last.map { ListCursor(createdAt: $0.lastActivityAt, id: $0.workflowId) })
    }

    public func resume(workflowId: String, tenant: TenantID) async throws -> (CheckpointWorkflow, Checkpoint) {
        let now = clock.now()
        // The usual case is one statement (the head joined to its latest save), run alone.
        let point = try await store.readStatement { tx in
            try await tx.resumePoint(tenant: tenant, workflowId: workflowId, webhookEvent: .workflowResumed)
        }
        let (head, latest, needsWrite): (CheckpointWorkflow, Checkpoint, Bool)
        if let (found, latestSave, notify) = point {
            guard !found.isExpired(at: now) else { throw CheckpointError.workflowNotFound(workflowId) }
            (head, latest, needsWrite) = (found, latestSave, !found.resumed || notify)
        } else {
            // A fork that has not saved yet: its latest save is read through its parent.
            (head, latest, needsWrite) = try await store.read { tx in
                guard let head = try await tx.checkpointWorkflow(tenant: tenant, workflowId: workflowId), head.isFork,
                    !head.isExpired(at: now),
                    let (latest, _) = try await CheckpointHistory.of(head, tx).checkpoint(step: head.latestStep, tx)
                else { throw CheckpointError.workflowNotFound(workflowId) }
                let notify = try await tx.checkpointWebhooks(tenant: tenant).contains {
                    $0.events.contains(CheckpointEvent.workflowResumed.rawValue)
                }
                return (head, latest, !head.resumed || notify)
            }
        }
        if needsWrite {
            let recorded = try await store.write { tx -> Int in
                guard var current = try await tx.checkpointWorkflowForUpdate(tenant: tenant, workflowId: workflowId)
                else {
                    return 0
                }
                if !current.resumed {
                    current.resumed = true
                    try await tx.upsertCheckpointWorkflow(current)
                }
                return try await Self.recordWebhookDeliveries(
                    tx: tx, tenant: tenant, event: .workflowResumed,
                    data: jsonObject { w in
                        w.field("workflow_id", workflowId)
                        w.field("step", latest.step)
                    }, at: clock.now())
            }
            if recorded > 0 { deliveriesRecorded() }
        }
        return (head, latest)
    }

    /// Saves in save order with steps in `[fromStep, toStep]`, at most `limit`, and whether
    /// more match. An unknown or expired workflow is an empty page.
    public func replay(workflowId: String, fromStep: Int?, toStep: Int?, limit: Int, tenant: TenantID) async throws
        -> (checkpoints: [Checkpoint], hasMore: Bool)
    {
        let now = clock.now()
        return try await store.read { tx in
            guard let head = try await tx.checkpointWorkflow(tenant: tenant, workflowId: workflowId),
                !head.isExpired(at: now)
            else { return ([], false) }
            var page = try await CheckpointHistory.of(head, tx).checkpoints(
                fromStep: fromStep, toStep: toStep, limit: limit + 1, tx)
            let hasMore = page.count > limit
            if hasMore { page.removeLast() }
            return (page, hasMore)
        }
    }

    /// Deletes workflows whose TTL has passed and records `workflow.expired` for each.
    @discardableResult
    public func expireWorkflows(limit: Int) async throws -> [CheckpointWorkflow] {
        let (expired, recorded) = try await store.write { tx -> ([CheckpointWorkflow], Int) in
            let now = clock.now()
            let due = try await tx.expiredCheckpointWorkflows(now: now, limit: limit)
            var recorded = 0
            for workflow in due { recorded += try await Self.expire(workflow, tx: tx, at: now) }
            return (due, recorded)
        }
        if recorded > 0 { deliveriesRecorded() }
        return expired
    }

    static func expire(_ workflow: CheckpointWorkflow, tx: any RunWriteTransaction, at now: Timestamp)
        async throws -> Int
    {
        try await detachForks(of: workflow, tx: tx)
        try await tx.deleteCheckpointWorkflow(tenant: workflow.tenant, workflowId: workflow.workflowId)
        return try await recordWebhookDeliveries(
            tx: tx, tenant: workflow.tenant, event: .workflowExpired,
            data: jsonObject { $0.field("workflow_id", workflow.workflowId) }, at: now)
    }

    // MARK: Webhooks

    public func registerWebhook(url: String, events: [String], secret: String?, tenant: TenantID) async throws
        -> CheckpointWebhook
    {
        let hook = CheckpointWebhook(
            id: "wh_" + String(Identifier.randomHex().prefix(24)), tenant: tenant, url: url, events: events,
            secret: secret, createdAt: clock.now())
        try await store.write { tx in try await tx.insertCheckpointWebhook(hook) }
        return hook
    }

    public func webhooks(tenant: TenantID) async throws -> [CheckpointWebhook] {
        try await store.read { tx in try await tx.checkpointWebhooks(tenant: tenant) }
    }

    public func deleteWebhook(id: String, tenant: TenantID) async throws {
        let deleted = try await store.write { tx in try await tx.deleteCheckpointWebhook(tenant: tenant, id: id) }
        if !deleted { throw CheckpointError.webhookNotFound(id) }
    }

    /// Records one delivery per webhook of the tenant that wants `event`; the body is
    /// `{event, webhook_id, timestamp, data}`, fixed now so that retries send the same bytes.
    static func recordWebhookDeliveries(
        tx: any RunWriteTransaction, tenant: TenantID, event: CheckpointEvent, data: RawJSON, at now: Timestamp
    ) async throws -> Int {
        let hooks = try await tx.checkpointWebhooks(tenant: tenant).filter { $0.events.contains(event.rawValue) }
        for hook in hooks {
            let body = jsonObject { w in
                w.field("event", event.rawValue)
                w.field("webhook_id", hook.id)
                w.field("timestamp", timestamp: now)
                w.field("data", raw: data)
            }
            try await tx.insertDelivery(
                ChannelDelivery(
                    id: Identifier.make("del_"), kind: .checkpointWebhook, runId: nil, channelId: hook.id, gateId: nil,
                    url: hook.url, secret: hook.secret, eventType: event.rawValue, payload: body, status: "pending",
                    attempts: 0, nextAttemptAt: now, createdAt: now))
        }
        return hooks.count
    }

    // MARK: Agents

    public struct AgentFields: Sendable {
        public var name: String?
        public var description: String?
        /// A JSON array.
        public var capabilities: RawJSON
        /// A JSON object.
        public var metadata: RawJSON
        public init(name: String?, description: String?, capabilities: RawJSON, metadata: RawJSON) {
            self.name = name
            self.description = description
            self.capabilities = capabilities
            self.metadata = metadata
        }
    }

    /// Creates or replaces an agent's fields (its serial, creation and last-seen times stay).
    public func upsertAgent(agentId: String, fields: AgentFields, tenant: TenantID) async throws -> Agent {
        let limit = configuration.maxAgentsPerTenant
        return try await store.write { tx in
            try await tx.lock("agents/" + tenant.rawValue)
            if try await tx.agent(tenant: tenant, agentId: agentId) == nil,
                try await tx.agentCount(tenant: tenant) >= limit
            {
                throw CheckpointError.maxAgentsReached(limit)
            }
            return try await tx.upsertAgent(
                Agent(
                    serial: 0, tenant: tenant, agentId: agentId, name: fields.name, description: fields.description,
                    capabilities: fields.capabilities, metadata: fields.metadata, lastSeenAt: nil,
                    createdAt: clock.now()))
        }
    }

    public func agents(tenant: TenantID) async throws -> [Agent] {
        try await store.read { tx in try await tx.agents(tenant: tenant) }
    }

    public func agent(agentId: String, tenant: TenantID) async throws -> Agent {
        guard let agent = try await store.read({ tx in try await tx.agent(tenant: tenant, agentId: agentId) }) else {
            throw CheckpointError.agentNotFound(agentId)
        }
        return agent
    }

    public struct AgentChanges: Sendable {
        public var name: FieldUpdate<String> = .keep
        public var description: FieldUpdate<String> = .keep
        public var capabilities: RawJSON?
        public var metadata: RawJSON?
        public init() {}
        public var isEmpty: Bool {
            name == .keep && description == .keep && capabilities == nil && metadata == nil
        }
    }

    public func updateAgent(agentId: String, changes: AgentChanges, tenant: TenantID) async throws -> Agent {
        if changes.isEmpty { throw CheckpointError.noUpdatableFields }
        return try await store.write { tx in
            try await tx.lock("agents/" + tenant.rawValue)
            guard var agent = try await tx.agent(tenant: tenant, agentId: agentId) else {
                throw CheckpointError.agentNotFound(agentId)
            }
            agent.name = changes.name.applied(to: agent.name)
            agent.description = changes.description.applied(to: agent.description)
            agent.capabilities = changes.capabilities ?? agent.capabilities
            agent.metadata = changes.metadata ?? agent.metadata
            try await tx.updateAgent(agent)
            return agent
        }
    }

    public func deleteAgent(agentId: String, tenant: TenantID) async throws {
        let deleted = try await store.write { tx in try await tx.deleteAgent(tenant: tenant, agentId: agentId) }
        if !deleted { throw CheckpointError.agentNotFound(agentId) }
    }

    // MARK: Analytics

    public func overview(from: Timestamp, to: Timestamp, tenant: TenantID) async throws
        -> (WorkflowTotals, topAgents: [AgentActivity])
    {
        try await store.read { tx in
            let totals = try await tx.workflowTotals(tenant: tenant, from: from, to: to)
            let agents = try await tx.agentActivity(tenant: tenant, from: from, to: to)
            return (totals, Array(agents.prefix(10)))
        }
    }

    public struct WorkflowTimeline: Sendable {
        public var workflow: CheckpointWorkflow
        public var agents: [String]
        /// The first 1,000 saves, in save order.
        public var checkpoints: [Checkpoint]
    }

    public func timeline(workflowId: String, tenant: TenantID) async throws -> WorkflowTimeline {
        let now = clock.now()
        return try await store.read { tx in
            guard let head = try await tx.checkpointWorkflow(tenant: tenant, workflowId: workflowId),
                !head.isExpired(at: now)
            else { throw CheckpointError.workflowNotFound(workflowId) }
            let history = try await CheckpointHistory.of(head, tx)
            return WorkflowTimeline(
                workflow: head, agents: try await history.agents(tx),
                checkpoints: try await history.checkpoints(fromStep: nil, toStep: nil, limit: 1000, tx))
        }
    }

    public struct FailureReport: Sendable {
        public var counts: FailureCounts
        public var agentActivity: [AgentActivity]
        public var recent: [Checkpoint]
    }

    public func failures(since: Timestamp, agentId: String?, tenant: TenantID) async throws -> FailureReport {
        try await store.read { tx in
            FailureReport(
                counts: try await tx.failureCounts(tenant: tenant, since: since),
                agentActivity: try await tx.agentActivity(tenant: tenant, from: since, to: clock.now()),
                recent: try await tx.failedCheckpoints(tenant: tenant, since: since, agentId: agentId, limit: 20))
        }
    }

    /// Registered agents and agents seen in workflows, with their activity in the period.
    public func agentReport(from: Timestamp, to: Timestamp, tenant: TenantID) async throws
        -> [(agentId: String, agent: Agent?, activity: AgentActivity?)]
    {
        try await store.read { tx in
            let registered = try await tx.agents(tenant: tenant)
            let activity = try await tx.agentActivity(tenant: tenant, from: from, to: to)
            var rows: [(agentId: String, agent: Agent?, activity: AgentActivity?)] = activity.map { a in
                (a.agentId, registered.first { $0.agentId == a.agentId }, a)
            }
            let active = Set(activity.map(\.agentId))
            for agent in registered where !active.contains(agent.agentId) { rows.append((agent.agentId, agent, nil)) }
            return rows
        }
    }

    // MARK: Helpers

    /// A TTL from the wire (nil: the default) in milliseconds, once checked against the bounds.
    func ttlMilliseconds(_ seconds: Int64?) throws -> Int64 {
        let ttlSeconds = seconds ?? configuration.defaultTTLSeconds
        guard (1...Configuration.maxTTLSeconds).contains(ttlSeconds) else {
            throw CheckpointError.invalid(
                "X-Checkpoint-TTL must be a whole number of seconds from 1 to \(Configuration.maxTTLSeconds)")
        }
        return ttlSeconds * 1000
    }

    static func diff(previous: RawJSON?, next: JSONValue, budgetBytes: Int) -> RawJSON {
        let before = previous.flatMap { try? JSONParser.parse($0) }
        return StateDiff(previous: before, next: next, budgetBytes: budgetBytes).json
    }

    /// A failure reported by a save: `metadata.error` as a string, or an object with `type`
    /// and `message`.
    static func failure(in metadata: JSONObject?) -> (type: String, message: String?)? {
        guard let error = metadata?["error"], !error.isNull else { return nil }
        switch error {
        case .string(let message): return ("error", message)
        case .object(let o): return (o["type"]?.stringValue ?? "error", o["message"]?.stringValue)
        default: return ("error", error.jsonText)
        }
    }

    static func status(metadata: JSONObject?, failed: Bool) -> WorkflowStatus {
        switch metadata?["status"]?.stringValue {
        case "completed": return .completed
        case "failed": return .failed
        default: return failed ? .failed : .active
        }
    }
}
