import CairnCore

/// Workspace buckets, snapshots, object versions, multipart uploads and S3 keys, written once
/// for both engines. Object and part rows each hold one reference per blob segment in `blobs`
/// (the table artifacts count theirs in), so the blob sweeper keeps bytes any of them needs.
extension SQLRunTransaction {
    private static var bucketColumns: String {
        "id, tenant_id, name, created_at, snapshots_enabled, versioning, parent_id, parent_name, parent_point, last_seq, lifecycle_xml, deleted_at, notifications_json"
    }

    private static func decodeBucket<R: SQLRow>(_ r: inout R) -> WorkspaceBucket {
        let id = r.string(), tenant = TenantID(rawValue: r.string()), name = r.string(), createdAt = r.timestamp()
        let snapshots = r.bool(), versioning = WorkspaceBucket.Versioning(rawValue: r.string()) ?? .unversioned
        let parentId = r.optionalString(), parentName = r.optionalString(), parentPoint = r.optionalInt()
        var parent: WorkspaceBucket.Parent?
        if let parentId, let parentPoint {
            parent = WorkspaceBucket.Parent(bucketId: parentId, name: parentName ?? "", point: Int64(parentPoint))
        }
        return WorkspaceBucket(
            id: id, tenant: tenant, name: name, createdAt: createdAt, snapshotsEnabled: snapshots,
            versioning: versioning, parent: parent, lastSeq: r.int64(), lifecycleXML: r.optionalString(),
            deletedAt: r.optionalTimestamp(), notificationsJSON: r.optionalString())
    }

    private static var objectColumns: String {
        "bucket_id, object_key, seq, null_version, delete_marker, size, etag, segments, headers_json, created_at"
    }

    private static func objectColumnsOf(_ alias: String) -> String {
        objectColumns.split(separator: ", ").map { alias + "." + $0 }.joined(separator: ", ")
    }

    private static func decodeObject<R: SQLRow>(_ r: inout R) -> ObjectVersion {
        ObjectVersion(
            bucketId: r.string(), key: r.string(), seq: r.int64(), isNullVersion: r.bool(), isDeleteMarker: r.bool(),
            size: r.int64(), etag: r.string(), segments: ObjectVersion.decodeSegments(r.string()),
            headers: ObjectHeaders(jsonText: r.string()), createdAt: r.timestamp())
    }

    private static func decodeSnapshot<R: SQLRow>(_ r: inout R) -> WorkspaceSnapshot {
        WorkspaceSnapshot(bucketId: r.string(), seq: r.int64(), name: r.optionalString(), createdAt: r.timestamp())
    }

    private static func decodeUpload<R: SQLRow>(_ r: inout R) -> MultipartUpload {
        MultipartUpload(
            id: r.string(), bucketId: r.string(), key: r.string(), headers: ObjectHeaders(jsonText: r.string()),
            createdAt: r.timestamp())
    }

    private static func decodePart<R: SQLRow>(_ r: inout R) -> UploadedPart {
        UploadedPart(
            uploadId: r.string(), number: r.int(), size: r.int64(), etag: r.string(), sha256: r.string(),
            checksum: r.optionalString(), createdAt: r.timestamp())
    }

    static var s3KeyColumns: String {
        "access_key_id, tenant_id, secret, scopes, name, created_at, revoked_at, inactive"
    }

    /// The columns `decodeS3Key` reads: the stored ones and whether policies are attached.
    static var s3KeySelect: String {
        s3KeyColumns
            + ", CASE WHEN EXISTS (SELECT 1 FROM iam_attachments a WHERE a.access_key_id = s3_keys.access_key_id) "
            + "THEN 1 ELSE 0 END"
    }

    static func decodeS3Key<R: SQLRow>(_ r: inout R) -> S3Key {
        let id = r.string(), tenant = TenantID(rawValue: r.string()), secret = r.string()
        let scopes = r.string().split(separator: ",").compactMap { Scope(rawValue: String($0)) }
        return S3Key(
            accessKeyId: id, tenant: tenant, secret: secret, scopes: scopes, name: r.optionalString(),
            createdAt: r.timestamp(), revokedAt: r.optionalTimestamp(), inactive: r.bool(), hasPolicies: r.bool())
    }

