import CairnCore

/// Artifact rows, blob reference counts (per tenant and digest) and per-tenant usage. The
/// `RunStore` extension in CairnCore changes them only together, in one transaction, so they
/// always agree.
extension SQLRunTransaction {
    private static var artifactColumns: String {
        "id, tenant_id, name, content_type, size, sha256, owner, metadata_json, created_at, expires_at, idempotency_key"
    }

    private static func decodeArtifact<R: SQLRow>(_ r: inout R) -> Artifact {
        let id = r.string(), tenant = TenantID(rawValue: r.string()), name = r.string(), contentType = r.string()
        let size = r.int64(), sha256 = r.string(), owner = r.optionalString(), metadataText = r.string()
        var metadata: [String: String] = [:]
        if let object = (try? JSONParser.parse(metadataText))?.objectValue {
            for (key, value) in object.pairs { metadata[key] = value.stringValue }
        }
        return Artifact(
            id: id, tenant: tenant, name: name, contentType: contentType, size: size, sha256: sha256, owner: owner,
            metadata: metadata, createdAt: r.timestamp(), expiresAt: r.optionalTimestamp(),
            idempotencyKey: r.optionalString())
    }

    private static func metadataJSON(_ metadata: [String: String]) -> String {
        JSONValue.object(JSONObject(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })).jsonText
    }

    /// Rows live at `now`: not expired.
    private static func live(_ now: Timestamp) -> SQL { "(expires_at IS NULL OR expires_at > \(now))" }

    // MARK: Reads

    func artifactRow(id: String, tenant: TenantID) async throws -> Artifact? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: Self.artifactColumns) FROM artifacts WHERE id = \(id) \
            AND tenant_id = \(tenant.rawValue)\(SQL.Hook.forUpdate)
            """, Self.decodeArtifact)
    }

    func artifactRow(idempotencyKey: String, tenant: TenantID) async throws -> Artifact? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: Self.artifactColumns) FROM artifacts WHERE tenant_id = \(tenant.rawValue) \
            AND idempotency_key = \(idempotencyKey)
            """, Self.decodeArtifact)
    }

    func liveArtifact(id: String, tenant: TenantID, now: Timestamp) async throws -> Artifact? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: Self.artifactColumns) FROM artifacts WHERE id = \(id) \
            AND tenant_id = \(tenant.rawValue) AND \(Self.live(now))
            """, Self.decodeArtifact)
    }

    func liveArtifact(idempotencyKey: String, tenant: TenantID, now: Timestamp) async throws -> Artifact? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: Self.artifactColumns) FROM artifacts WHERE tenant_id = \(tenant.rawValue) \
            AND idempotency_key = \(idempotencyKey) AND \(Self.live(now))
            """, Self.decodeArtifact)
    }

    func liveArtifacts(tenant: TenantID, query: ArtifactListQuery, now: Timestamp) async throws -> [Artifact] {
        var sql: SQL =
            "SELECT \(unsafeRaw: Self.artifactColumns) FROM artifacts WHERE tenant_id = \(tenant.rawValue) AND \(Self.live(now))"
        if let owner = query.owner { sql = sql + " AND owner = \(owner)" }
        if let prefix = query.namePrefix, !prefix.isEmpty {
            sql =
                sql
                + " AND name >= \(prefix) AND substr(name, 1, CAST(\(prefix.unicodeScalars.count) AS INTEGER)) = \(prefix)"
        }
        if let after = query.after {
            sql = sql + " AND (name > \(after.name) OR (name = \(after.name) AND id > \(after.id)))"
        }
        return try await connection.all(sql + " ORDER BY name, id LIMIT \(query.limit + 1)", Self.decodeArtifact)
    }

    func artifactRows(digest: String) async throws -> [Artifact] {
        try await connection.all(
            "SELECT \(unsafeRaw: Self.artifactColumns) FROM artifacts WHERE sha256 = \(digest) ORDER BY id\(SQL.Hook.forUpdate)",
            Self.decodeArtifact)
    }

    func artifactUsage(tenant: TenantID) async throws -> Int64 {
        try await connection.first("SELECT bytes FROM artifact_usage WHERE tenant_id = \(tenant.rawValue)") {
            $0.int64()
        } ?? 0
    }

    func isBlobReferenced(_ digest: String) async throws -> Bool {
        try await connection.first("SELECT 1 FROM blobs WHERE sha256 = \(digest) AND refcount > 0 LIMIT 1") {
            $0.int()
        } != nil
    }

    func expiredArtifacts(at now: Timestamp, limit: Int) async throws -> [(id: String, tenant: TenantID)] {
        try await connection.all(
            """
            SELECT id, tenant_id FROM artifacts WHERE expires_at IS NOT NULL AND expires_at <= \(now) \
            ORDER BY expires_at LIMIT \(limit)
            """
        ) { r in (id: r.string(), tenant: TenantID(rawValue: r.string())) }
    }

    func referencedDigests() async throws -> [String] {
        try await connection.all("SELECT DISTINCT sha256 FROM blobs ORDER BY sha256") { $0.string() }
    }

    // MARK: Writes

    func releaseExpiredIdempotencyKey(_ key: String, tenant: TenantID, now: Timestamp) async throws {
        try await connection.run(
            """
            UPDATE artifacts SET idempotency_key = NULL WHERE tenant_id = \(tenant.rawValue) \
            AND idempotency_key = \(key) AND NOT \(Self.live(now))
            """)
    }

    func artifactUsageForUpdate(tenant: TenantID) async throws -> Int64 {
        // The row must exist to be locked: a tenant's first upload creates it at zero.
        try await connection.run(
            """
            INSERT INTO artifact_usage (tenant_id, bytes, count) VALUES (\(tenant.rawValue), 0, 0) \
            ON CONFLICT (tenant_id) DO NOTHING
            """)
        return try await connection.first(
            "SELECT bytes FROM artifact_usage WHERE tenant_id = \(tenant.rawValue)\(SQL.Hook.forUpdate)"
        ) { $0.int64() } ?? 0
    }

    func insertArtifactRecords(_ a: Artifact) async throws {
        try await connection.run(
            """
            INSERT INTO artifacts (\(unsafeRaw: Self.artifactColumns)) VALUES (\(a.id), \(a.tenant.rawValue), \
            \(a.name), \(a.contentType), \(a.size), \(a.sha256), \(a.owner), \(Self.metadataJSON(a.metadata)), \
            \(a.createdAt), \(a.expiresAt), \(a.idempotencyKey))
            """)
        try await addBlobReference(
            tenant: a.tenant, segment: BlobSegment(sha256: a.sha256, size: a.size), at: a.createdAt)
        try await connection.run(
            """
            INSERT INTO artifact_usage (tenant_id, bytes, count) VALUES (\(a.tenant.rawValue), \(a.size), 1) \
            ON CONFLICT (tenant_id) DO UPDATE SET bytes = artifact_usage.bytes + excluded.bytes, \
            count = artifact_usage.count + 1
            """)
    }

    func deleteArtifactRecords(_ a: Artifact) async throws {
        try await connection.run("DELETE FROM artifacts WHERE id = \(a.id) AND tenant_id = \(a.tenant.rawValue)")
        try await dropBlobReferences(tenant: a.tenant, sha256: a.sha256, count: 1)
        try await connection.run(
            """
            UPDATE artifact_usage SET bytes = bytes - \(a.size), count = count - 1 \
            WHERE tenant_id = \(a.tenant.rawValue)
            """)
    }
}
