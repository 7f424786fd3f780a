import CairnCore

extension SQLiteStore: KeyStore {
    private static let keyColumns = "id, tenant_id, name, prefix, secret_hash, scopes_json, created_at, revoked_at"

    private static func decodeKey(_ r: inout SQLiteRow) -> APIKey {
        let id = r.string(), tenant = TenantID(rawValue: r.string()), name = r.optionalString(), prefix = r.string()
        let hash = r.string(), scopesText = r.string()
        let scopes = ((try? JSONParser.parse(scopesText))?.arrayValue ?? []).compactMap {
            $0.stringValue.flatMap(Scope.init)
        }
        return APIKey(
            id: id, tenant: tenant, name: name, prefix: prefix, secretHash: hash, scopes: scopes,
            createdAt: r.timestamp(),
            revokedAt: r.optionalTimestamp())
    }

    public func insertKey(_ k: APIKey) async throws {
        let scopes = JSONValue.array(k.scopes.map { .string($0.rawValue) }).jsonText
        try await writeSQLite { tx in
            try tx.connection.run(
                """
                INSERT INTO api_keys (\(unsafeRaw: Self.keyColumns)) VALUES (\(k.id), \(k.tenant.rawValue), \(k.name), \
                \(k.prefix), \(k.secretHash), \(scopes), \(k.createdAt), \(k.revokedAt))
                """)
        }
    }

    public func key(secretHash: String) async throws -> APIKey? {
        try await readSQLite { tx in
            try tx.connection.first(
                "SELECT \(unsafeRaw: Self.keyColumns) FROM api_keys WHERE secret_hash = \(secretHash)", Self.decodeKey)
        }
    }

    public func keys(tenant: TenantID?) async throws -> [APIKey] {
        try await readSQLite { tx in
            if let tenant {
                return try tx.connection.all(
                    """
                    SELECT \(unsafeRaw: Self.keyColumns) FROM api_keys WHERE tenant_id = \(tenant.rawValue) \
                    ORDER BY created_at, id
                    """, Self.decodeKey)
            }
            return try tx.connection.all(
                "SELECT \(unsafeRaw: Self.keyColumns) FROM api_keys ORDER BY tenant_id, created_at, id", Self.decodeKey)
        }
    }

    public func revokeKey(id: String, tenant: TenantID?, at now: Timestamp) async throws -> Bool {
        try await writeSQLite { tx in
            if let tenant {
                try tx.connection.run(
                    """
                    UPDATE api_keys SET revoked_at = \(now) WHERE id = \(id) AND tenant_id = \(tenant.rawValue) \
                    AND revoked_at IS NULL
                    """)
            } else {
                try tx.connection.run("UPDATE api_keys SET revoked_at = \(now) WHERE id = \(id) AND revoked_at IS NULL")
            }
            return tx.connection.changes > 0
        }
    }

    public func anyKeyCreated() async throws -> Bool {
        try await readSQLite { tx in
            try tx.connection.first("SELECT 1 FROM api_keys LIMIT 1") { $0.int() } != nil
        }
    }
}
