/// The artifact rows, blob references and per-tenant usage. Every request-facing call takes the
/// tenant; the calls without one are the sweeper's, which works across tenants and returns
/// nothing to a client.
public protocol ArtifactStore: Sendable {
    /// In one transaction: refuses with `ArtifactError.quotaExceeded` if the tenant's stored bytes
    /// plus `artifact.size` exceed `quota`; otherwise inserts the row, adds a reference to its
    /// blob and adds its size to the tenant's usage. Transactions are serialized, so concurrent
    /// commits can never exceed the quota together. If the artifact carries an idempotency key
    /// and the tenant already has a live artifact under it, stores nothing and throws
    /// `ArtifactIdempotencyConflict` with that artifact (checked before the quota, inside the
    /// same transaction; an expired holder of the key gives it up).
    func insertArtifact(_ artifact: Artifact, quota: Int64) async throws
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
    /// Deletes every artifact whose bytes are `digest` (the blob is lost); returns them.
    func deleteArtifacts(withDigest digest: String) async throws -> [Artifact]
}
