import CairnCore
import CairnStore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import UnixSignals

/// Assembles the server: the store, the core services, the HTTP router and the background
/// services, ready to run under a service group.
public struct CairnServer: Sendable {
    public let configuration: ServerConfiguration
    public let store: SQLiteStore
    public let broker: EventBroker
    public let runs: RunService
    public let keys: KeyService
    public let checkpoints: CheckpointService
    let rateLimiter: SlidingWindowRateLimiter?
    public let artifacts: ArtifactService
    let keysExist = CachedFlag()
    let registry: PrometheusCollectorRegistry?
    let logger: Logger
    let deliveryWakeups: AsyncStream<Void>
    /// The main listener's open connections.
    let connections: ConnectionRegistry

    public init(configuration: ServerConfiguration, registry: PrometheusCollectorRegistry?, logger: Logger) throws {
        try configuration.validate()
        self.configuration = configuration
        self.registry = registry
        self.logger = logger
        broker = EventBroker()
        connections = ConnectionRegistry(maxConnections: configuration.maxConnections)
        let (wakeups, wake) = DeliveryService.wakeups(from: broker)
        deliveryWakeups = wakeups
        store = try SQLiteStore(
            configuration: .init(path: configuration.databasePath), broker: broker,
            logger: Logger(label: "cairn.store"))
        keys = KeyService(store: store)
        artifacts = try ArtifactService(
            store: store, blobs: LocalBlobStore(root: configuration.blobDirectory), limits: configuration.artifactLimits
        )
        runs = RunService(
            store: store,
            configuration: .init(
                leaseMilliseconds: configuration.leaseMilliseconds, publicURL: configuration.effectivePublicURL))
        var checkpointConfiguration = CheckpointService.Configuration()
        checkpointConfiguration.defaultTTLSeconds = configuration.checkpointDefaultTTLSeconds
        checkpoints = CheckpointService(store: store, configuration: checkpointConfiguration) { wake() }
        rateLimiter =
            configuration.rateLimit > 0
            ? SlidingWindowRateLimiter(
                limit: configuration.rateLimit, windowMilliseconds: configuration.rateLimitWindowMilliseconds) : nil
    }

    /// Where outbound calls may go: loopback only while the server itself is on loopback.
    var outboundGuard: OutboundGuard {
        OutboundGuard(
            allowPrivate: configuration.allowPrivateWebhooks,
            allowLoopback: configuration.allowPrivateWebhooks || ServerConfiguration.isLoopback(configuration.host))
    }

    var recovery: RecoveryDispatcher {
        RecoveryDispatcher(
            runs: runs, secret: configuration.webhookSecret,
            timeout: .milliseconds(configuration.webhookTimeoutMilliseconds), guardrail: outboundGuard, logger: logger)
    }

    /// The channel notification sender.
    public var deliveries: some Service {
        DeliveryService(
            runs: runs, guardrail: outboundGuard, timeout: .milliseconds(configuration.webhookTimeoutMilliseconds),
            wakeups: deliveryWakeups, logger: Logger(label: "cairn.deliveries"))
    }

    /// The reconciler, or nil when disabled (`--reconcile-ms 0`).
    public var reconciler: (any Service)? {
        guard configuration.reconcileMilliseconds > 0 else { return nil }
        return Reconciler(
            runs: runs, recovery: recovery, interval: .milliseconds(configuration.reconcileMilliseconds),
            batchSize: 100,
            missedFires: configuration.missedFirePolicy,
            logger: Logger(label: "cairn.reconciler"))
    }

    /// Deletes checkpointed workflows whose TTL has passed.
    public var checkpointExpiry: some Service {
        CheckpointExpiry(
            checkpoints: checkpoints, interval: .milliseconds(configuration.checkpointSweepMilliseconds),
            logger: Logger(label: "cairn.checkpoints"))
    }

