/// An S3 access key: the id and the secret SigV4 signs with, owned by a tenant, with the same
/// scopes as an API key.
public struct S3Key: Sendable, Equatable {
    public var accessKeyId: String
    public var tenant: TenantID
    public var secret: String
    public var scopes: [Scope]
    public var name: String?
    public var createdAt: Timestamp
    public var revokedAt: Timestamp?
    /// Deactivated through IAM's UpdateAccessKey: refused like a revoked key, but can be reactivated.
    public var inactive: Bool
    /// Whether IAM policies were attached to the key when it was read: only then does a request
    /// load them (so a key without any costs no second read).
    public var hasPolicies: Bool

    public init(
        accessKeyId: String, tenant: TenantID, secret: String, scopes: [Scope], name: String?, createdAt: Timestamp,
        revokedAt: Timestamp?, inactive: Bool = false, hasPolicies: Bool = false
    ) {
        self.accessKeyId = accessKeyId
        self.tenant = tenant
        self.secret = secret
        self.scopes = scopes
        self.name = name
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.inactive = inactive
        self.hasPolicies = hasPolicies
    }

    /// Whether the key may sign requests: neither revoked nor deactivated.
    public var isUsable: Bool { revokedAt == nil && !inactive }

    public func allows(_ scope: Scope) -> Bool { scopes.contains { $0 >= scope } }
}

/// A bucket's own stored versions (not those inherited from fork parents), counted exactly.
public struct WorkspaceUsage: Sendable, Equatable {
    /// Versions that are not delete markers and not removed (every version of every key).
    public var versions: Int64 = 0
    /// The bytes of those versions.
    public var versionBytes: Int64 = 0
    /// Keys whose newest own version is an object, not a delete marker.
    public var currentObjects: Int64 = 0
    /// The bytes of those newest versions.
    public var currentBytes: Int64 = 0

    public init() {}
}

/// Reads of workspace rows inside one transaction. A `point` is a position on a bucket's
/// version clock: only versions written at or before it, and not removed by then, are seen.
public protocol WorkspaceReadTransaction: Sendable {
    /// The tenant's live (not deleted) bucket with this name.
    func workspaceBucket(tenant: TenantID, name: String) async throws -> WorkspaceBucket?
    /// A bucket by id, deleted or not (fork chains go through deleted parents).
    func workspaceBucket(id: String) async throws -> WorkspaceBucket?
    /// The tenant's live buckets by name.
    func workspaceBuckets(tenant: TenantID) async throws -> [WorkspaceBucket]
    /// A page of the tenant's live buckets by name: names starting with `prefix`, after `after`;
    /// at most `limit`.
    func workspaceBuckets(tenant: TenantID, prefix: String, after: String?, limit: Int) async throws
        -> [WorkspaceBucket]
    /// Live buckets of every tenant that have a lifecycle configuration, by id after `afterId`;
    /// at most `limit`.
    func workspaceBucketsWithLifecycle(afterId: String?, limit: Int) async throws -> [WorkspaceBucket]
    /// The bucket's change events after `after`, in order; at most `limit`.
    func workspaceEvents(bucketId: String, after: Int64, limit: Int) async throws -> [WorkspaceEvent]
    /// How many buckets, live or deleted, are forks of this one.
    func workspaceForkCount(bucketId: String) async throws -> Int
    /// The live forks of a bucket, by name.
    func workspaceForks(bucketId: String) async throws -> [WorkspaceBucket]
    func workspaceSnapshots(bucketId: String) async throws -> [WorkspaceSnapshot]
    func workspaceSnapshot(bucketId: String, seq: Int64) async throws -> WorkspaceSnapshot?
    /// The newest version of each key (delete markers included) seen at `point`, of keys
    /// starting with `prefix` and after `after`, by key; at most `limit`. Versions of this
    /// bucket only, not of its parents.
    func newestObjectVersions(bucketId: String, prefix: String, after: String?, point: Int64, limit: Int)
        async throws -> [ObjectVersion]
    /// The newest version of one key seen at `point` in this bucket only.
    func newestObjectVersion(bucketId: String, key: String, point: Int64) async throws -> ObjectVersion?
    /// A version of this bucket that has not been removed.
    func objectVersion(bucketId: String, key: String, seq: Int64) async throws -> ObjectVersion?
    /// The key and version a completed multipart upload made (kept for a while after).
    func completedUpload(id: String, bucketId: String) async throws -> (key: String, seq: Int64)?
    /// This bucket's versions that have not been removed, by key then newest first, after the
    /// markers; at most `limit`.
    func objectVersions(bucketId: String, prefix: String, keyMarker: String?, versionMarker: Int64?, limit: Int)
        async throws -> [ObjectVersion]
    /// Whether the bucket holds any version that is not a delete marker and not removed.
    func hasObjectVersions(bucketId: String) async throws -> Bool
    /// What the bucket itself stores: its own versions only, not those it reads through its fork
    /// parents; delete markers and removed versions are not counted.
    func workspaceUsage(bucketId: String) async throws -> WorkspaceUsage
    func multipartUpload(id: String, bucketId: String) async throws -> MultipartUpload?
    /// Uploads by key then id, after the markers; at most `limit`.
    func multipartUploads(bucketId: String, prefix: String, keyMarker: String?, uploadIdMarker: String?, limit: Int)
        async throws -> [MultipartUpload]
    func uploadedParts(uploadId: String) async throws -> [UploadedPart]
    func s3Key(accessKeyId: String) async throws -> S3Key?
    func s3Keys(tenant: TenantID?) async throws -> [S3Key]
}

