import CairnCore
import CairnStore

/// Everything `cairn serve` can be told, by flag or `CAIRN_*` variable.
public struct ServerConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 7373
    /// The S3 listener's port (workspaces), on the same host; 0 turns it off.
    public var s3Port: Int = 7374
    /// Where the embedded store keeps its files (and, on Postgres, upload spools).
    public var dataDirectory: String = ".cairn"
    /// `postgres://…`: every replica on one Postgres database; nil keeps the embedded SQLite file.
    public var databaseURL: String?
    /// Connections each replica may open to Postgres.
    public var databasePoolSize: Int = 16
    /// `s3://bucket/prefix`: artifact bytes in an S3-compatible bucket (credentials from the
    /// `AWS_*` variables); nil keeps them under the data directory.
    public var blobsLocation: String?
    /// The S3 endpoint (`http://host:port` for MinIO, moto and the like); nil: AWS's.
    public var s3Endpoint: String?
    /// The bearer key every request must carry; nil leaves the API open (loopback only, unless
    /// `allowUnauthenticated`).
    public var apiKey: String?
    public var allowUnauthenticated: Bool = false
    public var leaseMilliseconds: Int64 = 60_000
    /// Prefix of gate `resolveUrl`s; defaults to `http://<host>:<port>`.
    public var publicURL: String?
    /// Largest JSON request body accepted.
    public var maxBodyBytes: Int = 16 * 1024 * 1024
    public var logLevel: String = "info"
    /// Key for the HMAC signature of recovery calls; unsigned when nil.
    public var webhookSecret: String?
    /// How long a recovery call may take before it counts as failed.
    public var webhookTimeoutMilliseconds: Int64 = 30_000
    /// Pause between reconciler passes; 0 disables the reconciler.
    public var reconcileMilliseconds: Int64 = 1_000
    /// Let webhooks, recovery and invoke calls reach private and link-local addresses.
    public var allowPrivateWebhooks = false
    /// What schedules do about due times missed while the server was down.
    public var missedFirePolicy: MissedFirePolicy = .once
    /// Requests per API key per window on the checkpoint protocol's rate-limited routes; 0
    /// disables the limit.
    public var rateLimit: Int = 100
    public var rateLimitWindowMilliseconds: Int64 = 60_000
    /// Pause between sweeps of expired checkpoint workflows.
    public var checkpointSweepMilliseconds: Int64 = 1_000
    /// TTL of a checkpointed workflow when a save does not set one.
    public var checkpointDefaultTTLSeconds: Int64 = 604_800
    /// The largest artifact accepted (default 1 GiB).
    public var maxArtifactBytes: Int64 = 1 << 30
    /// Bytes of artifacts each tenant may store, uploads in flight included (default 10 GiB).
    public var tenantQuotaBytes: Int64 = 10 << 30
    /// The furthest expiry an artifact upload may ask for, in seconds; uploads that ask for
    /// none expire this long after they are stored. 0 (the default) means no maximum.
    public var maxArtifactTTLSeconds: Int64 = 0
    /// Pause between artifact sweeps (expired artifacts, stale temporary files, orphan blobs).
    public var artifactSweepMilliseconds: Int64 = 300_000
    /// Pause between passes that enforce workspace lifecycle rules (expiry, noncurrent versions,
    /// old multipart uploads). S3 runs its rules about once a day; this is finer.
    public var lifecycleSweepMilliseconds: Int64 = 600_000
    /// Age after which an upload's temporary file that no live upload owns is removed.
    public var staleUploadSeconds: Int64 = 3_600
    /// One log line per request (label `cairn.access`).
    public var accessLog = false
    /// `text` (key=value lines) or `json` (one object per line).
    public var logFormat = "text"
    /// Let anyone who can reach the server read `/metrics` (a Prometheus scraper on a private
    /// network); otherwise only the root key, or anyone while the server is open.
    public var metricsPublic = false
    /// Let webhooks, recovery and invoke calls reach loopback addresses (services on this
    /// machine). Off by default, whatever address the server listens on.
    public var allowLoopbackOutbound = false
    /// Bytes kept free in the data directory (a preallocated file) for deletes and expiry to
    /// use once the disk is full; 0 keeps none.
    public var diskReserveBytes: Int64 = 8 << 20
    // Connections, event streams and shutdown.
    /// Time from a request's first byte until its head is complete.
    public var headerTimeoutMilliseconds: Int64 = 10_000
    /// Time a connection may stay open with no request.
    public var idleTimeoutMilliseconds: Int64 = 60_000
    /// Time a request body may send nothing while the server waits for it.
    public var bodyTimeoutMilliseconds: Int64 = 30_000
    /// Open connections at most (idle ones make room for new ones; beyond, 503).
    public var maxConnections: Int = 1_000
    /// How long graceful shutdown waits for requests in flight before closing their connections.
    public var shutdownGraceMilliseconds: Int64 = 10_000
    /// Bytes of events an event stream may hold for a reader that is behind before it is
    /// disconnected (it resumes with `Last-Event-ID` or `?after=`).
    public var eventStreamBufferBytes: Int = 4 << 20
    /// How often an event stream checks that the API key that opened it is still valid.
    public var eventStreamKeyCheckMilliseconds: Int64 = 2_000
    /// Where sandbox directories live (nil: under the temporary directory, named after the
    /// data directory; it must be traversable by the sandbox user, so not the data directory).
    public var sandboxDirectory: String?
    /// The sandbox backend used when a request names none (nil: linux when its probe passes).
    public var sandboxBackend: String?
    /// Sandboxes alive at once on this server.
    public var maxSandboxes: Int = 64
    /// Pause between sweeps of sandboxes past their TTL or idle TTL.
    public var sandboxReapMilliseconds: Int64 = 1_000

    public init() {}

    public var effectivePublicURL: String { publicURL ?? "http://\(host == "0.0.0.0" ? "localhost" : host):\(port)" }

    /// The connection rules of every listener.
    public var connectionLimits: ConnectionLimits {
        var limits = ConnectionLimits()
        limits.headerTimeout = .milliseconds(headerTimeoutMilliseconds)
        limits.idleTimeout = .milliseconds(idleTimeoutMilliseconds)
        limits.bodyTimeout = .milliseconds(bodyTimeoutMilliseconds)
        limits.maxConnections = maxConnections
        limits.maxRequestBodyBytes = max(Int64(maxBodyBytes), maxArtifactBytes)
        return limits
    }

    public var databasePath: String { dataDirectory + "/cairn.sqlite" }

    /// The sandbox service's settings.
    public var sandboxConfiguration: SandboxService.Configuration {
        var c = SandboxService.Configuration.forDataDirectory(dataDirectory)
        if let sandboxDirectory { c.root = sandboxDirectory }
        c.defaultBackend = sandboxBackend
        c.maxSandboxes = maxSandboxes
        c.maxPerTenant = max(1, maxSandboxes / 2)
        return c
    }

    public var blobDirectory: String { dataDirectory + "/blobs" }

    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    /// The largest `maxArtifactTTLSeconds` (100 years, the longest `ttl` an upload may give).
    public static let maxArtifactTTLLimit: Int64 = 100 * 365 * 86_400

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Refuses settings that would be unsafe or cannot work.
    public func validate() throws {
        guard (1...65535).contains(port) else { throw Invalid(description: "port must be 1...65535, got \(port)") }
        guard (0...65535).contains(s3Port) else {
            throw Invalid(description: "s3-port must be 0...65535 (0 turns the S3 listener off), got \(s3Port)")
        }
        guard s3Port != port else { throw Invalid(description: "s3-port must differ from port (both are \(port))") }
        guard reconcileMilliseconds >= 0 else { throw Invalid(description: "reconcile-ms must be >= 0") }
        guard rateLimit >= 0 else { throw Invalid(description: "rate-limit must be >= 0") }
        guard rateLimitWindowMilliseconds >= 1 else { throw Invalid(description: "rate-limit-window-ms must be >= 1") }
        guard checkpointSweepMilliseconds >= 1 else { throw Invalid(description: "checkpoint-sweep-ms must be >= 1") }
        guard (1...CheckpointService.Configuration.maxTTLSeconds).contains(checkpointDefaultTTLSeconds) else {
            throw Invalid(
                description: "checkpoint-ttl must be 1...\(CheckpointService.Configuration.maxTTLSeconds) seconds")
        }
        guard (1...10_000).contains(maxSandboxes) else { throw Invalid(description: "max-sandboxes must be 1...10000") }
        if let backend = sandboxBackend, !["linux", "process"].contains(backend) {
            throw Invalid(description: "sandbox-backend must be linux or process, got \(backend)")
        }
        guard sandboxReapMilliseconds >= 1 else { throw Invalid(description: "sandbox-reap-ms must be >= 1") }
        guard leaseMilliseconds >= 1000 else { throw Invalid(description: "lease must be at least 1000 ms") }
        if apiKey == nil, !Self.isLoopback(host), !allowUnauthenticated {
            throw Invalid(
                description: """
                    refusing to listen on \(host) without an API key: anyone who can reach it could read and change \
                    every run. Set --api-key / CAIRN_API_KEY, or pass --allow-unauthenticated if this network is trusted.
                    """)
        }
        guard maxArtifactBytes > 0, tenantQuotaBytes > 0 else {
            throw Invalid(description: "max-artifact-bytes and tenant-quota-bytes must be positive")
        }
        guard (0...Self.maxArtifactTTLLimit).contains(maxArtifactTTLSeconds) else {
            throw Invalid(
                description:
                    "max-artifact-ttl-seconds must be 0 (no maximum) to \(Self.maxArtifactTTLLimit), got \(maxArtifactTTLSeconds)"
            )
        }
        guard artifactSweepMilliseconds > 0, staleUploadSeconds > 0, lifecycleSweepMilliseconds > 0 else {
            throw Invalid(
                description: "artifact-sweep-ms, stale-upload-seconds and lifecycle-sweep-ms must be positive")
        }
        guard (0...(1 << 40)).contains(diskReserveBytes) else {
            throw Invalid(description: "disk-reserve-bytes must be 0 to 1 TiB, got \(diskReserveBytes)")
        }
        for (name, value) in [
            ("header-timeout-ms", headerTimeoutMilliseconds), ("idle-timeout-ms", idleTimeoutMilliseconds),
            ("body-timeout-ms", bodyTimeoutMilliseconds), ("shutdown-grace-ms", shutdownGraceMilliseconds),
            ("sse-key-check-ms", eventStreamKeyCheckMilliseconds),
        ] where value < 1 {
            throw Invalid(description: "\(name) must be >= 1, got \(value)")
        }
        if let databaseURL {
            do {
                _ = try PostgresStore.Endpoint.parse(databaseURL)
            } catch {
                throw Invalid(description: "database: \(error)")
            }
            guard (2...1_000).contains(databasePoolSize) else {
                throw Invalid(description: "database-pool-size must be 2 to 1000, got \(databasePoolSize)")
            }
        }
        if let blobsLocation {
            do {
                _ = try S3BlobStore.Configuration.parseLocation(blobsLocation)
            } catch {
                throw Invalid(description: "blobs: \(error)")
            }
        }
        guard maxConnections >= 1 else { throw Invalid(description: "max-connections must be >= 1") }
        guard eventStreamBufferBytes >= 1024 else { throw Invalid(description: "sse-buffer-bytes must be >= 1024") }
        if let apiKey, apiKey.count < 16 { throw Invalid(description: "the API key must be at least 16 characters") }
    }

    /// The settings as printed at start-up: the key itself never appears.
    public var summary: [(String, String)] {
        [
            ("host", host), ("port", String(port)), ("s3-port", s3Port == 0 ? "off" : String(s3Port)),
            ("data-dir", dataDirectory),
            ("database", databaseURL.flatMap { try? PostgresStore.Endpoint.parse($0).redacted } ?? "embedded SQLite"),
            ("database-pool-size", String(databasePoolSize)),
            ("blobs", blobsLocation ?? "local (data-dir/blobs)"), ("s3-endpoint", s3Endpoint ?? "AWS"),
            ("api-key", apiKey == nil ? "none" : "set (redacted)"),
            ("allow-unauthenticated", String(allowUnauthenticated)), ("lease-ms", String(leaseMilliseconds)),
            ("public-url", effectivePublicURL), ("max-body-bytes", String(maxBodyBytes)), ("log-level", logLevel),
            ("webhook-secret", webhookSecret == nil ? "none (unsigned)" : "set (redacted)"),
            ("webhook-timeout-ms", String(webhookTimeoutMilliseconds)),
            ("reconcile-ms", String(reconcileMilliseconds)), ("missed-fires", missedFirePolicy.rawValue),
            ("allow-private-webhooks", String(allowPrivateWebhooks)),
            ("rate-limit", rateLimit == 0 ? "off" : "\(rateLimit) per \(rateLimitWindowMilliseconds) ms per key"),
            ("checkpoint-ttl", String(checkpointDefaultTTLSeconds)),
            ("checkpoint-sweep-ms", String(checkpointSweepMilliseconds)),
            ("max-artifact-bytes", String(maxArtifactBytes)), ("tenant-quota-bytes", String(tenantQuotaBytes)),
            ("max-artifact-ttl-seconds", maxArtifactTTLSeconds == 0 ? "none" : String(maxArtifactTTLSeconds)),
            ("artifact-sweep-ms", String(artifactSweepMilliseconds)),
            ("stale-upload-seconds", String(staleUploadSeconds)),
            ("lifecycle-sweep-ms", String(lifecycleSweepMilliseconds)),
            ("metrics-public", String(metricsPublic)), ("access-log", String(accessLog)), ("log-format", logFormat),
            ("allow-loopback-outbound", String(allowLoopbackOutbound)),
            ("disk-reserve-bytes", String(diskReserveBytes)),
            ("header-timeout-ms", String(headerTimeoutMilliseconds)),
            ("idle-timeout-ms", String(idleTimeoutMilliseconds)), ("body-timeout-ms", String(bodyTimeoutMilliseconds)),
            ("max-connections", String(maxConnections)), ("shutdown-grace-ms", String(shutdownGraceMilliseconds)),
            ("sse-buffer-bytes", String(eventStreamBufferBytes)),
            ("sse-key-check-ms", String(eventStreamKeyCheckMilliseconds)),
            ("sandbox-dir", sandboxConfiguration.root), ("sandbox-backend", sandboxBackend ?? "linux if it works"),
            ("max-sandboxes", String(maxSandboxes)), ("sandbox-reap-ms", String(sandboxReapMilliseconds)),
        ]
    }
}
