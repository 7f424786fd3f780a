import CairnCore
import Logging
import ServiceLifecycle

/// Enforces workspace lifecycle rules at start-up and then every `interval` (see
/// `WorkspaceService.applyLifecycle`), and drops change events past their retention. Safe on several replicas at once: every change is checked
/// again under the bucket's lock before it is made.
struct WorkspaceLifecycleSweeper: Service {
    let workspaces: WorkspaceService
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await PeriodicService(interval: interval) { await sweep() }.run()
    }

    func sweep() async {
        do {
            let report = try await workspaces.applyLifecycle()
            if report != WorkspaceService.LifecycleReport() {
                logger.info(
                    "workspace lifecycle applied",
                    metadata: [
                        "expired": "\(report.expired)", "noncurrentRemoved": "\(report.noncurrentRemoved)",
                        "deleteMarkersRemoved": "\(report.deleteMarkersRemoved)",
                        "uploadsAborted": "\(report.uploadsAborted)",
                        "unreadableConfigurations": "\(report.unreadableConfigurations)",
                    ])
            }
        } catch {
            logger.error("workspace lifecycle pass failed", metadata: ["error": "\(error)"])
        }
        do {
            try await workspaces.pruneEvents()
        } catch {
            logger.error("pruning workspace change events failed", metadata: ["error": "\(error)"])
        }
        do {
            try await workspaces.pruneCompletedUploads()
        } catch {
            logger.error("pruning completed multipart uploads failed", metadata: ["error": "\(error)"])
        }
    }
}

extension CairnServer {
    /// The lifecycle sweeper, run at start-up and every `lifecycleSweepMilliseconds`.
    var workspaceLifecycleSweeper: some Service {
        WorkspaceLifecycleSweeper(
            workspaces: workspaces, interval: .milliseconds(configuration.lifecycleSweepMilliseconds),
            logger: Logger(label: "cairn.workspaces"))
    }
}
