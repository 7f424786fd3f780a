/// Durable queues (Tidebase §1.14): a queued job is a run with a queue name. Workers claim due
/// runs under the queue's concurrency and rate caps; claims are disjoint because they are
/// decided inside one serialized write transaction.
extension RunService {
    /// Enqueues a run, or returns the active run that already holds the dedupe key.
    public func enqueue(queue: String, _ request: EnqueueRequest, tenant: TenantID) async throws -> (
        run: Run, deduplicated: Bool
    ) {
        let offsets = 0...EnqueueRequest.maxOffsetMilliseconds
        if let delay = request.delayMilliseconds, !offsets.contains(delay) {
            throw RunError.invalid("delayMs must be from 0 to \(EnqueueRequest.maxOffsetMilliseconds)")
        }
        if let deadline = request.deadlineMilliseconds, !offsets.contains(deadline) {
            throw RunError.invalid("deadlineMs must be from 0 to \(EnqueueRequest.maxOffsetMilliseconds)")
        }
        return try await store.write { tx in
            if let key = request.dedupeKey,
                let existing = try await tx.activeRun(tenant: tenant, queue: queue, dedupeKey: key)
            {
                return (existing, true)
            }
            let now = clock.now()
            var run = Run(
                id: Identifier.make("run_"), tenant: tenant, workflowName: request.run.workflowName,
                input: request.run.input.textOrEmptyObject,
                metadata: JSONValue.object(request.run.metadata ?? JSONObject()).jsonText, status: .queued,
                recoveryWebhook: request.run.recoveryWebhook, now: now)
            run.queue = queue
            run.dedupeKey = request.dedupeKey
            run.priority = request.priority
            run.maxAttempts = request.maxAttempts
            run.runAt = request.runAt ?? now.adding(milliseconds: request.delayMilliseconds ?? 0)
            run.deadlineAt = request.deadlineMilliseconds.map { now.adding(milliseconds: $0) }
            try await tx.insertRun(run)
            for spec in request.run.channels {
                try await tx.insertChannel(
                    Channel(
                        id: Identifier.make("chan_"), runId: run.id, type: spec.type, url: spec.url,
                        secret: spec.secret,
                        events: spec.events, createdAt: now))
            }
            let runAt = run.runAt
            _ = try await tx.appendEvent(
                runId: run.id, type: "run.enqueued",
                payload: jsonObject { w in
                    w.field("queue", queue)
                    w.field("runAt", timestamp: runAt)
                }, at: now)
            return (run, false)
        }
    }

    /// Claims up to `limit` due runs from `queues`, in the order given, for `owner`.
    public func claim(queues: [String], owner: String, limit: Int, tenant: TenantID) async throws -> [Run] {
        let leaseMs = configuration.leaseMilliseconds
        // The common claim, from one queue without caps, is one statement. Nil from it means
        // the queue has caps, so the transaction need not look for plain due runs again.
        var cappedQueue: String?
        if queues.count == 1, let queue = queues.first {
            let now = clock.now()
            let payload = Self.claimedEventPayload(owner: owner, queue: queue)
            let claimed = try await store.writeStatement { tx in
                try await tx.claimUncapped(
                    tenant: tenant, queue: queue, owner: owner, leaseExpiresAt: now.adding(milliseconds: leaseMs),
                    limit: limit, eventPayload: payload, at: now)
            }
            if let claimed { return claimed }
            cappedQueue = queue
        }
        let knownCapped = cappedQueue
        return try await store.write { tx in
            let now = clock.now()
            var claimed: [Run] = []
            for queue in queues where claimed.count < limit {
                var capacity = limit - claimed.count
                // Most queues have no caps and are not paused: one statement finds their due
                // runs. Only when it finds none is the queue's config read, to tell a capped or
                // paused queue from an idle one.
                var due =
                    queue == knownCapped
                    ? []
                    : try await tx.dueRuns(tenant: tenant, queue: queue, now: now, limit: capacity, unlessCapped: true)
                if due.isEmpty {
                    guard let config = try await tx.queueConfig(tenant: tenant, name: queue),
                        config.pausedAt == nil, config.concurrency != nil || config.ratePerMinute != nil
                    else { continue }
                    // Caps count runs that concurrent claimers are about to change: one claimer
                    // per capped queue at a time.
                    try await tx.lock("queue/" + tenant.rawValue + "/" + queue)
                    if let concurrency = config.concurrency {
                        capacity = min(
                            capacity, concurrency - (try await tx.runningCount(tenant: tenant, queue: queue)))
                    }
                    if let rate = config.ratePerMinute {
                        let recent = try await tx.claimedCount(
                            tenant: tenant, queue: queue, since: now.adding(milliseconds: -60_000))
                        capacity = min(capacity, rate - recent)
                    }
                    guard capacity > 0 else { continue }
                    due = try await tx.dueRuns(
                        tenant: tenant, queue: queue, now: now, limit: capacity, unlessCapped: false)
                    guard !due.isEmpty else { continue }
                }
                let leaseExpiresAt = now.adding(milliseconds: leaseMs)
                try await tx.markClaimed(
                    runIds: due.map(\.id), owner: owner, leaseExpiresAt: leaseExpiresAt, at: now)
                let payload = Self.claimedEventPayload(owner: owner, queue: queue)
                _ = try await tx.appendEvents(
                    due.map { RunEventDraft(runId: $0.id, type: "run.claimed", payload: payload) }, at: now)
                claimed += due.map { $0.claimed(by: owner, leaseExpiresAt: leaseExpiresAt, at: now) }
            }
            return claimed
        }
    }

