import Logging
import Synchronization

/// Artifacts: streamed, checksummed, quota-safe, expiring uploads into the shared blob store.
///
/// An upload streams into a temporary blob write, hashed on the fly, while its size is checked
/// against the maximum and its bytes are reserved against the tenant's quota (so uploads in
/// flight count too). On commit the write is synced and published under its digest and the row
/// is inserted, with the quota re-checked inside that (serialized) transaction: the row is the
/// visibility point, and nothing is acknowledged before it is durable. Any failure discards
/// the write and leaves no row, blob or temporary file behind.
public final class ArtifactService: Sendable {
    public struct Limits: Sendable {
        /// The largest artifact (default 1 GiB).
        public var maxArtifactBytes: Int64 = 1 << 30
        /// Bytes a tenant may store, counting uploads in flight (default 10 GiB).
        public var tenantQuotaBytes: Int64 = 10 << 30
        /// The furthest expiry an upload may ask for, in seconds from now; an upload that asks
        /// for none expires this long after it is created. 0 (the default) means no maximum.
        public var maxTTLSeconds: Int64 = 0
        public init() {}
    }

    public struct SweepReport: Sendable, Equatable {
        public var staleWrites = 0
        public var expired = 0
        public var orphanBlobs = 0
        public var missingBlobs = 0
        public init() {}
    }

    public let store: any ArtifactStore
    public let blobs: any BlobStore
    public let limits: Limits
    /// The blob layer's per-digest locks, shared with every other feature that keeps blobs.
    let locks: BlobLocks
    /// Bytes reserved by uploads in flight, per tenant.
    let reserved = Mutex<[TenantID: Int64]>([:])
    let logger: Logger
    /// What expiry and TTLs are measured by.
    public let clock: any WallClock

    public init(
        store: any ArtifactStore, blobs: any BlobStore, locks: BlobLocks = BlobLocks(), limits: Limits = Limits(),
        logger: Logger = Logger(label: "cairn.artifacts"), clock: any WallClock = SystemClock()
    ) {
        self.store = store
        self.blobs = blobs
        self.locks = locks
        self.limits = limits
        self.logger = logger
        self.clock = clock
    }

    /// Refuses a request whose fields are malformed or break the server's limits; reads nothing.
    func validate(_ request: ArtifactUploadRequest, now: Timestamp) throws {
        if let problem = ArtifactNames.problem(name: request.name) {
            throw ArtifactError.invalid(field: "name", message: "name \(problem)")
        }
        if let problem = ArtifactNames.problem(contentType: request.contentType) {
            throw ArtifactError.invalid(field: "Content-Type", message: "Content-Type \(problem)")
        }
        if let owner = request.owner, let problem = ArtifactNames.problem(label: owner, maxBytes: 256) {
            throw ArtifactError.invalid(field: "owner", message: "owner \(problem)")
        }
        if request.owner?.isEmpty == true { throw ArtifactError.invalid(field: "owner", message: "owner is empty") }
        let metadataBytes = request.metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        if metadataBytes > ArtifactNames.maxMetadataBytes {
            throw ArtifactError.invalid(
                field: "metadata", message: "metadata must be at most \(ArtifactNames.maxMetadataBytes) bytes in all")
        }
        if let expected = request.expectedSHA256, !ArtifactNames.isValidDigest(expected.lowercased()) {
            throw ArtifactError.invalid(field: "sha256", message: "sha256 must be 64 hex characters")
        }
        if let key = request.idempotencyKey, let problem = ArtifactNames.problem(idempotencyKey: key) {
            throw ArtifactError.invalid(field: "Idempotency-Key", message: "Idempotency-Key \(problem)")
        }
        if let expiresAt = request.expiresAt {
            if expiresAt <= now {
                throw ArtifactError.invalid(field: "expiresAt", message: "expiry must be in the future")
            }
            let max = limits.maxTTLSeconds
            if max > 0, expiresAt > now.adding(milliseconds: max * 1000) {
                throw ArtifactError.invalid(
                    field: "expiresAt",
                    message:
                        "expiry (ttl or expiresAt) must be at most \(max) seconds away: the server's maximum artifact TTL"
                )
            }
        }
        if let declared = request.declaredLength {
            if declared < 0 { throw ArtifactError.invalid(field: "Content-Length", message: "negative length") }
            if declared > limits.maxArtifactBytes { throw ArtifactError.tooLarge(limit: limits.maxArtifactBytes) }
        }
    }

