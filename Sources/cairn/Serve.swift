import ArgumentParser
import CairnCore
import CairnServer
import Foundation
import Logging
import Metrics
import Prometheus

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Cairn server (on the embedded store, or on Postgres with --database).",
        discussion: """
            Every option can also be set with the CAIRN_* environment variable named beside it (after it, \
            the default); a flag wins.
            Examples:
              cairn serve        (127.0.0.1:7373, data in ./.cairn)
              cairn serve --data-dir /srv/cairn --host 0.0.0.0 --api-key "$ROOT"
            """)

    @Option(help: "Address to listen on (CAIRN_HOST; 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on (CAIRN_PORT; 7373).") var port: Int?
    @Option(
        name: .customLong("s3-port"),
        help: "Port of the S3 listener for workspaces, on the same host (CAIRN_S3_PORT; 7374; 0 turns it off).")
    var s3Port: Int?
    @Option(name: .customLong("data-dir"), help: "Directory for the embedded store (CAIRN_DATA_DIR; ./.cairn).")
    var dataDir: String?
    @Option(
        name: .customLong("database"),
        help: """
            postgres://user:password@host:port/db: run on Postgres, so several replicas can share it \
            (CAIRN_DATABASE; default: the embedded SQLite file in the data directory).
            """)
    var database: String?
    @Option(
        name: .customLong("database-pool-size"),
        help: "Connections this replica may open to Postgres (CAIRN_DATABASE_POOL_SIZE; 16).")
    var databasePoolSize: Int?
    @Option(
        name: .customLong("blobs"),
        help: """
            s3://bucket/prefix: keep artifact bytes in an S3-compatible bucket that every replica shares, \
            with credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (CAIRN_BLOBS; default: the data directory).
            """)
    var blobs: String?
    @Option(
        name: .customLong("s3-endpoint"),
        help: "The S3 endpoint for --blobs, e.g. http://127.0.0.1:9000 (CAIRN_S3_ENDPOINT; AWS).")
    var s3Endpoint: String?
    @Option(
        name: .customLong("api-key"),
        help: "Root key: every tenant, key management (CAIRN_API_KEY; none: open on loopback until a key exists).")
    var apiKey: String?
    @Flag(
        name: .customLong("allow-unauthenticated"),
        help: "Allow a non-loopback address without an API key (CAIRN_ALLOW_UNAUTHENTICATED=1).")
    var allowUnauthenticated = false
    @Option(name: .customLong("lease-ms"), help: "Run and step lease duration in milliseconds (CAIRN_LEASE_MS; 60000).")
    var leaseMs: Int64?
    @Option(
        name: .customLong("public-url"),
        help: "Base URL used in gate resolve links (CAIRN_PUBLIC_URL; http://HOST:PORT).")
    var publicURL: String?
    @Option(name: .customLong("max-body-bytes"), help: "Largest request body accepted (CAIRN_MAX_BODY_BYTES; 16 MiB).")
    var maxBodyBytes: Int?
    @Option(
        name: .customLong("webhook-secret"),
        help: "HMAC key for signing recovery calls (CAIRN_WEBHOOK_SECRET; unsigned).")
    var webhookSecret: String?
    @Option(
        name: .customLong("webhook-timeout-ms"), help: "Timeout of a recovery call (CAIRN_WEBHOOK_TIMEOUT_MS; 30000).")
    var webhookTimeoutMs: Int64?
    @Option(
        name: .customLong("reconcile-ms"),
        help: "Pause between reconciler passes; 0 disables it (CAIRN_RECONCILE_MS; 1000).")
    var reconcileMs: Int64?
    @Flag(
        name: .customLong("allow-private-webhooks"),
        help: "Let outbound calls reach private and link-local addresses (CAIRN_ALLOW_PRIVATE_WEBHOOKS=1).")
    var allowPrivateWebhooks = false
    @Option(
        name: .customLong("missed-fires"),
        help: "once, skip or all: schedule times missed while down (CAIRN_MISSED_FIRES; once).")
    var missedFires: String?
    @Option(
        name: .customLong("rate-limit"),
        help: "Checkpoint-protocol requests per API key per window; 0 disables (CAIRN_RATE_LIMIT; 100).")
    var rateLimit: Int?
    @Option(
        name: .customLong("rate-limit-window-ms"), help: "The rate-limit window (CAIRN_RATE_LIMIT_WINDOW_MS; 60000).")
    var rateLimitWindowMs: Int64?
    @Option(
        name: .customLong("checkpoint-ttl"),
        help: "Seconds a checkpointed workflow lives after its latest save by default (CAIRN_CHECKPOINT_TTL; 604800).")
    var checkpointTTL: Int64?
    @Option(
        name: .customLong("sandbox-dir"),
        help: "Where sandbox directories live (CAIRN_SANDBOX_DIR; $TMPDIR/cairn-sandboxes-<data-dir hash>).")
    var sandboxDir: String?
    @Option(
        name: .customLong("sandbox-backend"),
        help:
            "The sandbox backend when a request names none: linux or process (CAIRN_SANDBOX_BACKEND; linux if it works)."
    )
    var sandboxBackend: String?
    @Option(name: .customLong("max-sandboxes"), help: "Sandboxes alive at once (CAIRN_MAX_SANDBOXES; 64).")
    var maxSandboxes: Int?
    @Option(
        name: .customLong("sandbox-reap-ms"),
        help: "Pause between removals of sandboxes past their TTL or idle TTL (CAIRN_SANDBOX_REAP_MS; 1000).")
    var sandboxReapMs: Int64?
    @Option(
        name: .customLong("checkpoint-sweep-ms"),
        help: "Pause between sweeps of expired checkpoint workflows (CAIRN_CHECKPOINT_SWEEP_MS; 1000).")
    var checkpointSweepMs: Int64?
    @Option(
        name: .customLong("max-artifact-bytes"), help: "Largest artifact accepted (CAIRN_MAX_ARTIFACT_BYTES; 1 GiB).")
    var maxArtifactBytes: Int64?
    @Option(
        name: .customLong("tenant-quota-bytes"),
        help: "Artifact bytes each tenant may store, uploads in flight included (CAIRN_TENANT_QUOTA_BYTES; 10 GiB).")
    var tenantQuotaBytes: Int64?
    @Option(
        name: .customLong("max-artifact-ttl-seconds"),
        help: """
            Furthest expiry an artifact upload may ask for; uploads without one expire this long after they \
            are stored (CAIRN_MAX_ARTIFACT_TTL_SECONDS; 0 = no maximum).
            """)
    var maxArtifactTTLSeconds: Int64?
    @Option(
        name: .customLong("artifact-sweep-ms"),
        help: "Pause between artifact sweeps (CAIRN_ARTIFACT_SWEEP_MS; 300000).")
    var artifactSweepMs: Int64?
    @Option(
        name: .customLong("lifecycle-sweep-ms"),
        help: "Pause between passes enforcing workspace lifecycle rules (CAIRN_LIFECYCLE_SWEEP_MS; 600000).")
    var lifecycleSweepMs: Int64?
    @Option(
        name: .customLong("stale-upload-seconds"),
        help: "Age at which a dead upload's temporary file is removed (CAIRN_STALE_UPLOAD_SECONDS; 3600).")
    var staleUploadSeconds: Int64?
    @Flag(name: .customLong("access-log"), help: "Log one line per request (CAIRN_ACCESS_LOG=1).")
    var accessLog = false
    @Option(
        name: .customLong("log-format"),
        help: "text (key=value lines) or json (one object per line) (CAIRN_LOG_FORMAT; text).")
    var logFormat: String?
    @Flag(
        name: .customLong("metrics-public"),
        help:
            "Serve /metrics without a key, e.g. to a Prometheus scraper on a private network (CAIRN_METRICS_PUBLIC=1).")
    var metricsPublic = false
    @Flag(
        name: .customLong("allow-loopback-outbound"),
        help: "Let outbound calls reach loopback addresses on this machine (CAIRN_ALLOW_LOOPBACK_OUTBOUND=1).")
    var allowLoopbackOutbound = false
    @Option(
        name: .customLong("disk-reserve-bytes"),
        help: "Space kept free for deletes once the disk is full; 0 keeps none (CAIRN_DISK_RESERVE_BYTES; 8 MiB).")
    var diskReserveBytes: Int64?
    @Option(
        name: .customLong("header-timeout-ms"),
        help: "Time from a request's first byte until its head is complete (CAIRN_HEADER_TIMEOUT_MS; 10000).")
    var headerTimeoutMs: Int64?
    @Option(
        name: .customLong("idle-timeout-ms"),
        help: "Time a connection may stay open with no request (CAIRN_IDLE_TIMEOUT_MS; 60000).")
    var idleTimeoutMs: Int64?
    @Option(
        name: .customLong("body-timeout-ms"),
        help: "Time a request body may send nothing before the request ends with 408 (CAIRN_BODY_TIMEOUT_MS; 30000).")
    var bodyTimeoutMs: Int64?
    @Option(
        name: .customLong("max-connections"),
        help: "Open connections at most; idle ones make room, beyond that 503 (CAIRN_MAX_CONNECTIONS; 1000).")
    var maxConnections: Int?
    @Option(
        name: .customLong("shutdown-grace-ms"),
        help: "How long shutdown waits for requests in flight before closing them (CAIRN_SHUTDOWN_GRACE_MS; 10000).")
    var shutdownGraceMs: Int64?
    @Option(
        name: .customLong("sse-buffer-bytes"),
        help:
            "Event bytes held for a slow event-stream reader before it is disconnected (CAIRN_SSE_BUFFER_BYTES; 4 MiB)."
    )
    var sseBufferBytes: Int?
    @Option(
        name: .customLong("sse-key-check-ms"),
        help: "How often an event stream re-checks its API key (CAIRN_SSE_KEY_CHECK_MS; 2000).")
    var sseKeyCheckMs: Int64?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error (CAIRN_LOG_LEVEL; info).")
    var logLevel: String?

    func resolvedConfiguration(environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> ServerConfiguration
    {
        var c = ServerConfiguration()
        func env(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        func envInt(_ name: String) throws -> Int? {
            guard let raw = env(name) else { return nil }
            guard let v = Int(raw) else { throw ValidationError("\(name) must be an integer, got \(raw)") }
            return v
        }
        c.host = host ?? env("CAIRN_HOST") ?? c.host
        c.port = try port ?? envInt("CAIRN_PORT") ?? c.port
        c.s3Port = try s3Port ?? envInt("CAIRN_S3_PORT") ?? c.s3Port
        c.dataDirectory = dataDir ?? env("CAIRN_DATA_DIR") ?? c.dataDirectory
        c.databaseURL = database ?? env("CAIRN_DATABASE")
        c.databasePoolSize = try databasePoolSize ?? envInt("CAIRN_DATABASE_POOL_SIZE") ?? c.databasePoolSize
        c.blobsLocation = blobs ?? env("CAIRN_BLOBS")
        c.s3Endpoint = s3Endpoint ?? env("CAIRN_S3_ENDPOINT")
        c.apiKey = apiKey ?? env("CAIRN_API_KEY")
        c.allowUnauthenticated =
            allowUnauthenticated || ["1", "true", "yes"].contains(env("CAIRN_ALLOW_UNAUTHENTICATED") ?? "")
        c.leaseMilliseconds = try leaseMs ?? envInt("CAIRN_LEASE_MS").map(Int64.init) ?? c.leaseMilliseconds
        c.publicURL = publicURL ?? env("CAIRN_PUBLIC_URL")
        c.maxBodyBytes = try maxBodyBytes ?? envInt("CAIRN_MAX_BODY_BYTES") ?? c.maxBodyBytes
        c.logLevel = logLevel ?? env("CAIRN_LOG_LEVEL") ?? c.logLevel
        c.webhookSecret = webhookSecret ?? env("CAIRN_WEBHOOK_SECRET")
        c.allowPrivateWebhooks =
            allowPrivateWebhooks || ["1", "true", "yes"].contains(env("CAIRN_ALLOW_PRIVATE_WEBHOOKS") ?? "")
        c.reconcileMilliseconds =
            try reconcileMs ?? envInt("CAIRN_RECONCILE_MS").map(Int64.init) ?? c.reconcileMilliseconds
        c.webhookTimeoutMilliseconds =
            try webhookTimeoutMs ?? envInt("CAIRN_WEBHOOK_TIMEOUT_MS").map(Int64.init)
            ?? c.webhookTimeoutMilliseconds
        c.rateLimit = try rateLimit ?? envInt("CAIRN_RATE_LIMIT") ?? c.rateLimit
        c.rateLimitWindowMilliseconds =
            try rateLimitWindowMs ?? envInt("CAIRN_RATE_LIMIT_WINDOW_MS").map(Int64.init)
            ?? c.rateLimitWindowMilliseconds
        c.checkpointDefaultTTLSeconds =
            try checkpointTTL ?? envInt("CAIRN_CHECKPOINT_TTL").map(Int64.init) ?? c.checkpointDefaultTTLSeconds
        c.checkpointSweepMilliseconds =
            try checkpointSweepMs ?? envInt("CAIRN_CHECKPOINT_SWEEP_MS").map(Int64.init)
            ?? c.checkpointSweepMilliseconds
        c.sandboxDirectory = sandboxDir ?? env("CAIRN_SANDBOX_DIR")
        c.sandboxBackend = sandboxBackend ?? env("CAIRN_SANDBOX_BACKEND")
        c.maxSandboxes = try maxSandboxes ?? envInt("CAIRN_MAX_SANDBOXES") ?? c.maxSandboxes
        c.sandboxReapMilliseconds =
            try sandboxReapMs ?? envInt("CAIRN_SANDBOX_REAP_MS").map(Int64.init) ?? c.sandboxReapMilliseconds
        c.maxArtifactBytes =
            try maxArtifactBytes ?? envInt("CAIRN_MAX_ARTIFACT_BYTES").map(Int64.init) ?? c.maxArtifactBytes
        c.tenantQuotaBytes =
            try tenantQuotaBytes ?? envInt("CAIRN_TENANT_QUOTA_BYTES").map(Int64.init) ?? c.tenantQuotaBytes
        c.maxArtifactTTLSeconds =
            try maxArtifactTTLSeconds ?? envInt("CAIRN_MAX_ARTIFACT_TTL_SECONDS").map(Int64.init)
            ?? c.maxArtifactTTLSeconds
        c.artifactSweepMilliseconds =
            try artifactSweepMs ?? envInt("CAIRN_ARTIFACT_SWEEP_MS").map(Int64.init) ?? c.artifactSweepMilliseconds
        c.lifecycleSweepMilliseconds =
            try lifecycleSweepMs ?? envInt("CAIRN_LIFECYCLE_SWEEP_MS").map(Int64.init) ?? c.lifecycleSweepMilliseconds
        c.staleUploadSeconds =
            try staleUploadSeconds ?? envInt("CAIRN_STALE_UPLOAD_SECONDS").map(Int64.init) ?? c.staleUploadSeconds
        c.metricsPublic = metricsPublic || ["1", "true", "yes"].contains(env("CAIRN_METRICS_PUBLIC") ?? "")
        c.accessLog = accessLog || ["1", "true", "yes"].contains(env("CAIRN_ACCESS_LOG") ?? "")
        c.logFormat = logFormat ?? env("CAIRN_LOG_FORMAT") ?? c.logFormat
        guard ["text", "json"].contains(c.logFormat) else {
            throw ValidationError("log-format must be text or json, got \(c.logFormat)")
        }
        c.allowLoopbackOutbound =
            allowLoopbackOutbound || ["1", "true", "yes"].contains(env("CAIRN_ALLOW_LOOPBACK_OUTBOUND") ?? "")
        c.diskReserveBytes =
            try diskReserveBytes ?? envInt("CAIRN_DISK_RESERVE_BYTES").map(Int64.init) ?? c.diskReserveBytes
        c.headerTimeoutMilliseconds =
            try headerTimeoutMs ?? envInt("CAIRN_HEADER_TIMEOUT_MS").map(Int64.init) ?? c.headerTimeoutMilliseconds
        c.idleTimeoutMilliseconds =
            try idleTimeoutMs ?? envInt("CAIRN_IDLE_TIMEOUT_MS").map(Int64.init) ?? c.idleTimeoutMilliseconds
        c.bodyTimeoutMilliseconds =
            try bodyTimeoutMs ?? envInt("CAIRN_BODY_TIMEOUT_MS").map(Int64.init) ?? c.bodyTimeoutMilliseconds
        c.maxConnections = try maxConnections ?? envInt("CAIRN_MAX_CONNECTIONS") ?? c.maxConnections
        c.shutdownGraceMilliseconds =
            try shutdownGraceMs ?? envInt("CAIRN_SHUTDOWN_GRACE_MS").map(Int64.init) ?? c.shutdownGraceMilliseconds
        c.eventStreamBufferBytes = try sseBufferBytes ?? envInt("CAIRN_SSE_BUFFER_BYTES") ?? c.eventStreamBufferBytes
        c.eventStreamKeyCheckMilliseconds =
            try sseKeyCheckMs ?? envInt("CAIRN_SSE_KEY_CHECK_MS").map(Int64.init) ?? c.eventStreamKeyCheckMilliseconds
        let policy = missedFires ?? env("CAIRN_MISSED_FIRES") ?? c.missedFirePolicy.rawValue
        guard let parsedPolicy = MissedFirePolicy(rawValue: policy) else {
            throw ValidationError("missed-fires must be once, skip or all, got \(policy)")
        }
        c.missedFirePolicy = parsedPolicy
        guard Logger.Level(rawValue: c.logLevel) != nil else {
            throw ValidationError("unknown log level \(c.logLevel)")
        }
        return c
    }

    func run() async throws {
        let configuration = try resolvedConfiguration()
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        let json = configuration.logFormat == "json"
        LoggingSystem.bootstrap { label in
            CairnLogHandler(label: label, format: json ? .json : .text, logLevel: level)
        }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
        ]
        factory.defaultValueHistogramBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
        MetricsSystem.bootstrap(factory)

        let logger = Logger(label: "cairn")
        // Both checks come before the store is opened, so a mistake leaves nothing behind.
        try Self.checkDataDirectory(configuration.dataDirectory)
        try Self.checkListenable(host: configuration.host, port: configuration.port)
        if configuration.s3Port > 0 { try Self.checkListenable(host: configuration.host, port: configuration.s3Port) }
        let server: CairnServer
        do {
            server = try await CairnServer.open(configuration: configuration, registry: registry, logger: logger)
        } catch let error as ServerConfiguration.Invalid {
            throw ValidationError(error.description)
        }
        let open = try await server.isOpen()
        logger.info(
            "starting cairn \(CairnVersion.string)",
            metadata: Logger.Metadata(
                uniqueKeysWithValues: (configuration.summary + [("access", configuration.accessSummary(open: open))])
                    .map { ($0.0, .string($0.1)) }))
        if let warning = configuration.openAccessWarning(open: open) {
            logger.warning("\(warning)")
        }
        try await server.run()
        logger.info("stopped")
    }

    /// The data directory may be missing (it is created) but must not be something else.
    static func checkDataDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw CLIError("not a directory: \(path) (--data-dir or CAIRN_DATA_DIR names the data directory)")
        }
    }

    /// Binds the address once and lets it go, to say plainly why the server cannot start.
    static func checkListenable(host: String, port: Int) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else {
            throw CLIError("cannot listen on \(host):\(port): no such address")
        }
        defer { freeaddrinfo(found) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return }  // let the server report it
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        if bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
            let reason = errno == EADDRINUSE ? "address already in use" : String(cString: strerror(errno))
            throw CLIError("cannot listen on \(host):\(port): \(reason)")
        }
    }
}