    public func makeRouter(sseKeepalive: Duration = .seconds(15)) -> Router<CairnRequestContext> {
        let router = Router(context: CairnRequestContext.self)
        router.add(middleware: RequestMetricsMiddleware())
        router.add(
            middleware: CORSMiddleware(
                allowOrigin: .all, allowHeaders: [.authorization, .contentType, HTTPField.Name("x-tidebase-worker")!],
                allowMethods: [.get, .post, .put, .patch, .delete, .options]))
        router.add(middleware: AuthMiddleware(apiKey: configuration.apiKey, keys: keys, keysExist: keysExist))
        router.get("/health") { _, _ in JSONResponse.make(.ok, #"{"ok":true}"#) }
        router.get("/openapi.json") { _, _ in JSONResponse.make(.ok, OpenAPI.document) }
        let registry = self.registry
        router.get("/metrics") { _, _ -> Response in
            var bytes: [UInt8] = []
            registry?.emit(into: &bytes)
            var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: buffer))
        }
        KeyRoutes<CairnRequestContext>(keys: keys, keysExist: keysExist, bodyLimit: configuration.maxBodyBytes)
            .register(on: router)
        var tidebase = TidebaseRoutes<CairnRequestContext>(
            runs: runs, broker: broker, recovery: recovery, bodyLimit: configuration.maxBodyBytes)
        tidebase.sseKeepalive = sseKeepalive
        tidebase.sseBufferBytes = configuration.eventStreamBufferBytes
        tidebase.sseKeyCheck = .milliseconds(configuration.eventStreamKeyCheckMilliseconds)
        tidebase.keys = keys
        tidebase.register(on: router)
        SnapStateRoutes<CairnRequestContext>(
            checkpoints: checkpoints, bodyLimit: configuration.maxBodyBytes, limiter: rateLimiter
        ).register(on: router)
        ArtifactRoutes<CairnRequestContext>(artifacts: artifacts).register(on: router)
        return router
    }

    public func makeApplication() -> some ApplicationProtocol {
        Application(
            router: makeRouter(),
            server: .guardedHTTP1(limits: configuration.connectionLimits, registry: connections),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "cairn"),
            logger: logger)
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully: live event streams end first,
    /// then the HTTP server finishes in-flight requests for at most the grace period, then the
    /// background services stop.
    public func run() async throws {
        let grace = Duration.milliseconds(configuration.shutdownGraceMilliseconds)
        let app = BoundedGracefulShutdown(wrapped: makeApplication(), grace: grace, connections: connections)
        // Graceful shutdown goes through the services in reverse order, each ending before the
        // next is told: streams end, then the listener drains, then the background services stop.
        var services: [any Service] = [deliveries, checkpointExpiry, artifactSweeper]
        if let reconciler { services.append(reconciler) }
        services += [app, EventStreamShutdown(broker: broker)]
        var group = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A backstop: whatever still runs well after the grace period is cancelled.
        group.maximumGracefulShutdownDuration = grace + .seconds(5)
        group.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: group).run()
    }
}

/// Ends every open event stream when graceful shutdown begins, so the HTTP server is not kept
/// waiting by clients that would stay connected forever.
struct EventStreamShutdown: Service {
    let broker: EventBroker
    func run() async throws {
        try? await gracefulShutdown()
        broker.shutdown()
    }
}

/// A listener whose graceful shutdown lasts at most `grace`: connections still open then (a
/// client stalled mid-body, say) are closed, so their requests end and the listener stops.
struct BoundedGracefulShutdown<Wrapped: Service>: Service {
    let wrapped: Wrapped
    let grace: Duration
    let connections: ConnectionRegistry

    func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await wrapped.run() }
            group.addTask {
                guard (try? await gracefulShutdown()) != nil else { return }
                if (try? await Task.sleep(for: grace)) != nil { connections.closeAll() }
            }
            try await group.next()
            group.cancelAll()
        }
    }
}