    /// The `run.claimed` event's payload.
    public static func claimedEventPayload(owner: String, queue: String) -> RawJSON {
        jsonObject { w in
            w.field("leaseOwner", owner)
            w.field("queue", queue)
        }
    }

    /// Run counts per queue (runs never enqueued are not counted), with each queue's config;
    /// configured queues without runs are listed with zero counts. With `activity`, also what
    /// each queue did in each of `QueueActivity.windowsMilliseconds` (a pass over the tenant's
    /// recently updated queue runs). With `queue`, that queue's stat only, if it has runs or a
    /// config.
    public func queueStats(tenant: TenantID, queue: String? = nil, activity: Bool = false) async throws
        -> [QueueStat]
    {
        let now = clock.now()
        return try await store.read { tx in
            var stats: [String: QueueStat] = [:]
            var order: [String] = []
            for (queue, status, count) in try await tx.queueCounts(tenant: tenant, queue: queue) {
                if stats[queue] == nil {
                    stats[queue] = QueueStat(name: queue)
                    order.append(queue)
                }
                switch status {
                case .queued: stats[queue]?.queued = count
                case .running: stats[queue]?.running = count
                case .failed: stats[queue]?.failed = count
                case .completed: stats[queue]?.completed = count
                case .cancelled: stats[queue]?.cancelled = count
                case .pending: break
                }
            }
            for config in try await tx.queueConfigs(tenant: tenant, queue: queue) {
                if stats[config.name] == nil {
                    stats[config.name] = QueueStat(name: config.name)
                    order.append(config.name)
                }
                stats[config.name]?.config = config
            }
            if activity {
                let windows = QueueActivity.windowsMilliseconds
                for name in order { stats[name]?.activity = windows.map { QueueActivity(windowMilliseconds: $0) } }
                let since = windows.map { now.adding(milliseconds: -$0) }
                for row in try await tx.queueActivity(tenant: tenant, queue: queue, since: since) {
                    stats[row.queue]?.activity = windows.indices.map { i in
                        QueueActivity(
                            windowMilliseconds: windows[i], claimed: row.claimed[i], completed: row.completed[i],
                            failed: row.failed[i])
                    }
                }
            }
            return order.compactMap { stats[$0] }
        }
    }

    /// One queue's counts, config and activity; a queue with neither runs nor a config is unknown.
    public func queueStat(name: String, tenant: TenantID) async throws -> QueueStat {
        guard let stat = try await queueStats(tenant: tenant, queue: name, activity: true).first else {
            throw RunError.queueNotFound
        }
        return stat
    }

    /// Pauses or resumes a queue (Cairn's extension). A paused queue still takes enqueues and
    /// schedule fires; its runs wait, and no claim or push hands one out until it is resumed.
    /// Claims already running when the pause commits may still finish handing runs out. Pausing
    /// a paused queue keeps its first pause time.
    public func setQueuePaused(name: String, paused: Bool, tenant: TenantID) async throws -> QueueConfig {
        try await store.write { tx in
            let now = clock.now()
            var config =
                try await tx.queueConfig(tenant: tenant, name: name)
                ?? QueueConfig(name: name, createdAt: now, updatedAt: now)
            guard (config.pausedAt != nil) != paused else { return config }
            config.pausedAt = paused ? now : nil
            config.updatedAt = now
            try await tx.upsertQueueConfig(config, tenant: tenant)
            return config
        }
    }

    /// Changes a queue's limits; absent fields keep their value, `null` clears one.
    public func configureQueue(name: String, _ update: QueueConfigUpdate, tenant: TenantID) async throws -> QueueConfig
    {
        try await store.write { tx in
            let now = clock.now()
            var config =
                try await tx.queueConfig(tenant: tenant, name: name)
                ?? QueueConfig(name: name, createdAt: now, updatedAt: now)
            config.concurrency = update.concurrency.applied(to: config.concurrency)
            config.ratePerMinute = update.ratePerMinute.applied(to: config.ratePerMinute)
            config.invokeURL = update.invokeURL.applied(to: config.invokeURL)
            config.updatedAt = now
            try await tx.upsertQueueConfig(config, tenant: tenant)
            return config
        }
    }
}

/// How long a pushed run waits before it is announced again if nobody began it.
private let pushRedeliveryMilliseconds: Int64 = 60_000

extension RunService {
    /// Push mode (§1.14, §1.16 step 4): for each queue with an invoke URL, records a
    /// `run.invoke` call for up to `perQueue` due runs (fewer under a concurrency cap) and moves
    /// each run's due time a minute ahead, so it is not announced again while the call is in
    /// flight. The application's handler begins the run; delivery is at least once.
    public func dispatchPushQueues(perQueue: Int) async throws -> [RecoveryCall] {
        try await store.write { tx in
            let now = clock.now()
            var calls: [RecoveryCall] = []
            for (tenant, config) in try await tx.pushQueueConfigs() {
                guard let url = config.invokeURL else { continue }
                var capacity = perQueue
                if let concurrency = config.concurrency {
                    capacity = min(
                        capacity, concurrency - (try await tx.runningCount(tenant: tenant, queue: config.name)))
                }
                guard capacity > 0 else { continue }
                let due = try await tx.dueRuns(
                    tenant: tenant, queue: config.name, now: now, limit: capacity, unlessCapped: false)
                for var run in due {
                    run.runAt = now.adding(milliseconds: pushRedeliveryMilliseconds)
                    run.updatedAt = now
                    try await tx.updateRun(run)
                    calls.append(
                        try await recordRecoveryAttempt(
                            run: run, url: url, type: "run.invoke", reason: "queue_dispatch", tx: tx))
                }
            }
            return calls
        }
    }
}
