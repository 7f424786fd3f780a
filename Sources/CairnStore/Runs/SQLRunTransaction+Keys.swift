import CairnCore

extension SQLRunTransaction {
    private static var keyColumns: String {
        "id, tenant_id, name, prefix, secret_hash, scopes_json, created_at, revoked_at"
    }

    private static func decodeKey<R: SQLRow>(_ r: inout R) -> APIKey {
        let id = r.string(), tenant = TenantID(rawValue: r.string()), name = r.optionalString(), prefix = r.string()
        let hash = r.string(), scopesText = r.string()
        let scopes = ((try? JSONParser.parse(scopesText))?.arrayValue ?? []).compactMap {
            $0.stringValue.flatMap(Scope.init)
        }
        return APIKey(
            id: id, tenant: tenant, name: name, prefix: prefix, secretHash: hash, scopes: scopes,
            createdAt: r.timestamp(), revokedAt: r.optionalTimestamp())
    }

    func insertKey(_ k: APIKey) async throws {
        let scopes = JSONValue.array(k.scopes.map { .string($0.rawValue) }).jsonText
        try await connection.run(
            """
            INSERT INTO api_keys (\(unsafeRaw: Self.keyColumns)) VALUES (\(k.id), \(k.tenant.rawValue), \(k.name), \
            \(k.prefix), \(k.secretHash), \(scopes), \(k.createdAt), \(k.revokedAt))
            """)
    }

    func key(secretHash: String) async throws -> APIKey? {
        try await connection.first(
            "SELECT \(unsafeRaw: Self.keyColumns) FROM api_keys WHERE secret_hash = \(secretHash)", Self.decodeKey)
    }

    func key(id: String) async throws -> APIKey? {
        try await connection.first(
            "SELECT \(unsafeRaw: Self.keyColumns) FROM api_keys WHERE id = \(id)", Self.decodeKey)
    }

    func keys(tenant: TenantID?) async throws -> [APIKey] {
        if let tenant {
            return try await connection.all(
                """
                SELECT \(unsafeRaw: Self.keyColumns) FROM api_keys WHERE tenant_id = \(tenant.rawValue) \
                ORDER BY created_at, id
                """, Self.decodeKey)
        }
        return try await connection.all(
            "SELECT \(unsafeRaw: Self.keyColumns) FROM api_keys ORDER BY tenant_id, created_at, id", Self.decodeKey)
    }

    func revokeKey(id: String, tenant: TenantID?, at now: Timestamp) async throws -> Bool {
        let tenantFilter: SQL = tenant.map { " AND tenant_id = \($0.rawValue)" } ?? ""
        return try await connection.changedRows(
            "UPDATE api_keys SET revoked_at = \(now) WHERE id = \(id)\(tenantFilter) AND revoked_at IS NULL") > 0
    }

    func anyKeyCreated() async throws -> Bool {
        try await connection.first("SELECT 1 FROM api_keys LIMIT 1") { $0.int() } != nil
    }
}