    /// The artifact an earlier attempt of this upload created, found by its idempotency key
    /// before a byte of the body is read: the tenant's live artifact under the request's key,
    /// or nil (no key, or no such artifact yet). Validates the request first, so a malformed
    /// one is refused the same way `beginUpload` would. Throws `idempotencyKeyReused` if the
    /// request expects a SHA-256 other than the stored artifact's.
    public func replay(_ request: ArtifactUploadRequest, tenant: TenantID) async throws -> Artifact? {
        let now = clock.now()
        try validate(request, now: now)
        guard let key = request.idempotencyKey,
            let existing = try await store.artifact(idempotencyKey: key, tenant: tenant, now: now)
        else { return nil }
        try Self.checkReplay(of: existing, for: request)
        return existing
    }

    /// A request whose expected SHA-256 differs from the artifact already under its key is
    /// not a retry of the same upload.
    static func checkReplay(of existing: Artifact, for request: ArtifactUploadRequest) throws {
        if let expected = request.expectedSHA256?.lowercased(), expected != existing.sha256 {
            throw ArtifactError.idempotencyKeyReused(key: request.idempotencyKey ?? "", existing: existing)
        }
    }

    /// Validates the request and starts an upload; checks the declared length against the
    /// maximum and the quota before a byte is read. (Call `replay` first for a request with an
    /// idempotency key; the commit settles races between attempts.)
    public func beginUpload(_ request: ArtifactUploadRequest, tenant: TenantID) async throws -> ArtifactUpload {
        try validate(request, now: clock.now())
        let used = try await store.artifactUsage(tenant: tenant)
        let upload = ArtifactUpload(service: self, tenant: tenant, request: request, usedAtStart: used)
        try upload.reserve(upTo: request.declaredLength ?? 0)
        do {
            upload.write = try blobs.beginWrite()
        } catch {
            upload.abort()
            throw error
        }
        return upload
    }

    /// Reserves `delta` more bytes for `tenant` if its stored bytes (`used`) plus everything
    /// reserved stays within the quota.
    func reserve(_ delta: Int64, tenant: TenantID, used: Int64) throws {
        try reserved.withLock { r in
            let total = (r[tenant] ?? 0) + delta
            guard used + total <= limits.tenantQuotaBytes else {
                throw ArtifactError.quotaExceeded(quota: limits.tenantQuotaBytes, used: used + (r[tenant] ?? 0))
            }
            r[tenant] = total
        }
    }

    func unreserve(_ bytes: Int64, tenant: TenantID) {
        guard bytes > 0 else { return }
        reserved.withLock { r in
            let left = (r[tenant] ?? 0) - bytes
            r[tenant] = left > 0 ? left : nil
        }
    }

    /// Publishes the finished write under its digest and commits the row, under the digest's
    /// lock; removes the blob again if the commit fails (a refusal, or an idempotency conflict:
    /// another attempt of the same upload committed first) and nothing else references it.
    func commit(_ artifact: Artifact, write: any BlobWrite) async throws {
        try await locks.withLock(artifact.sha256) {
            let created = try await write.publish()
            let blobs = self.blobs, digest = artifact.sha256
            do {
                // With replicas sharing a blob store, another one's sweeper may have removed
                // these bytes (unreferenced a moment ago) after the publish: checked again under
                // the lock the sweeper takes, so a committed row always has its blob.
                try await store.insertArtifact(artifact, quota: limits.tenantQuotaBytes) {
                    guard try await blobs.size(of: digest) != nil else { throw ArtifactError.blobRemovedMeanwhile }
                }
            } catch {
                if created, try await !store.isBlobReferenced(artifact.sha256) {
                    try await blobs.remove(artifact.sha256)
                }
                throw error
            }
        }
    }

    /// The artifact's record; `notFound` for unknown, expired or another tenant's ids.
    public func artifact(id: String, tenant: TenantID) async throws -> Artifact {
        guard ArtifactNames.isValidID(id), let a = try await store.artifact(id: id, tenant: tenant, now: clock.now())
        else { throw ArtifactError.notFound }
        return a
    }

