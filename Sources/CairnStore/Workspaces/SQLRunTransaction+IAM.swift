import CairnCore

extension SQLRunTransaction {
    /// A policy's columns and how many keys have it attached.
    private static var policyColumns: String {
        """
        p.tenant_id, p.name, p.id, p.document, p.description, p.created_at, \
        (SELECT COUNT(*) FROM iam_attachments c WHERE c.tenant_id = p.tenant_id AND c.policy_name = p.name)
        """
    }

    private static func decodePolicy<R: SQLRow>(_ r: inout R) -> IAMPolicy {
        IAMPolicy(
            tenant: TenantID(rawValue: r.string()), name: r.string(), id: r.string(), document: r.string(),
            description: r.optionalString(), createdAt: r.timestamp(), attachmentCount: r.int())
    }

    // MARK: Reads

    func iamPolicy(tenant: TenantID, name: String) async throws -> IAMPolicy? {
        try await connection.first(
            """
            SELECT \(unsafeRaw: Self.policyColumns) FROM iam_policies p \
            WHERE p.tenant_id = \(tenant.rawValue) AND p.name = \(name)
            """, Self.decodePolicy)
    }

    func iamPolicies(tenant: TenantID, after: String?, onlyAttached: Bool, limit: Int) async throws -> [IAMPolicy] {
        var sql: SQL =
            "SELECT \(unsafeRaw: Self.policyColumns) FROM iam_policies p WHERE p.tenant_id = \(tenant.rawValue)"
        if let after { sql = sql + " AND p.name > \(after)" }
        if onlyAttached {
            sql =
                sql
                + " AND EXISTS (SELECT 1 FROM iam_attachments a WHERE a.tenant_id = p.tenant_id AND a.policy_name = p.name)"
        }
        return try await connection.all(sql + " ORDER BY p.name LIMIT \(limit)", Self.decodePolicy)
    }

    func iamPolicyCount(tenant: TenantID) async throws -> Int {
        try await connection.first("SELECT COUNT(*) FROM iam_policies WHERE tenant_id = \(tenant.rawValue)") {
            $0.int()
        } ?? 0
    }

    func iamAttachedPolicies(accessKeyId: String, after: String?, limit: Int) async throws -> [IAMPolicy] {
        var sql: SQL = """
            SELECT \(unsafeRaw: Self.policyColumns) FROM iam_attachments a JOIN iam_policies p \
            ON p.tenant_id = a.tenant_id AND p.name = a.policy_name WHERE a.access_key_id = \(accessKeyId)
            """
        if let after { sql = sql + " AND a.policy_name > \(after)" }
        return try await connection.all(sql + " ORDER BY a.policy_name LIMIT \(limit)", Self.decodePolicy)
    }

    func liveS3Keys(tenant: TenantID, after: String?, limit: Int) async throws -> [S3Key] {
        var sql: SQL = """
            SELECT \(unsafeRaw: Self.s3KeySelect) FROM s3_keys \
            WHERE tenant_id = \(tenant.rawValue) AND revoked_at IS NULL
            """
        if let after { sql = sql + " AND access_key_id > \(after)" }
        return try await connection.all(sql + " ORDER BY access_key_id LIMIT \(limit)", Self.decodeS3Key)
    }

    func liveS3KeyCount(tenant: TenantID) async throws -> Int {
        try await connection.first(
            "SELECT COUNT(*) FROM s3_keys WHERE tenant_id = \(tenant.rawValue) AND revoked_at IS NULL"
        ) { $0.int() } ?? 0
    }

    // MARK: Writes

    func insertIAMPolicy(_ p: IAMPolicy) async throws -> Bool {
        try await connection.changedRows(
            """
            INSERT INTO iam_policies (tenant_id, name, id, document, description, created_at) VALUES \
            (\(p.tenant.rawValue), \(p.name), \(p.id), \(p.document), \(p.description), \(p.createdAt)) \
            ON CONFLICT (tenant_id, name) DO NOTHING
            """) > 0
    }

    func deleteIAMPolicy(tenant: TenantID, name: String) async throws -> Bool {
        try await connection.changedRows(
            "DELETE FROM iam_policies WHERE tenant_id = \(tenant.rawValue) AND name = \(name)") > 0
    }

    func attachIAMPolicy(accessKeyId: String, tenant: TenantID, policyName: String, at now: Timestamp) async throws
        -> Bool
    {
        try await connection.changedRows(
            """
            INSERT INTO iam_attachments (access_key_id, tenant_id, policy_name, created_at) VALUES \
            (\(accessKeyId), \(tenant.rawValue), \(policyName), \(now)) ON CONFLICT (access_key_id, policy_name) DO NOTHING
            """) > 0
    }

    func detachIAMPolicy(accessKeyId: String, policyName: String) async throws -> Bool {
        try await connection.changedRows(
            "DELETE FROM iam_attachments WHERE access_key_id = \(accessKeyId) AND policy_name = \(policyName)") > 0
    }

    func detachAllIAMPolicies(accessKeyId: String) async throws {
        try await connection.run("DELETE FROM iam_attachments WHERE access_key_id = \(accessKeyId)")
    }

    func setS3KeyInactive(accessKeyId: String, tenant: TenantID, inactive: Bool) async throws -> Bool {
        try await connection.changedRows(
            """
            UPDATE s3_keys SET inactive = \(inactive) WHERE access_key_id = \(accessKeyId) \
            AND tenant_id = \(tenant.rawValue) AND revoked_at IS NULL
            """) > 0
    }
}
