/// The artifact rows, blob references and per-tenant usage. Every request-facing call takes the
/// tenant; the calls without one are the sweeper's, which works across tenants and returns
/// nothing to a client.
public protocol ArtifactStore: Sendable {
    /// In one transaction: refuses with `ArtifactError.quotaExceeded` if the tenant's stored bytes
    /// plus `artifact.size` exceed `quota`; otherwise inserts the row, adds a reference to its
    /// blob and adds its size to the tenant's usage. The tenant's usage row is read with a lock
    /// (`artifactUsageForUpdate`), so concurrent commits can never exceed the quota together, on
    /// any engine. If the artifact carries an idempotency key and the tenant already has a live
    /// artifact under it, stores nothing and throws `ArtifactIdempotencyConflict` with that
    /// artifact (checked before the quota, inside the same transaction; an expired holder of the
    /// key gives it up).
    func insertArtifact(_ artifact: Artifact, quota: Int64) async throws
    /// The same, holding the digest's lock across replicas (`RunWriteTransaction.lock`) and
    /// calling `verifyBlob` under it first: a sweeper on another replica that removes the blob
    /// takes the same lock, so a blob checked here stays until the row commits.
    func insertArtifact(
        _ artifact: Artifact, quota: Int64, verifyBlob: @escaping @Sendable () async throws -> Void
    ) async throws
    /// Under the digest's lock across replicas: if no row references the blob, calls `remove`
    /// and returns true.
    func removeBlobIfUnreferenced(_ digest: String, remove: @escaping @Sendable () async throws -> Void)
        async throws -> Bool
    /// The tenant's live artifact (not expired at `now`) stored under this idempotency key.
    func artifact(idempotencyKey: String, tenant: TenantID, now: Timestamp) async throws -> Artifact?
    /// The artifact, if it exists in this tenant and has not expired at `now`.
    func artifact(id: String, tenant: TenantID, now: Timestamp) async throws -> Artifact?
    /// A page of the tenant's live artifacts, ordered by name then id (at most `limit + 1`
    /// rows, so the caller can tell whether there is a next page).
    func artifacts(tenant: TenantID, query: ArtifactListQuery, now: Timestamp) async throws -> [Artifact]
    /// Deletes the row, drops its blob reference and its bytes from the tenant's usage; returns
    /// the deleted artifact, or nil if the tenant has no such artifact.
    func deleteArtifact(id: String, tenant: TenantID) async throws -> Artifact?
    /// The bytes of the tenant's stored artifacts.
    func artifactUsage(tenant: TenantID) async throws -> Int64

    // The sweeper's calls.

    /// Whether any tenant references the blob.
    func isBlobReferenced(_ digest: String) async throws -> Bool
    /// Artifacts whose expiry is at or before `now`, oldest first.
    func expiredArtifacts(at now: Timestamp, limit: Int) async throws -> [(id: String, tenant: TenantID)]
    /// Every digest a row references.
    func referencedDigests() async throws -> [String]
    /// Deletes every artifact whose bytes are `digest` (the blob is lost), with the references
    /// they held; returns them.
    func deleteArtifacts(withDigest digest: String) async throws -> [Artifact]
}

/// Reads of artifact rows inside one transaction.
public protocol ArtifactReadTransaction: Sendable {
    /// The tenant's artifact, expired or not, locked until commit (called by writes only).
    func artifactRow(id: String, tenant: TenantID) async throws -> Artifact?
    /// The tenant's artifact holding this idempotency key, expired or not.
    func artifactRow(idempotencyKey: String, tenant: TenantID) async throws -> Artifact?
    func liveArtifact(id: String, tenant: TenantID, now: Timestamp) async throws -> Artifact?
    func liveArtifact(idempotencyKey: String, tenant: TenantID, now: Timestamp) async throws -> Artifact?
    func liveArtifacts(tenant: TenantID, query: ArtifactListQuery, now: Timestamp) async throws -> [Artifact]
    /// The artifacts holding these bytes, locked until commit (called by writes only).
    func artifactRows(digest: String) async throws -> [Artifact]
    func artifactUsage(tenant: TenantID) async throws -> Int64
    func isBlobReferenced(_ digest: String) async throws -> Bool
    func expiredArtifacts(at now: Timestamp, limit: Int) async throws -> [(id: String, tenant: TenantID)]
    func referencedDigests() async throws -> [String]
}