    /// Versions seen at `point`: written by then and not removed by then.
    private static func visible(_ alias: String, at point: Int64) -> SQL {
        """
        \(unsafeRaw: alias).seq <= \(point) AND (\(unsafeRaw: alias).removed_seq IS NULL \
        OR \(unsafeRaw: alias).removed_seq > \(point))
        """
    }

    /// Keys starting with `prefix` (compared as text, so it works on both engines' collations).
    private static func keyPrefix(_ prefix: String) -> SQL { startsWith(prefix, column: "o.object_key") }

    /// ` AND column starts with prefix`, portably (the `>=` lets an index bound the scan).
    private static func startsWith(_ prefix: String, column: String) -> SQL {
        guard !prefix.isEmpty else { return "" }
        return
            " AND \(unsafeRaw: column) >= \(prefix) AND substr(\(unsafeRaw: column), 1, CAST(\(prefix.unicodeScalars.count) AS INTEGER)) = \(prefix)"
    }

    // MARK: Reads

    func workspaceBucket(tenant: TenantID, name: String) async throws -> WorkspaceBucket? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: Self.bucketColumns) FROM workspace_buckets WHERE tenant_id = \(tenant.rawValue) \
            AND name = \(name) AND deleted_at IS NULL
            """, Self.decodeBucket)
    }

    func workspaceBucket(id: String) async throws -> WorkspaceBucket? {
        try await connection.first(
            "SELECT \(unsafeRaw: Self.bucketColumns) FROM workspace_buckets WHERE id = \(id)", Self.decodeBucket)
    }

    func workspaceBuckets(tenant: TenantID) async throws -> [WorkspaceBucket] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: Self.bucketColumns) FROM workspace_buckets WHERE tenant_id = \(tenant.rawValue) \
            AND deleted_at IS NULL ORDER BY name
            """, Self.decodeBucket)
    }

    func workspaceBuckets(tenant: TenantID, prefix: String, after: String?, limit: Int) async throws
        -> [WorkspaceBucket]
    {
        var sql: SQL = """
            SELECT \(unsafeRaw: Self.bucketColumns) FROM workspace_buckets WHERE tenant_id = \(tenant.rawValue) \
            AND deleted_at IS NULL
            """
        sql = sql + Self.startsWith(prefix, column: "name")
        if let after { sql = sql + " AND name > \(after)" }
        return try await connection.all(sql + " ORDER BY name LIMIT \(limit)", Self.decodeBucket)
    }

    func workspaceBucketsWithLifecycle(afterId: String?, limit: Int) async throws -> [WorkspaceBucket] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: Self.bucketColumns) FROM workspace_buckets WHERE lifecycle_xml IS NOT NULL \
            AND deleted_at IS NULL AND id > \(afterId ?? "") ORDER BY id LIMIT \(limit)
            """, Self.decodeBucket)
    }

    func workspaceEvents(bucketId: String, after: Int64, limit: Int) async throws -> [WorkspaceEvent] {
        try await connection.all(
            """
            SELECT seq, payload_json FROM workspace_events WHERE bucket_id = \(bucketId) AND seq > \(after) \
            ORDER BY seq LIMIT \(limit)
            """
        ) { WorkspaceEvent(seq: $0.int64(), payload: $0.string()) }
    }

    func workspaceForkCount(bucketId: String) async throws -> Int {
        try await connection.first("SELECT COUNT(*) FROM workspace_buckets WHERE parent_id = \(bucketId)") {
            $0.int()
        } ?? 0
    }

    func workspaceForks(bucketId: String) async throws -> [WorkspaceBucket] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: Self.bucketColumns) FROM workspace_buckets WHERE parent_id = \(bucketId) \
            AND deleted_at IS NULL ORDER BY name
            """, Self.decodeBucket)
    }

    func workspaceSnapshots(bucketId: String) async throws -> [WorkspaceSnapshot] {
        try await connection.all(
            "SELECT bucket_id, seq, name, created_at FROM workspace_snapshots WHERE bucket_id = \(bucketId) ORDER BY seq",
            Self.decodeSnapshot)
    }

    func workspaceSnapshot(bucketId: String, seq: Int64) async throws -> WorkspaceSnapshot? {
        try await connection.first(
            "SELECT bucket_id, seq, name, created_at FROM workspace_snapshots WHERE bucket_id = \(bucketId) AND seq = \(seq)",
            Self.decodeSnapshot)
    }

    func newestObjectVersions(bucketId: String, prefix: String, after: String?, point: Int64, limit: Int)
        async throws -> [ObjectVersion]
    {
        var sql: SQL = """
            SELECT \(unsafeRaw: Self.objectColumnsOf("o")) \
            FROM workspace_objects o WHERE o.bucket_id = \(bucketId) AND \(Self.visible("o", at: point))
            """
        sql = sql + Self.keyPrefix(prefix)
        if let after { sql = sql + " AND o.object_key > \(after)" }
        sql =
            sql
                + """
                 AND NOT EXISTS (SELECT 1 FROM workspace_objects n WHERE n.bucket_id = o.bucket_id \
                AND n.object_key = o.object_key AND n.seq > o.seq AND \(Self.visible("n", at: point))) \
                ORDER BY o.object_key LIMIT \(limit)
                """
        return try await connection.all(sql, Self.decodeObject)
    }

    func newestObjectVersion(bucketId: String, key: String, point: Int64) async throws -> ObjectVersion? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: Self.objectColumns) FROM workspace_objects o WHERE bucket_id = \(bucketId) \
            AND object_key = \(key) AND \(Self.visible("o", at: point)) ORDER BY seq DESC LIMIT 1
            """, Self.decodeObject)
    }

    func objectVersion(bucketId: String, key: String, seq: Int64) async throws -> ObjectVersion? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: Self.objectColumns) FROM workspace_objects WHERE bucket_id = \(bucketId) \
            AND object_key = \(key) AND seq = \(seq) AND removed_seq IS NULL
            """, Self.decodeObject)
    }

    func objectVersions(bucketId: String, prefix: String, keyMarker: String?, versionMarker: Int64?, limit: Int)
        async throws -> [ObjectVersion]
    {
        var sql: SQL = """
            SELECT \(unsafeRaw: Self.objectColumns) FROM workspace_objects o WHERE o.bucket_id = \(bucketId) \
            AND o.removed_seq IS NULL
            """
        sql = sql + Self.keyPrefix(prefix)
        if let keyMarker {
            if let versionMarker {
                sql =
                    sql
                    + " AND (o.object_key > \(keyMarker) OR (o.object_key = \(keyMarker) AND o.seq < \(versionMarker)))"
            } else {
                sql = sql + " AND o.object_key > \(keyMarker)"
            }
        }
        return try await connection.all(sql + " ORDER BY o.object_key, o.seq DESC LIMIT \(limit)", Self.decodeObject)
    }

    func hasObjectVersions(bucketId: String) async throws -> Bool {
        try await connection.first(
            """
            SELECT 1 FROM workspace_objects WHERE bucket_id = \(bucketId) AND removed_seq IS NULL \
            AND delete_marker = 0 LIMIT 1
            """
        ) { $0.int() } != nil
    }

    func workspaceUsage(bucketId: String) async throws -> WorkspaceUsage {
        try await connection.first(
            """
            SELECT COUNT(*), COALESCE(SUM(t.size), 0), COALESCE(SUM(t.newest), 0), \
            COALESCE(SUM(t.newest * t.size), 0) FROM (SELECT o.size, CASE WHEN EXISTS (SELECT 1 \
            FROM workspace_objects n WHERE n.bucket_id = o.bucket_id AND n.object_key = o.object_key \
            AND n.seq > o.seq AND n.removed_seq IS NULL) THEN 0 ELSE 1 END AS newest FROM workspace_objects o \
            WHERE o.bucket_id = \(bucketId) AND o.removed_seq IS NULL AND o.delete_marker = 0) t
            """
        ) { r in
            var usage = WorkspaceUsage()
            usage.versions = r.int64()
            usage.versionBytes = r.int64()
            usage.currentObjects = r.int64()
            usage.currentBytes = r.int64()
            return usage
        } ?? WorkspaceUsage()
    }

    func multipartUpload(id: String, bucketId: String) async throws -> MultipartUpload? {
        try await connection.first(
            """
            SELECT id, bucket_id, object_key, headers_json, created_at FROM workspace_uploads \
            WHERE id = \(id) AND bucket_id = \(bucketId)
            """, Self.decodeUpload)
    }

    func multipartUploads(bucketId: String, prefix: String, keyMarker: String?, uploadIdMarker: String?, limit: Int)
        async throws -> [MultipartUpload]
    {
        var sql: SQL = """
            SELECT o.id, o.bucket_id, o.object_key, o.headers_json, o.created_at FROM workspace_uploads o \
            WHERE o.bucket_id = \(bucketId)
            """
        sql = sql + Self.keyPrefix(prefix)
        if let keyMarker {
            if let uploadIdMarker {
                sql =
                    sql
                    + " AND (o.object_key > \(keyMarker) OR (o.object_key = \(keyMarker) AND o.id > \(uploadIdMarker)))"
            } else {
                sql = sql + " AND o.object_key > \(keyMarker)"
            }
        }
        return try await connection.all(sql + " ORDER BY o.object_key, o.id LIMIT \(limit)", Self.decodeUpload)
    }

    func uploadedParts(uploadId: String) async throws -> [UploadedPart] {
        try await connection.all(
            """
            SELECT upload_id, part_number, size, etag, sha256, checksum, created_at FROM workspace_upload_parts \
            WHERE upload_id = \(uploadId) ORDER BY part_number
            """, Self.decodePart)
    }

    func s3Key(accessKeyId: String) async throws -> S3Key? {
        try await connection.first(
            "SELECT \(unsafeRaw: Self.s3KeySelect) FROM s3_keys WHERE access_key_id = \(accessKeyId)",
            Self.decodeS3Key)
    }

    func s3Keys(tenant: TenantID?) async throws -> [S3Key] {
        var sql: SQL = "SELECT \(unsafeRaw: Self.s3KeySelect) FROM s3_keys"
        if let tenant { sql = sql + " WHERE tenant_id = \(tenant.rawValue)" }
        return try await connection.all(sql + " ORDER BY created_at, access_key_id", Self.decodeS3Key)
    }

    // MARK: Writes

    func workspaceBucketForUpdate(id: String) async throws -> WorkspaceBucket? {
        try await connection.first(
            "SELECT \(unsafeRaw: Self.bucketColumns) FROM workspace_buckets WHERE id = \(id)\(SQL.Hook.forUpdate)",
            Self.decodeBucket)
    }

    func insertWorkspaceBucket(_ b: WorkspaceBucket) async throws {
        try await connection.run(
            """
            INSERT INTO workspace_buckets (\(unsafeRaw: Self.bucketColumns)) VALUES (\(b.id), \(b.tenant.rawValue), \
            \(b.name), \(b.createdAt), \(b.snapshotsEnabled), \(b.versioning.rawValue), \(b.parent?.bucketId), \
            \(b.parent?.name), \(b.parent.map { Int($0.point) }), \(b.lastSeq), \(b.lifecycleXML), \(b.deletedAt), \
            \(b.notificationsJSON))
            """)
    }

    func updateWorkspaceBucket(_ b: WorkspaceBucket) async throws {
        try await connection.run(
            """
            UPDATE workspace_buckets SET versioning = \(b.versioning.rawValue), last_seq = \(b.lastSeq), \
            lifecycle_xml = \(b.lifecycleXML), deleted_at = \(b.deletedAt), snapshots_enabled = \(b.snapshotsEnabled), \
            notifications_json = \(b.notificationsJSON) WHERE id = \(b.id)
            """)
    }

    func appendWorkspaceEvent(bucketId: String, payload: String, at: Timestamp) async throws {
        try await connection.run(
            """
            INSERT INTO workspace_events (bucket_id, seq, payload_json, created_at) \
            SELECT \(bucketId), COALESCE(MAX(seq), 0) + 1, \(payload), \(at) FROM workspace_events \
            WHERE bucket_id = \(bucketId)
            """)
    }

    func pruneWorkspaceEvents(before: Timestamp) async throws {
        // The newest event of each bucket stays, so its numbering never starts over.
        try await connection.run(
            """
            DELETE FROM workspace_events WHERE created_at < \(before) AND seq < \
            (SELECT MAX(e.seq) FROM workspace_events e WHERE e.bucket_id = workspace_events.bucket_id)
            """)
    }

    func insertWorkspaceSnapshot(_ s: WorkspaceSnapshot) async throws {
        try await connection.run(
            """
            INSERT INTO workspace_snapshots (bucket_id, seq, name, created_at) VALUES (\(s.bucketId), \(s.seq), \
            \(s.name), \(s.createdAt))
            """)
    }

    func deleteWorkspaceSnapshot(bucketId: String, seq: Int64) async throws -> Bool {
        try await connection.changedRows(
            "DELETE FROM workspace_snapshots WHERE bucket_id = \(bucketId) AND seq = \(seq)") > 0
    }

    func insertObjectVersion(_ v: ObjectVersion, tenant: TenantID) async throws {
        try await connection.run(
            """
            INSERT INTO workspace_objects (\(unsafeRaw: Self.objectColumns)) VALUES (\(v.bucketId), \(v.key), \
            \(v.seq), \(v.isNullVersion), \(v.isDeleteMarker), \(v.size), \(v.etag), \
            \(ObjectVersion.encode(v.segments)), \(v.headers.jsonText), \(v.createdAt))
            """)
        for segment in v.segments {
            try await addBlobReference(tenant: tenant, segment: segment, at: v.createdAt)
        }
    }

    func removeObjectVersion(_ v: ObjectVersion, tenant: TenantID, at seq: Int64?) async throws {
        if let seq {
            try await connection.run(
                """
                UPDATE workspace_objects SET removed_seq = \(seq) WHERE bucket_id = \(v.bucketId) \
                AND object_key = \(v.key) AND seq = \(v.seq)
                """)
            return
        }
        try await connection.run(
            "DELETE FROM workspace_objects WHERE bucket_id = \(v.bucketId) AND object_key = \(v.key) AND seq = \(v.seq)"
        )
        for segment in v.segments { try await dropBlobReferences(tenant: tenant, sha256: segment.sha256, count: 1) }
    }

    func purgeWorkspaceBucket(_ b: WorkspaceBucket) async throws {
        // One update per distinct digest, not per row.
        var references: [String: Int] = [:]
        let segmentLists = try await connection.all(
            "SELECT segments FROM workspace_objects WHERE bucket_id = \(b.id)"
        ) { $0.string() }
        for list in segmentLists {
            for segment in ObjectVersion.decodeSegments(list) { references[segment.sha256, default: 0] += 1 }
        }
        let partDigests = try await connection.all(
            """
            SELECT p.sha256 FROM workspace_upload_parts p JOIN workspace_uploads u ON u.id = p.upload_id \
            WHERE u.bucket_id = \(b.id)
            """
        ) { $0.string() }
        for digest in partDigests { references[digest, default: 0] += 1 }
        for (digest, count) in references.sorted(by: { $0.key < $1.key }) {
            try await dropBlobReferences(tenant: b.tenant, sha256: digest, count: count)
        }
        try await connection.run(
            """
            DELETE FROM workspace_upload_parts WHERE upload_id IN \
            (SELECT id FROM workspace_uploads WHERE bucket_id = \(b.id))
            """)
        try await connection.run("DELETE FROM workspace_uploads WHERE bucket_id = \(b.id)")
        try await connection.run("DELETE FROM workspace_completed_uploads WHERE bucket_id = \(b.id)")
        try await connection.run("DELETE FROM workspace_events WHERE bucket_id = \(b.id)")
        try await connection.run("DELETE FROM workspace_objects WHERE bucket_id = \(b.id)")
        try await connection.run("DELETE FROM workspace_snapshots WHERE bucket_id = \(b.id)")
        try await connection.run("DELETE FROM workspace_buckets WHERE id = \(b.id)")
    }

    func insertMultipartUpload(_ u: MultipartUpload) async throws {
        try await connection.run(
            """
            INSERT INTO workspace_uploads (id, bucket_id, object_key, headers_json, created_at) VALUES (\(u.id), \
            \(u.bucketId), \(u.key), \(u.headers.jsonText), \(u.createdAt))
            """)
    }

    func completedUpload(id: String, bucketId: String) async throws -> (key: String, seq: Int64)? {
        try await connection.first(
            "SELECT object_key, seq FROM workspace_completed_uploads WHERE id = \(id) AND bucket_id = \(bucketId)"
        ) { ($0.string(), $0.int64()) }
    }

    func recordCompletedUpload(id: String, bucketId: String, key: String, seq: Int64, at now: Timestamp) async throws {
        try await connection.run(
            """
            INSERT INTO workspace_completed_uploads (id, bucket_id, object_key, seq, completed_at) \
            VALUES (\(id), \(bucketId), \(key), \(seq), \(now))
            """)
    }

    func forgetCompletedUploads(before: Timestamp) async throws {
        try await connection.run("DELETE FROM workspace_completed_uploads WHERE completed_at < \(before)")
    }

    func deleteMultipartUpload(id: String, tenant: TenantID, keepParts: Bool) async throws {
        if !keepParts {
            for part in try await uploadedParts(uploadId: id) {
                try await dropBlobReferences(tenant: tenant, sha256: part.sha256, count: 1)
            }
        }
        try await connection.run("DELETE FROM workspace_upload_parts WHERE upload_id = \(id)")
        try await connection.run("DELETE FROM workspace_uploads WHERE id = \(id)")
    }

    func putUploadedPart(_ p: UploadedPart, tenant: TenantID) async throws {
        if let earlier = try await connection.first(
            """
            SELECT sha256 FROM workspace_upload_parts WHERE upload_id = \(p.uploadId) \
            AND part_number = \(p.number)\(SQL.Hook.forUpdate)
            """, { $0.string() })
        {
            try await dropBlobReferences(tenant: tenant, sha256: earlier, count: 1)
            try await connection.run(
                "DELETE FROM workspace_upload_parts WHERE upload_id = \(p.uploadId) AND part_number = \(p.number)")
        }
        try await connection.run(
            """
            INSERT INTO workspace_upload_parts (upload_id, part_number, size, etag, sha256, checksum, created_at) \
            VALUES (\(p.uploadId), \(p.number), \(p.size), \(p.etag), \(p.sha256), \(p.checksum), \(p.createdAt))
            """)
        try await addBlobReference(
            tenant: tenant, segment: BlobSegment(sha256: p.sha256, size: p.size), at: p.createdAt)
    }

    func insertS3Key(_ k: S3Key) async throws {
        try await connection.run(
            """
            INSERT INTO s3_keys (\(unsafeRaw: Self.s3KeyColumns)) VALUES (\(k.accessKeyId), \(k.tenant.rawValue), \
            \(k.secret), \(k.scopes.map(\.rawValue).joined(separator: ",")), \(k.name), \(k.createdAt), \
            \(k.revokedAt), \(k.inactive))
            """)
    }

    func revokeS3Key(accessKeyId: String, tenant: TenantID?, at now: Timestamp) async throws -> Bool {
        var sql: SQL =
            "UPDATE s3_keys SET revoked_at = \(now) WHERE access_key_id = \(accessKeyId) AND revoked_at IS NULL"
        if let tenant { sql = sql + " AND tenant_id = \(tenant.rawValue)" }
        return try await connection.changedRows(sql) > 0
    }

    // MARK: Blob references

    /// One more reference from the tenant to a blob (the row is created at the first).
    func addBlobReference(tenant: TenantID, segment: BlobSegment, at now: Timestamp) async throws {
        try await connection.run(
            """
            INSERT INTO blobs (tenant_id, sha256, size, refcount, created_at) VALUES (\(tenant.rawValue), \
            \(segment.sha256), \(segment.size), 1, \(now)) ON CONFLICT (tenant_id, sha256) DO UPDATE SET \
            refcount = blobs.refcount + 1
            """)
    }

    /// `count` fewer references from the tenant to a blob (the row goes with the last).
    func dropBlobReferences(tenant: TenantID, sha256: String, count: Int) async throws {
        try await connection.run(
            """
            UPDATE blobs SET refcount = refcount - \(count) WHERE tenant_id = \(tenant.rawValue) AND sha256 = \(sha256)
            """)
        try await connection.run(
            "DELETE FROM blobs WHERE tenant_id = \(tenant.rawValue) AND sha256 = \(sha256) AND refcount <= 0")
    }
}