    /// The record and its bytes, open for reading.
    public func open(id: String, tenant: TenantID) async throws -> (Artifact, any BlobRead) {
        let artifact = try await artifact(id: id, tenant: tenant)
        guard let read = try await blobs.open(artifact.sha256) else {
            logger.error("artifact bytes are missing", metadata: ["artifact": "\(id)", "sha256": "\(artifact.sha256)"])
            throw BlobMissing(digest: artifact.sha256)
        }
        return (artifact, read)
    }

    public struct BlobMissing: Error, Sendable {
        public let digest: String
    }

    public func list(tenant: TenantID, query: ArtifactListQuery) async throws -> ArtifactPage {
        var query = query
        query.limit = min(max(query.limit, 1), 1000)
        var rows = try await store.artifacts(tenant: tenant, query: query, now: clock.now())
        var next: String?
        if rows.count > query.limit {
            rows.removeLast(rows.count - query.limit)
            next = rows.last.map { ArtifactCursor.encode(name: $0.name, id: $0.id) }
        }
        return ArtifactPage(artifacts: rows, nextCursor: next)
    }

    /// Deletes the artifact; its blob goes when nothing references it any more.
    public func delete(id: String, tenant: TenantID) async throws -> Artifact {
        guard ArtifactNames.isValidID(id), let deleted = try await store.deleteArtifact(id: id, tenant: tenant) else {
            throw ArtifactError.notFound
        }
        try await collect(deleted.sha256)
        return deleted
    }

    /// Removes a blob that no row references any more.
    @discardableResult
    func collect(_ digest: String) async throws -> Bool {
        let blobs = self.blobs
        return try await locks.withLock(digest) {
            try await store.removeBlobIfUnreferenced(digest) { try await blobs.remove(digest) }
        }
    }

    public func usage(tenant: TenantID) async throws -> Int64 { try await store.artifactUsage(tenant: tenant) }

    /// One pass of the sweeper: temporary files of writes that died (older than `staleAfter`
    /// seconds and owned by no live upload), expired artifacts, blobs nothing references, and
    /// rows whose blob is gone (logged as errors: that is data loss).
    public func sweep(staleAfterSeconds: Int64) async throws -> SweepReport {
        let now = clock.now()
        var report = SweepReport()
        report.staleWrites = try await blobs.removeStaleWrites(olderThanSeconds: staleAfterSeconds)
        while true {
            let expired = try await store.expiredArtifacts(at: now, limit: 100)
            for (id, tenant) in expired {
                if let deleted = try await store.deleteArtifact(id: id, tenant: tenant) {
                    report.expired += 1
                    try await collect(deleted.sha256)
                }
            }
            if expired.count < 100 { break }
        }
        for digest in try await store.referencedDigests() {
            let lost = try await locks.withLock(digest) { () -> [Artifact] in
                guard try await blobs.size(of: digest) == nil else { return [] }
                return try await store.deleteArtifacts(withDigest: digest)
            }
            for artifact in lost {
                report.missingBlobs += 1
                logger.error(
                    "artifact removed: its blob is missing",
                    metadata: [
                        "artifact": "\(artifact.id)", "tenant": "\(artifact.tenant.rawValue)", "sha256": "\(digest)",
                    ])
            }
        }
        for digest in try await blobs.digests() where try await collect(digest) {
            report.orphanBlobs += 1
        }
        return report
    }
}

/// One upload in progress. Owned by the task that streams the body: `append` each chunk, then
/// `commit`, or `abort` on any error.
public final class ArtifactUpload: Sendable {
    let service: ArtifactService
    public let tenant: TenantID
    public let request: ArtifactUploadRequest
    let usedAtStart: Int64
    private let state = Mutex<(write: (any BlobWrite)?, reserved: Int64, done: Bool)>((nil, 0, false))

    init(service: ArtifactService, tenant: TenantID, request: ArtifactUploadRequest, usedAtStart: Int64) {
        self.service = service
        self.tenant = tenant
        self.request = request
        self.usedAtStart = usedAtStart
    }

    var write: (any BlobWrite)? {
        get { state.withLock { $0.write } }
        set { state.withLock { $0.write = newValue } }
    }

    public var bytesReceived: Int64 { write?.bytesWritten ?? 0 }