/// Writes of artifact rows; each keeps rows, references and usage in agreement only together
/// with the others in the same transaction (see the `RunStore` extension below).
public protocol ArtifactWriteTransaction: ArtifactReadTransaction {
    /// An expired artifact gives up its idempotency key (the sweeper deletes it later).
    func releaseExpiredIdempotencyKey(_ key: String, tenant: TenantID, now: Timestamp) async throws
    /// The tenant's stored bytes, read with a lock held until commit (the quota's primitive:
    /// a row lock on Postgres, the single writer on SQLite).
    func artifactUsageForUpdate(tenant: TenantID) async throws -> Int64
    /// Inserts the row, adds a reference to its blob and its bytes to the tenant's usage.
    func insertArtifactRecords(_ artifact: Artifact) async throws
    /// Deletes the row, drops its blob reference and its bytes from the tenant's usage.
    func deleteArtifactRecords(_ artifact: Artifact) async throws
}

/// Every run store keeps artifacts too, through its transactions, so both engines share one
/// implementation of the quota and idempotency rules.
extension RunStore {
    public func insertArtifact(_ a: Artifact, quota: Int64) async throws {
        try await insertArtifact(a, quota: quota, verifyBlob: {})
    }

    public func insertArtifact(
        _ a: Artifact, quota: Int64, verifyBlob: @escaping @Sendable () async throws -> Void
    ) async throws {
        try await write { tx in
            try await tx.lock(BlobLocks.databaseKey(a.sha256))
            try await verifyBlob()
            if let key = a.idempotencyKey {
                // A live holder of the key wins: this commit stores nothing. The partial unique
                // index backs this up.
                try await tx.releaseExpiredIdempotencyKey(key, tenant: a.tenant, now: a.createdAt)
                if let existing = try await tx.artifactRow(idempotencyKey: key, tenant: a.tenant) {
                    throw ArtifactIdempotencyConflict(existing: existing)
                }
            }
            let used = try await tx.artifactUsageForUpdate(tenant: a.tenant)
            guard used + a.size <= quota else { throw ArtifactError.quotaExceeded(quota: quota, used: used) }
            try await tx.insertArtifactRecords(a)
        }
    }

    public func removeBlobIfUnreferenced(
        _ digest: String, remove: @escaping @Sendable () async throws -> Void
    ) async throws -> Bool {
        try await write { tx in
            try await tx.lock(BlobLocks.databaseKey(digest))
            guard try await !tx.isBlobReferenced(digest) else { return false }
            try await remove()
            return true
        }
    }

    public func artifact(idempotencyKey: String, tenant: TenantID, now: Timestamp) async throws -> Artifact? {
        try await read { tx in try await tx.liveArtifact(idempotencyKey: idempotencyKey, tenant: tenant, now: now) }
    }

    public func artifact(id: String, tenant: TenantID, now: Timestamp) async throws -> Artifact? {
        try await read { tx in try await tx.liveArtifact(id: id, tenant: tenant, now: now) }
    }

    public func artifacts(tenant: TenantID, query: ArtifactListQuery, now: Timestamp) async throws -> [Artifact] {
        try await read { tx in try await tx.liveArtifacts(tenant: tenant, query: query, now: now) }
    }

    public func deleteArtifact(id: String, tenant: TenantID) async throws -> Artifact? {
        try await write { tx in
            guard let a = try await tx.artifactRow(id: id, tenant: tenant) else { return nil }
            try await tx.deleteArtifactRecords(a)
            return a
        }
    }

    public func artifactUsage(tenant: TenantID) async throws -> Int64 {
        try await read { tx in try await tx.artifactUsage(tenant: tenant) }
    }

    public func isBlobReferenced(_ digest: String) async throws -> Bool {
        try await read { tx in try await tx.isBlobReferenced(digest) }
    }

    public func expiredArtifacts(at now: Timestamp, limit: Int) async throws -> [(id: String, tenant: TenantID)] {
        let rows = try await read { tx in
            try await tx.expiredArtifacts(at: now, limit: limit).map { ExpiredArtifact(id: $0.id, tenant: $0.tenant) }
        }
        return rows.map { (id: $0.id, tenant: $0.tenant) }
    }

    public func referencedDigests() async throws -> [String] {
        try await read { tx in try await tx.referencedDigests() }
    }

    public func deleteArtifacts(withDigest digest: String) async throws -> [Artifact] {
        try await write { tx in
            let lost = try await tx.artifactRows(digest: digest)
            // Each artifact drops its own reference; workspace versions keep theirs (their reads
            // report the missing bytes), so the counts stay true for both features.
            for a in lost { try await tx.deleteArtifactRecords(a) }
            return lost
        }
    }
}

/// A tuple is not `Sendable` across the transaction boundary; this is.
private struct ExpiredArtifact: Sendable {
    let id: String
    let tenant: TenantID
}
