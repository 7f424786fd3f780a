import CairnCore
import Logging
import Metrics
import ServiceLifecycle

/// Samples the store every few seconds into gauges: queue depth, runs in flight, the delivery
/// backlog. (Counters such as requests, commits, deliveries, checkpoint saves and artifact
/// bytes are counted where they happen.)
struct StoreGauges: Service {
    /// Milliseconds between samples.
    static let interval: Int64 = 5_000
    let runs: RunService
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await PeriodicService(interval: interval) { await sample() }.run()
    }

    func sample() async {
        do {
            let figures = try await runs.storeFigures()
            Gauge(label: "cairn_runs_queued").record(figures.queuedRuns)
            Gauge(label: "cairn_runs_running").record(figures.runningRuns)
            Gauge(label: "cairn_deliveries_pending").record(figures.pendingDeliveries)
        } catch {
            logger.debug("cannot sample the store", metadata: ["error": "\(error)"])
        }
    }
}
