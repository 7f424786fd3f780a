import CairnCore

extension SQLRunTransaction {
    private static var studioSessionColumns: String {
        "token_hash, tenant_id, scopes_json, is_root, key_id, csrf_token, created_at, expires_at, revoked_at"
    }

    private static func decodeStudioSession<R: SQLRow>(_ r: inout R) -> StudioSession {
        let hash = r.string(), tenant = TenantID(rawValue: r.string()), scopesText = r.string()
        let scopes = ((try? JSONParser.parse(scopesText))?.arrayValue ?? []).compactMap {
            $0.stringValue.flatMap(Scope.init)
        }
        return StudioSession(
            tokenHash: hash, tenant: tenant, scopes: scopes, isRoot: r.bool(), keyId: r.optionalString(),
            csrfToken: r.string(), createdAt: r.timestamp(), expiresAt: r.timestamp(),
            revokedAt: r.optionalTimestamp())
    }

    func studioSession(tokenHash: String) async throws -> StudioSession? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: Self.studioSessionColumns) FROM studio_sessions WHERE token_hash = \(tokenHash)
            """, Self.decodeStudioSession)
    }

    func insertStudioSession(_ s: StudioSession) async throws {
        let scopes = JSONValue.array(s.scopes.map { .string($0.rawValue) }).jsonText
        try await connection.run(
            """
            INSERT INTO studio_sessions (\(unsafeRaw: Self.studioSessionColumns)) VALUES (\(s.tokenHash), \
            \(s.tenant.rawValue), \(scopes), \(s.isRoot), \(s.keyId), \(s.csrfToken), \(s.createdAt), \
            \(s.expiresAt), \(s.revokedAt))
            """)
    }

    func revokeStudioSession(tokenHash: String, at now: Timestamp) async throws -> Bool {
        try await connection.changedRows(
            """
            UPDATE studio_sessions SET revoked_at = \(now) WHERE token_hash = \(tokenHash) AND revoked_at IS NULL
            """) > 0
    }

    func deleteExpiredStudioSessions(before now: Timestamp) async throws {
        try await connection.run("DELETE FROM studio_sessions WHERE expires_at < \(now)")
    }
}