/// Writes of workspace rows. Object and part rows hold one blob reference per segment; these
/// calls add and drop them with the rows.
public protocol WorkspaceWriteTransaction: WorkspaceReadTransaction {
    /// The bucket, locked against other writers until commit: every write of a bucket takes
    /// this lock first, so its version clock only moves forward and a snapshot sees every
    /// write before it.
    func workspaceBucketForUpdate(id: String) async throws -> WorkspaceBucket?
    func insertWorkspaceBucket(_ bucket: WorkspaceBucket) async throws
    /// Saves versioning, lifecycle, the version clock and the deletion time.
    func updateWorkspaceBucket(_ bucket: WorkspaceBucket) async throws
    /// Appends a change event numbered one past the bucket's last; call under the bucket's lock,
    /// so events commit in the order of their numbers.
    func appendWorkspaceEvent(bucketId: String, payload: String, at: Timestamp) async throws
    /// Removes events written before `before`, except each bucket's newest.
    func pruneWorkspaceEvents(before: Timestamp) async throws
    func insertWorkspaceSnapshot(_ snapshot: WorkspaceSnapshot) async throws
    func deleteWorkspaceSnapshot(bucketId: String, seq: Int64) async throws -> Bool
    func insertObjectVersion(_ version: ObjectVersion, tenant: TenantID) async throws
    /// Marks the version removed at `seq` (kept for snapshots and forks), or with nil deletes
    /// its row and blob references.
    func removeObjectVersion(_ version: ObjectVersion, tenant: TenantID, at seq: Int64?) async throws
    /// Deletes every row of the bucket (objects, snapshots, uploads and parts, the bucket) and
    /// their blob references.
    func purgeWorkspaceBucket(_ bucket: WorkspaceBucket) async throws
    func insertMultipartUpload(_ upload: MultipartUpload) async throws
    /// Deletes the upload and its parts; drops the parts' blob references unless `keepParts`
    /// (a completed upload hands them to its object).
    func deleteMultipartUpload(id: String, tenant: TenantID, keepParts: Bool) async throws
    func recordCompletedUpload(id: String, bucketId: String, key: String, seq: Int64, at: Timestamp) async throws
    /// Forgets uploads completed before `before`.
    func forgetCompletedUploads(before: Timestamp) async throws
    /// Stores a part, replacing (and dereferencing) an earlier part with the same number.
    func putUploadedPart(_ part: UploadedPart, tenant: TenantID) async throws
    func insertS3Key(_ key: S3Key) async throws
    func revokeS3Key(accessKeyId: String, tenant: TenantID?, at: Timestamp) async throws -> Bool
}