    /// What a commit produced: the new artifact, or (`replayed`) the one another attempt of the
    /// same idempotent upload committed first, in which case this upload stored nothing.
    public struct Outcome: Sendable, Equatable {
        public var artifact: Artifact
        public var replayed: Bool
    }

    /// Makes sure at least `total` bytes are reserved against the quota.
    func reserve(upTo total: Int64) throws {
        let current = state.withLock { $0.reserved }
        guard total > current else { return }
        try service.reserve(total - current, tenant: tenant, used: usedAtStart)
        state.withLock { $0.reserved = total }
    }

    /// Appends a chunk of the body, refusing it if the artifact would grow past the maximum, its
    /// declared length or the tenant's quota.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard let write else { throw ArtifactError.notFound }
        let total = write.bytesWritten + Int64(bytes.count)
        if total > service.limits.maxArtifactBytes {
            throw ArtifactError.tooLarge(limit: service.limits.maxArtifactBytes)
        }
        if let declared = request.declaredLength, total > declared {
            throw ArtifactError.lengthMismatch(declared: declared, received: total)
        }
        try reserve(upTo: total)
        try write.write(bytes)
    }

    /// Ends the body: checks its length and checksum, makes the bytes durable and commits the
    /// row. Answers only once the artifact is durable. If the request carries an idempotency key
    /// and another attempt committed an artifact under it meanwhile, nothing is stored (the
    /// published blob is removed if nothing references it) and that artifact is returned as
    /// replayed, or `idempotencyKeyReused` is thrown if this request expected another SHA-256.
    public func commit() async throws -> Outcome {
        guard let write else { throw ArtifactError.notFound }
        if let declared = request.declaredLength, write.bytesWritten != declared {
            throw ArtifactError.lengthMismatch(declared: declared, received: write.bytesWritten)
        }
        let (digest, size) = try await write.finish()
        if let expected = request.expectedSHA256?.lowercased(), expected != digest {
            throw ArtifactError.checksumMismatch(expected: expected, actual: digest)
        }
        let createdAt = service.clock.now()
        // With a server maximum TTL, an upload that asks for no expiry gets the maximum.
        let maxTTL = service.limits.maxTTLSeconds
        let artifact = Artifact(
            id: Identifier.make("art_"), tenant: tenant, name: request.name, contentType: request.contentType,
            size: size, sha256: digest, owner: request.owner, metadata: request.metadata, createdAt: createdAt,
            expiresAt: request.expiresAt ?? (maxTTL > 0 ? createdAt.adding(milliseconds: maxTTL * 1000) : nil),
            idempotencyKey: request.idempotencyKey)
        // The commit's transaction re-checks the quota against stored bytes; this upload's
        // reservation is released first so it is not counted twice meanwhile.
        releaseReservation()
        do {
            try await service.commit(artifact, write: write)
        } catch let conflict as ArtifactIdempotencyConflict {
            // The write was published (and removed again if unreferenced): nothing to abort.
            state.withLock { $0.done = true }
            try ArtifactService.checkReplay(of: conflict.existing, for: request)
            return Outcome(artifact: conflict.existing, replayed: true)
        }
        state.withLock { $0.done = true }
        return Outcome(artifact: artifact, replayed: false)
    }

    private func releaseReservation() {
        let bytes = state.withLock { s -> Int64 in
            let r = s.reserved
            s.reserved = 0
            return r
        }
        service.unreserve(bytes, tenant: tenant)
    }

    /// Discards the upload: its temporary bytes and its reservation. Safe at any point.
    public func abort() {
        if state.withLock({ $0.done }) { return }
        write?.abort()
        releaseReservation()
    }
}

/// Opaque list cursors: the name and id of the last artifact of a page, hex-encoded.
public enum ArtifactCursor {
    public static func encode(name: String, id: String) -> String { Array((id + name).utf8).hexString }

    public static func decode(_ cursor: String) -> (name: String, id: String)? {
        let b = Array(cursor.utf8)
        guard b.count % 2 == 0, b.count >= 72 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(b.count / 2)
        var i = 0
        while i < b.count {
            guard let hi = hexValue(b[i]), let lo = hexValue(b[i + 1]) else { return nil }
            bytes.append(hi << 4 | lo)
            i += 2
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        let id = String(text.prefix(36))
        guard ArtifactNames.isValidID(id) else { return nil }
        return (String(text.dropFirst(36)), id)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }
}
