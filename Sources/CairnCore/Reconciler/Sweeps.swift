/// What one reconciler pass did.
public struct SweepReport: Sendable, Equatable {
    public var requeued = 0
    public var failed = 0
    public var cancelledByDeadline = 0
    public var recoveries = 0
    public var scheduled = 0
    public var invoked = 0
    public init() {}
}

/// Runs the reconciler looks for, across tenants (it serves every tenant).
public protocol ReconcilerReadTransaction: Sendable {
    /// Running queue runs whose lease expired before `now`, oldest expiry first.
    func expiredQueueRuns(now: Timestamp, limit: Int) async throws -> [Run]
    /// Running non-queue runs with a recovery webhook whose lease expired before `now` and that
    /// had no recovery attempt since `quietSince`.
    func stalledWebhookRuns(now: Timestamp, quietSince: Timestamp, limit: Int) async throws -> [Run]
    /// Unfinished runs whose deadline passed.
    func overdueRuns(now: Timestamp, limit: Int) async throws -> [Run]
}

extension RunService {
    /// Expired queue-run leases: requeue with backoff while attempts remain, else fail with
    /// `max_retries` (Tidebase §1.16, step 1).
    public func sweepExpiredQueueLeases(limit: Int) async throws -> SweepReport {
        try await store.write { tx in
            let now = clock.now()
            var report = SweepReport()
            for var run in try await tx.expiredQueueRuns(now: now, limit: limit) {
                run.leaseOwner = nil
                run.leaseExpiresAt = nil
                run.updatedAt = now
                let attempt = run.attempt, maxAttempts = run.maxAttempts
                if run.attempt < run.maxAttempts {
                    run.status = .queued
                    run.runAt = now.adding(milliseconds: RetryPolicy.backoffMilliseconds(attempt: run.attempt))
                    try await tx.updateRun(run)
                    _ = try await tx.appendEvent(
                        runId: run.id, type: "run.requeued",
                        payload: jsonObject { w in
                            w.field("reason", "lease_expired")
                            w.field("attempt", attempt)
                            w.field("maxAttempts", maxAttempts)
                        }, at: now)
                    report.requeued += 1
                } else {
                    run.status = .failed
                    run.failureClass = "max_retries"
                    run.error = #"{"message":"lease expired with no attempts remaining"}"#
                    try await tx.updateRun(run)
                    _ = try await tx.appendEvent(
                        runId: run.id, type: "run.failed",
                        payload: jsonObject { w in
                            w.field("failureClass", "max_retries")
                            w.field("reason", "lease_expired")
                        }, at: now)
                    report.failed += 1
                }
            }
            return report
        }
    }

    /// Records a `lease_expired` recovery call for each stalled run with a recovery webhook; the
    /// caller sends them after this commits. At most one call per run per minute.
    public func sweepStalledWebhookRuns(limit: Int) async throws -> [RecoveryCall] {
        try await store.write { tx in
            let now = clock.now()
            var calls: [RecoveryCall] = []
            for run in try await tx.stalledWebhookRuns(
                now: now, quietSince: now.adding(milliseconds: -60_000), limit: limit)
            {
                guard let url = run.recoveryWebhook else { continue }
                calls.append(
                    try await recordRecoveryAttempt(
                        run: run, url: url, type: "run.resume", reason: "lease_expired", tx: tx))
            }
            return calls
        }
    }

    /// Cancels runs past their deadline (Tidebase §1.16, step 2).
    public func sweepDeadlines(limit: Int) async throws -> Int {
        try await store.write { tx in
            let now = clock.now()
            var count = 0
            for var run in try await tx.overdueRuns(now: now, limit: limit) {
                // The actor stays unset on the run; the event names the reconciler (as the reference does).
                run.markCancelled(reason: "deadline", actor: nil, at: now)
                try await tx.updateRun(run)
                _ = try await tx.appendEvent(
                    runId: run.id, type: "run.cancelled",
                    payload: jsonObject { w in
                        w.field("reason", "deadline")
                        w.field("actor", "reconciler")
                    }, at: now)
                count += 1
            }
            return count
        }
    }
}
