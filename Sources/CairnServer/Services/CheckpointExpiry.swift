import CairnCore
import Logging
import ServiceLifecycle

/// Deletes checkpointed workflows once their TTL has passed, firing `workflow.expired` for each.
/// Reads already treat an expired workflow as gone; this reclaims its storage.
struct CheckpointExpiry: Service {
    let checkpoints: CheckpointService
    let interval: Duration
    let logger: Logger
    var batchSize = 500

    func run() async throws {
        await PeriodicService(interval: interval) { await sweep() }.run()
    }

    /// Sweeps until nothing due is left.
    func sweep() async {
        do {
            while true {
                let expired = try await checkpoints.expireWorkflows(limit: batchSize)
                if !expired.isEmpty {
                    logger.info("expired checkpoint workflows", metadata: ["count": "\(expired.count)"])
                }
                if expired.count < batchSize { return }
            }
        } catch {
            logger.error("checkpoint expiry failed", metadata: ["error": "\(error)"])
        }
    }
}
