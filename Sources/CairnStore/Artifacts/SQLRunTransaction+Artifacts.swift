import CairnCore

/// Artifact rows, blob reference counts (per tenant and digest) and per-tenant usage. Every
/// change to one of them happens in the same transaction as the others, so they always agree.
extension SQLiteStore: ArtifactStore {
    private static let artifactColumns =
        "id, tenant_id, name, content_type, size, sha256, owner, metadata_json, created_at, expires_at, idempotency_key"

    private static func decodeArtifact(_ r: inout SQLiteRow) -> Artifact {
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

    public func insertArtifact(_ a: Artifact, quota: Int64) async throws {
        let metadata = Self.metadataJSON(a.metadata)
        try await writeSQLite { tx in
            let c = tx.connection
            if let key = a.idempotencyKey {
                // An expired artifact gives up its key (the sweeper deletes it later); a live one
                // wins: this commit stores nothing. The partial unique index backs this up.
                try c.run(
                    """
                    UPDATE artifacts SET idempotency_key = NULL WHERE tenant_id = \(a.tenant.rawValue) \
                    AND idempotency_key = \(key) AND NOT \(Self.live(a.createdAt))
                    """)
                if let existing = try c.first(
                    """
                    SELECT \(unsafeRaw: Self.artifactColumns) FROM artifacts WHERE tenant_id = \(a.tenant.rawValue) \
                    AND idempotency_key = \(key)
                    """, Self.decodeArtifact)
                {
                    throw ArtifactIdempotencyConflict(existing: existing)
                }
            }
            let used =
                try c.first("SELECT bytes FROM artifact_usage WHERE tenant_id = \(a.tenant.rawValue)") { $0.int64() }
                ?? 0
            guard used + a.size <= quota else { throw ArtifactError.quotaExceeded(quota: quota, used: used) }
            try c.run(
                """
                INSERT INTO artifacts (\(unsafeRaw: Self.artifactColumns)) VALUES (\(a.id), \(a.tenant.rawValue), \
                \(a.name), \(a.contentType), \(a.size), \(a.sha256), \(a.owner), \(metadata), \(a.createdAt), \
                \(a.expiresAt), \(a.idempotencyKey))
                """)
            try c.run(
                """
                INSERT INTO blobs (tenant_id, sha256, size, refcount, created_at) VALUES (\(a.tenant.rawValue), \
                \(a.sha256), \(a.size), 1, \(a.createdAt)) ON CONFLICT (tenant_id, sha256) DO UPDATE SET \
                refcount = blobs.refcount + 1
                """)
            try c.run(
                """
                INSERT INTO artifact_usage (tenant_id, bytes, count) VALUES (\(a.tenant.rawValue), \(a.size), 1) \
                ON CONFLICT (tenant_id) DO UPDATE SET bytes = artifact_usage.bytes + excluded.bytes, \
                count = artifact_usage.count + 1
                """)
        }
    }

    public func artifact(id: String, tenant: TenantID, now: Timestamp) async throws -> Artifact? {
        try await readSQLite { tx in
            try tx.connection.first(
                """
                SELECT \(unsafeRaw: Self.artifactColumns) FROM artifacts WHERE id = \(id) \
                AND tenant_id = \(tenant.rawValue) AND \(Self.live(now))
                """, Self.decodeArtifact)
        }
    }

    public func artifact(idempotencyKey: String, tenant: TenantID, now: Timestamp) async throws -> Artifact? {
        try await readSQLite { tx in
            try tx.connection.first(
                """
                SELECT \(unsafeRaw: Self.artifactColumns) FROM artifacts WHERE tenant_id = \(tenant.rawValue) \
                AND idempotency_key = \(idempotencyKey) AND \(Self.live(now))
                """, Self.decodeArtifact)
        }
    }

    public func artifacts(tenant: TenantID, query: ArtifactListQuery, now: Timestamp) async throws -> [Artifact] {
        var sql: SQL =
            "SELECT \(unsafeRaw: Self.artifactColumns) FROM artifacts WHERE tenant_id = \(tenant.rawValue) AND \(Self.live(now))"
        if let owner = query.owner { sql = sql + " AND owner = \(owner)" }
        if let prefix = query.namePrefix, !prefix.isEmpty {
            sql = sql + " AND name >= \(prefix) AND substr(name, 1, \(prefix.unicodeScalars.count)) = \(prefix)"
        }
        if let after = query.after {
            sql = sql + " AND (name > \(after.name) OR (name = \(after.name) AND id > \(after.id)))"
        }
        sql = sql + " ORDER BY name, id LIMIT \(query.limit + 1)"
        let statement = sql
        return try await readSQLite { tx in try tx.connection.all(statement, Self.decodeArtifact) }
    }

    /// Deletes one row and its reference, inside an open transaction.
    private static func delete(_ a: Artifact, _ c: SQLiteConnection) throws {
        try c.run("DELETE FROM artifacts WHERE id = \(a.id) AND tenant_id = \(a.tenant.rawValue)")
        try c.run(
            """
            UPDATE blobs SET refcount = refcount - 1 WHERE tenant_id = \(a.tenant.rawValue) AND sha256 = \(a.sha256)
            """)
        try c.run("DELETE FROM blobs WHERE tenant_id = \(a.tenant.rawValue) AND sha256 = \(a.sha256) AND refcount <= 0")
        try c.run(
            """
            UPDATE artifact_usage SET bytes = bytes - \(a.size), count = count - 1 \
            WHERE tenant_id = \(a.tenant.rawValue)
            """)
    }

    public func deleteArtifact(id: String, tenant: TenantID) async throws -> Artifact? {
        try await writeSQLite { tx in
            let c = tx.connection
            guard
                let a = try c.first(
                    """
                    SELECT \(unsafeRaw: Self.artifactColumns) FROM artifacts WHERE id = \(id) \
                    AND tenant_id = \(tenant.rawValue)
                    """, Self.decodeArtifact)
            else { return nil }
            try Self.delete(a, c)
            return a
        }
    }

    public func artifactUsage(tenant: TenantID) async throws -> Int64 {
        try await readSQLite { tx in
            try tx.connection.first("SELECT bytes FROM artifact_usage WHERE tenant_id = \(tenant.rawValue)") {
                $0.int64()
            } ?? 0
        }
    }

    public func isBlobReferenced(_ digest: String) async throws -> Bool {
        try await readSQLite { tx in
            try tx.connection.first("SELECT 1 FROM blobs WHERE sha256 = \(digest) AND refcount > 0 LIMIT 1") {
                $0.int()
            } != nil
        }
    }

    public func expiredArtifacts(at now: Timestamp, limit: Int) async throws -> [(id: String, tenant: TenantID)] {
        try await readSQLite { tx in
            try tx.connection.all(
                """
                SELECT id, tenant_id FROM artifacts WHERE expires_at IS NOT NULL AND expires_at <= \(now) \
                ORDER BY expires_at LIMIT \(limit)
                """
            ) { r in (id: r.string(), tenant: TenantID(rawValue: r.string())) }
        }
    }

    public func referencedDigests() async throws -> [String] {
        try await readSQLite { tx in
            try tx.connection.all("SELECT DISTINCT sha256 FROM blobs ORDER BY sha256") { $0.string() }
        }
    }

    public func deleteArtifacts(withDigest digest: String) async throws -> [Artifact] {
        try await writeSQLite { tx in
            let c = tx.connection
            let lost = try c.all(
                "SELECT \(unsafeRaw: Self.artifactColumns) FROM artifacts WHERE sha256 = \(digest) ORDER BY id",
                Self.decodeArtifact)
            for a in lost { try Self.delete(a, c) }
            try c.run("DELETE FROM blobs WHERE sha256 = \(digest)")
            return lost
        }
    }
}
