import CairnCore
import CairnStore
import Foundation
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
    public let store: any RecordStore
    /// Artifact bytes: a local directory, or an S3-compatible bucket shared by every replica.
    public let blobs: any BlobStore
    public let broker: EventBroker
    public let runs: RunService
    public let keys: KeyService
    public let checkpoints: CheckpointService
    let rateLimiter: SlidingWindowRateLimiter?
    public let artifacts: ArtifactService
    /// Workspaces (the S3 listener's buckets), on the same blob store and blob locks as artifacts.
    public let workspaces: WorkspaceService
    /// Sandboxes: probed and prepared when the server runs (or on first use).
    public let sandboxes: SandboxService
    let openMode: OpenMode
    let registry: PrometheusCollectorRegistry?
    let logger: Logger
    let deliveryWakeups: AsyncStream<Void>
    /// The main listener's open connections.
    let connections: ConnectionRegistry
    /// The S3 listener's open connections.
    let s3Connections: ConnectionRegistry
    let clock: any WallClock

    /// Opens the store the configuration names (Postgres when `databaseURL` is set, else the
    /// embedded SQLite file) and assembles the server on it.
    public static func open(
        configuration: ServerConfiguration, registry: PrometheusCollectorRegistry?, logger: Logger,
        clock: any WallClock = SystemClock()
    ) async throws -> CairnServer {
        guard configuration.databaseURL != nil || configuration.blobsLocation != nil else {
            return try CairnServer(configuration: configuration, registry: registry, logger: logger, clock: clock)
        }
        try configuration.validate()
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        let reserve = StorageReserve(directory: configuration.dataDirectory, bytes: configuration.diskReserveBytes)
        let blobs: any BlobStore
        if let location = configuration.blobsLocation {
            var environment = ProcessInfo.processInfo.environment
            if let endpoint = configuration.s3Endpoint { environment["CAIRN_S3_ENDPOINT"] = endpoint }
            let s3 = try S3BlobStore(
                configuration: .fromEnvironment(
                    location: location, spoolDirectory: configuration.dataDirectory + "/blobs-spool",
                    environment: environment),
                reserve: reserve)
            do {
                try await s3.checkBucket()
            } catch {
                try? await s3.shutdown()
                throw error
            }
            logger.info("keeping blobs in S3", metadata: ["location": "\(location)"])
            blobs = s3
        } else {
            blobs = try LocalBlobStore(root: configuration.blobDirectory, reserve: reserve)
        }
        let broker = EventBroker()
        guard let url = configuration.databaseURL else {
            let store = try SQLiteStore(
                configuration: .init(path: configuration.databasePath, reserve: reserve), broker: broker,
                logger: Logger(label: "cairn.store"))
            return try CairnServer(
                configuration: configuration, store: store, blobs: blobs, broker: broker, registry: registry,
                logger: logger, clock: clock)
        }
        let store = try await PostgresStore.open(
            configuration: .init(url: url, poolSize: configuration.databasePoolSize), broker: broker,
            logger: Logger(label: "cairn.store"))
        let schema = (try? await store.schemaVersion()) ?? 0
        logger.info("opened the store", metadata: ["database": "\(store.endpoint.redacted)", "schema": "\(schema)"])
        return try CairnServer(
            configuration: configuration, store: store, blobs: blobs, broker: broker, registry: registry,
            logger: logger, clock: clock)
    }

    /// The server on the embedded SQLite store under the data directory.
    /// `clock` is what every service measures leases, delays, TTLs and rate windows by; tests
    /// pass a `ManualClock` to move time themselves.
    public init(
        configuration: ServerConfiguration, registry: PrometheusCollectorRegistry?, logger: Logger,
        clock: any WallClock = SystemClock()
    ) throws {
        try configuration.validate()
        guard configuration.databaseURL == nil, configuration.blobsLocation == nil else {
            throw ServerConfiguration.Invalid(description: "a Postgres database is opened with CairnServer.open")
        }
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        let broker = EventBroker()
        let reserve = StorageReserve(directory: configuration.dataDirectory, bytes: configuration.diskReserveBytes)
        let store = try SQLiteStore(
            configuration: .init(path: configuration.databasePath, reserve: reserve), broker: broker,
            logger: Logger(label: "cairn.store"))
        logger.info(
            "opened the store",
            metadata: ["path": "\(configuration.databasePath)", "schema": "\((try? store.schemaVersion()) ?? 0)"])
        try self.init(
            configuration: configuration, store: store,
            blobs: try LocalBlobStore(root: configuration.blobDirectory, reserve: reserve), broker: broker,
            registry: registry, logger: logger, clock: clock)
    }

    init(
        configuration: ServerConfiguration, store: any RecordStore, blobs: any BlobStore, broker: EventBroker,
        registry: PrometheusCollectorRegistry?, logger: Logger, clock: any WallClock
    ) throws {
        self.configuration = configuration
        self.registry = registry
        self.logger = logger
        self.broker = broker
        self.store = store
        connections = ConnectionRegistry(maxConnections: configuration.maxConnections)
        s3Connections = ConnectionRegistry(maxConnections: configuration.maxConnections)
        let (wakeups, wake) = DeliveryService.wakeups(from: broker)
        deliveryWakeups = wakeups
        keys = KeyService(store: store, clock: clock)
        openMode = OpenMode(configuredKey: configuration.apiKey != nil, store: store, logger: logger)
        self.blobs = blobs
        // No upload is running before the listener opens: every unfinished write left in the
        // blob store belongs to an upload that a crash or kill ended.
        let leftovers = try blobs.removeUnfinishedWrites()
        if leftovers > 0 { logger.info("removed unfinished uploads", metadata: ["files": "\(leftovers)"]) }
        let blobLocks = BlobLocks()
        artifacts = ArtifactService(
            store: store, blobs: blobs, locks: blobLocks, limits: configuration.artifactLimits, clock: clock)
        workspaces = WorkspaceService(
            store: store, blobs: blobs, locks: blobLocks, clock: clock, deliveriesRecorded: { wake() })
        self.clock = clock
        sandboxes = SandboxService(
            configuration: configuration.sandboxConfiguration, clock: clock, workspaces: workspaces)
        runs = RunService(
            store: store,
            configuration: .init(
                leaseMilliseconds: configuration.leaseMilliseconds, publicURL: configuration.effectivePublicURL),
            clock: clock)
        var checkpointConfiguration = CheckpointService.Configuration()
        checkpointConfiguration.defaultTTLSeconds = configuration.checkpointDefaultTTLSeconds
        checkpoints = CheckpointService(store: store, configuration: checkpointConfiguration, clock: clock) { wake() }
        rateLimiter =
            configuration.rateLimit > 0
            ? SlidingWindowRateLimiter(
                limit: configuration.rateLimit, windowMilliseconds: configuration.rateLimitWindowMilliseconds,
                clock: clock) : nil
    }

    /// Where outbound calls may go: private and loopback networks only when a setting says so.
    var outboundGuard: OutboundGuard {
        OutboundGuard(
            allowPrivate: configuration.allowPrivateWebhooks, allowLoopback: configuration.allowLoopbackOutbound)
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
        router.add(middleware: NoSniffMiddleware())
        router.add(
            middleware: RequestMetricsMiddleware(
                recorder: RequestRecorder(accessLog: configuration.accessLog ? Logger(label: "cairn.access") : nil)))
        router.add(middleware: CanonicalPathMiddleware())
        router.add(
            middleware: CORSMiddleware(
                allowOrigin: .all, allowHeaders: [.authorization, .contentType, HTTPField.Name("x-tidebase-worker")!],
                allowMethods: [.get, .post, .put, .patch, .delete, .options]))
        // Public routes: registered before authentication is added, so it never runs for them.
        router.get("/health") { _, _ in JSONResponse.make(.ok, #"{"ok":true}"#) }
        router.get("/openapi.json") { _, _ in JSONResponse.make(.ok, OpenAPI.document) }
        let codeMode = CodeModeRoutes<CairnRequestContext>(
            codeMode: CodeMode(sandboxes: sandboxes, artifacts: artifacts))
        codeMode.registerPublic(on: router)
        if configuration.metricsPublic { registerMetrics(on: router) }
        var tidebase = TidebaseRoutes<CairnRequestContext>(
            runs: runs, broker: broker, recovery: recovery, bodyLimit: configuration.maxBodyBytes)
        tidebase.sseKeepalive = sseKeepalive
        tidebase.sseBufferBytes = configuration.eventStreamBufferBytes
        tidebase.sseKeyCheck = .milliseconds(configuration.eventStreamKeyCheckMilliseconds)
        tidebase.keys = keys
        // Studio authenticates its browsers with its own session cookies, route by route.
        let runStream = tidebase
        StudioRoutes<CairnRequestContext>(
            server: self,
            eventStream: { request, context in try await runStream.eventStream(request, context: context) }
        ).register(on: router)
        router.add(middleware: AuthMiddleware(apiKey: configuration.apiKey, keys: keys, openMode: openMode))
        // Metrics describe every tenant: the root key's (or an open server's) unless public.
        if !configuration.metricsPublic {
            registerMetrics(on: router.group().add(middleware: RequireAccess<CairnRequestContext>.root))
        }
        KeyRoutes<CairnRequestContext>(keys: keys, openMode: openMode, bodyLimit: configuration.maxBodyBytes)
            .register(on: router)
        tidebase.register(on: router)
        SnapStateRoutes<CairnRequestContext>(
            checkpoints: checkpoints, bodyLimit: configuration.maxBodyBytes, limiter: rateLimiter
        ).register(on: router)
        ArtifactRoutes<CairnRequestContext>(artifacts: artifacts).register(on: router)
        SandboxRoutes<CairnRequestContext>(sandboxes: sandboxes, artifacts: artifacts).register(on: router)
        codeMode.register(on: router)
        return router
    }

    /// `GET /metrics`: Prometheus text.
    private func registerMetrics(on router: some RouterMethods<CairnRequestContext>) {
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
    }

    /// Whether the API is open (no configured key, no API key ever created): what start-up
    /// reports. Reading it also lets this process log the moment the first key is created.
    public func isOpen() async throws -> Bool {
        guard configuration.apiKey == nil else { return false }
        return try await openMode.isOpen()
    }

    public func makeApplication() -> some ApplicationProtocol {
        Application(
            router: makeRouter(),
            server: .guardedHTTP1(limits: configuration.connectionLimits, registry: connections),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "cairn"),
            onServerRunning: AcceptedConnectionsHandler.install(connections),
            logger: logger)
    }

    /// The S3 listener (workspaces), or nil when `s3Port` is 0. S3 keys authenticate it.
    public func makeS3Application() -> (some ApplicationProtocol)? {
        guard configuration.s3Port > 0 else { return nil as Application<S3Listener.Responder>? }
        let keys = self.keys
        let listener = S3Listener(
            workspaces: workspaces, keys: { id in try await keys.activeS3Key(accessKeyId: id) }, clock: clock,
            logger: Logger(label: "cairn.s3"), iam: IAMService(store: workspaces.store, clock: clock),
            accessLog: configuration.accessLog ? Logger(label: "cairn.access") : nil)
        return Application(
            responder: listener.responder(),
            server: .guardedHTTP1(limits: configuration.connectionLimits, registry: s3Connections),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.s3Port), serverName: "cairn"),
            onServerRunning: AcceptedConnectionsHandler.install(s3Connections),
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
        sandboxes.start()
        var services: [any Service] = [
            deliveries, checkpointExpiry, artifactSweeper, workspaceLifecycleSweeper,
            StoreGauges(
                runs: runs, interval: .milliseconds(StoreGauges.interval), logger: Logger(label: "cairn.gauges")),
        ]
        if let reconciler { services.append(reconciler) }
        services.append(app)
        if let s3 = makeS3Application() {
            services.append(BoundedGracefulShutdown(wrapped: s3, grace: grace, connections: s3Connections))
        }
        services.append(EventStreamShutdown(broker: broker, workspaceChanges: workspaces.changes))
        // Told first when the server stops: executions in flight end (killed) at once, so the
        // listener does not wait out its grace period for them.
        services.append(
            SandboxReaper(sandboxes: sandboxes, interval: .milliseconds(configuration.sandboxReapMilliseconds)))
        var group = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A backstop: whatever still runs well after the grace period is cancelled.
        group.maximumGracefulShutdownDuration = grace + .seconds(5)
        group.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: group).run()
        if let s3 = blobs as? S3BlobStore { try? await s3.shutdown() }
        (store as? PostgresStore)?.shutdown()
    }
}

/// Removes sandboxes past their TTL or idle TTL; when the server stops, removes every sandbox
/// with its processes and cgroups (first of all, so no request waits on an execution).
struct SandboxReaper: Service {
    let sandboxes: SandboxService
    let interval: Duration

    func run() async throws {
        await PeriodicService(interval: interval) { await sandboxes.reap() }.run()
        await sandboxes.shutdown()
    }
}

/// Ends every open event stream when graceful shutdown begins, so the HTTP server is not kept
/// waiting by clients that would stay connected forever.
struct EventStreamShutdown: Service {
    let broker: EventBroker
    let workspaceChanges: WorkspaceChangeFeed
    func run() async throws {
        try? await gracefulShutdown()
        broker.shutdown()
        workspaceChanges.shutdown()
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
