/// A call that asks the application to resume (or start) a run, to be sent after the
/// transaction that recorded it has committed.
public struct RecoveryCall: Sendable {
    public var attempt: RecoveryAttempt
    public var url: String
    /// The exact bytes to send and sign.
    public var body: RawJSON
}

/// What came of a recovery call.
public enum RecoveryOutcome: Sendable {
    case responded(status: Int, body: String)
    case unreachable(String)
}

extension RunService {
    /// Records a pending recovery attempt for a run with a recovery webhook (§1.13, step 1).
    public func beginRecovery(runId: String, reason: String, tenant: TenantID) async throws -> RecoveryCall {
        try await store.write { tx in
            guard let run = try await tx.runForUpdate(id: runId, tenant: tenant) else { throw RunError.runNotFound }
            guard let url = run.recoveryWebhook else { throw RunError.noRecoveryWebhook }
            return try await recordRecoveryAttempt(run: run, url: url, type: "run.resume", reason: reason, tx: tx)
        }
    }

    func recordRecoveryAttempt(run: Run, url: String, type: String, reason: String, tx: any RunWriteTransaction)
        async throws -> RecoveryCall
    {
        let now = clock.now()
        let attempt = RecoveryAttempt(
            id: Identifier.make("rec_"), runId: run.id, reason: reason, webhookURL: url, status: "pending",
            createdAt: now)
        try await tx.insertRecoveryAttempt(attempt)
        _ = try await tx.appendEvent(
            runId: run.id, type: "recovery.started",
            payload: jsonObject { w in
                w.field("recoveryAttemptId", attempt.id)
                w.field("reason", reason)
            }, at: now)
        let body = jsonObject { w in
            w.field("type", type)
            w.field("runId", run.id)
            w.field("workflowName", run.workflowName)
            w.field("reason", reason)
            w.field("attempt", run.attempt)
        }
        return RecoveryCall(attempt: attempt, url: url, body: body)
    }

    /// Records how the call went (§1.13, steps 3 and 4).
    public func finishRecovery(_ call: RecoveryCall, outcome: RecoveryOutcome) async throws -> RecoveryAttempt {
        try await store.write { tx in
            let now = clock.now()
            var attempt = call.attempt
            attempt.completedAt = now
            let type: String
            let payload: RawJSON
            switch outcome {
            case .responded(let status, let body):
                attempt.httpStatus = status
                attempt.responseBody = String(body.prefix(8000))
                attempt.status = (200..<300).contains(status) ? "delivered" : "failed"
                type = attempt.status == "delivered" ? "recovery.delivered" : "recovery.failed"
                payload = jsonObject { w in
                    w.field("recoveryAttemptId", attempt.id)
                    w.field("httpStatus", status)
                }
            case .unreachable(let message):
                attempt.status = "failed"
                attempt.errorText = message
                type = "recovery.failed"
                payload = jsonObject { w in
                    w.field("recoveryAttemptId", attempt.id)
                    w.field("error", message)
                }
            }
            try await tx.updateRecoveryAttempt(attempt)
            _ = try await tx.appendEvent(runId: attempt.runId, type: type, payload: payload, at: now)
            return attempt
        }
    }
}
