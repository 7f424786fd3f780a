import CairnCore
import Logging
import ServiceLifecycle

/// Cleans the blob store at start-up and then every `interval`: temporary files of uploads
/// that died (older than `staleAfterSeconds`; never a live upload's), expired artifacts, blobs
/// nothing references, and rows whose blob is missing (logged as errors).
struct ArtifactSweeper: Service {
    let artifacts: ArtifactService
    let interval: Duration
    let staleAfterSeconds: Int64
    let logger: Logger

    func run() async throws {
        await PeriodicService(interval: interval) { await sweep() }.run()
    }

    func sweep() async {
        do {
            let report = try await artifacts.sweep(staleAfterSeconds: staleAfterSeconds)
            if report != ArtifactService.SweepReport() {
                logger.info(
                    "artifacts swept",
                    metadata: [
                        "staleWrites": "\(report.staleWrites)", "expired": "\(report.expired)",
                        "orphanBlobs": "\(report.orphanBlobs)", "missingBlobs": "\(report.missingBlobs)",
                    ])
            }
        } catch {
            logger.error("artifact sweep failed", metadata: ["error": "\(error)"])
        }
    }
}

extension CairnServer {
    /// The artifact sweeper, run at start-up and every `artifactSweepMilliseconds`.
    public var artifactSweeper: some Service {
        ArtifactSweeper(
            artifacts: artifacts, interval: .milliseconds(configuration.artifactSweepMilliseconds),
            staleAfterSeconds: configuration.staleUploadSeconds, logger: Logger(label: "cairn.artifacts"))
    }
}

extension ServerConfiguration {
    var artifactLimits: ArtifactService.Limits {
        var limits = ArtifactService.Limits()
        limits.maxArtifactBytes = maxArtifactBytes
        limits.tenantQuotaBytes = tenantQuotaBytes
        limits.maxTTLSeconds = maxArtifactTTLSeconds
        return limits
    }
}
