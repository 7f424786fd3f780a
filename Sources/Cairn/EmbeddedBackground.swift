import CairnCore
import Logging

/// What the server's reconciler does, for an embedded store: requeue runs whose queue lease
/// expired, cancel overdue runs, fire due schedules. Recovery webhooks and push queues need a
/// server (they call out over HTTP) and are not run here.
///
/// The loop lives as long as the `Cairn` value that started it (and its copies): when the
/// last one is released, the loop stops and releases the store.
final class EmbeddedBackground: Sendable {
    private let task: Task<Void, Never>

    init(runs: RunService, interval: Duration, missedFires: MissedFirePolicy, logger: Logger) {
        task = Task {
            while !Task.isCancelled {
                do {
                    _ = try await runs.sweepExpiredQueueLeases(limit: 100)
                    _ = try await runs.sweepDeadlines(limit: 100)
                    _ = try await runs.fireDueSchedules(limit: 100, policy: missedFires)
                } catch {
                    logger.error("background pass failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }

    deinit { task.cancel() }
}
