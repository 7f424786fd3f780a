import CairnCore
import Logging

/// What the server's background services do, for an embedded store: requeue runs whose queue
/// lease expired, cancel overdue runs, fire due schedules, delete checkpointed workflows past
/// their TTL and, now and then, sweep artifacts (expired ones, stale temporary files, orphan
/// blobs). Recovery webhooks, checkpoint webhooks and push queues need a server (they call out
/// over HTTP) and are not run here.
///
/// The loop lives as long as the `Cairn` value that started it (and its copies): when the
/// last one is released, the loop stops and releases the store.
final class EmbeddedBackground: Sendable {
    private let task: Task<Void, Never>

    /// The server's default pause between artifact sweeps: a sweep lists every blob.
    static let artifactSweepInterval = Duration.seconds(300)

    init(
        runs: RunService, checkpoints: CheckpointService, artifacts: ArtifactService, interval: Duration,
        missedFires: MissedFirePolicy, logger: Logger
    ) {
        let passesPerArtifactSweep = interval > .zero ? max(1, Int(Self.artifactSweepInterval / interval)) : 1
        task = Task {
            var pass = 0
            while !Task.isCancelled {
                do {
                    _ = try await runs.sweepExpiredQueueLeases(limit: 100)
                    _ = try await runs.sweepDeadlines(limit: 100)
                    _ = try await runs.fireDueSchedules(limit: 100, policy: missedFires)
                    _ = try await checkpoints.expireWorkflows(limit: 100)
                    if pass % passesPerArtifactSweep == passesPerArtifactSweep - 1 {
                        _ = try await artifacts.sweep(staleAfterSeconds: 3_600)
                    }
                } catch {
                    logger.error("background pass failed", metadata: ["error": "\(error)"])
                }
                pass += 1
                try? await Task.sleep(for: interval)
            }
        }
    }

    deinit { task.cancel() }
}
