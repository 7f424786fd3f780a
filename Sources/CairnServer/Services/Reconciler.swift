import CairnCore
import Logging
import ServiceLifecycle

/// The background loop that keeps runs moving when their workers do not (Tidebase §1.16):
/// expired queue leases are requeued or failed, stalled runs with a recovery webhook get a
/// recovery call, overdue runs are cancelled. Each sweep has its own bounded batch, so none can
/// starve another; recovery calls are sent after their transaction commits.
struct Reconciler: Service {
    let runs: RunService
    let recovery: RecoveryDispatcher
    let interval: Duration
    let batchSize: Int
    let missedFires: MissedFirePolicy
    let logger: Logger

    func run() async throws {
        await PeriodicService(interval: interval) { await tick() }.run()
    }

    /// One pass; errors are logged and the next pass tries again.
    @discardableResult
    func tick() async -> SweepReport {
        var report = SweepReport()
        do {
            let leases = try await runs.sweepExpiredQueueLeases(limit: batchSize)
            report.requeued = leases.requeued
            report.failed = leases.failed
            report.cancelledByDeadline = try await runs.sweepDeadlines(limit: batchSize)
            report.scheduled = try await runs.fireDueSchedules(limit: batchSize, policy: missedFires)
            let calls = try await runs.sweepStalledWebhookRuns(limit: batchSize)
            report.recoveries = calls.count
            let invocations = try await runs.dispatchPushQueues(perQueue: 10)
            report.invoked = invocations.count
            // Sent after the commits above, each on its own with its own timeout, so a slow
            // receiver never holds up the next pass; every call is already recorded as pending.
            for call in calls + invocations {
                Task {
                    do { _ = try await recovery.send(call) } catch {
                        logger.error("cannot record outbound call", metadata: ["error": "\(error)"])
                    }
                }
            }
        } catch {
            logger.error("reconciler pass failed", metadata: ["error": "\(error)"])
        }
        if report != SweepReport() {
            logger.info(
                "reconciled",
                metadata: [
                    "requeued": "\(report.requeued)", "failed": "\(report.failed)",
                    "cancelled": "\(report.cancelledByDeadline)", "recoveries": "\(report.recoveries)",
                    "scheduled": "\(report.scheduled)", "invoked": "\(report.invoked)",
                ])
        }
        return report
    }
}
