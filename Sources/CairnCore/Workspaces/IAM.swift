/// An error IAM's Query API answers with: its code, a message and the status the code deserves.
/// Every one is the client's (`Sender`); anything else is the listener's internal error.
public struct IAMError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String
    public var status: Int

    public init(code: String, message: String, status: Int) {
        self.code = code
        self.message = message
        self.status = status
    }

    public var description: String { "\(code) (\(status)): \(message)" }

    public static func noSuchEntity(_ message: String) -> IAMError {
        IAMError(code: "NoSuchEntity", message: message, status: 404)
    }
    public static func entityAlreadyExists(_ message: String) -> IAMError {
        IAMError(code: "EntityAlreadyExists", message: message, status: 409)
    }
    public static func malformedPolicy(_ message: String) -> IAMError {
        IAMError(code: "MalformedPolicyDocument", message: message, status: 400)
    }
    public static func validation(_ message: String) -> IAMError {
        IAMError(code: "ValidationError", message: message, status: 400)
    }
    public static func invalidAction(_ message: String) -> IAMError {
        IAMError(code: "InvalidAction", message: message, status: 400)
    }
    public static func accessDenied(_ message: String) -> IAMError {
        IAMError(code: "AccessDenied", message: message, status: 403)
    }
    public static func deleteConflict(_ message: String) -> IAMError {
        IAMError(code: "DeleteConflict", message: message, status: 409)
    }
    public static func limitExceeded(_ message: String) -> IAMError {
        IAMError(code: "LimitExceeded", message: message, status: 409)
    }
}

/// A managed policy as stored: a tenant's named policy document.
public struct IAMPolicy: Sendable, Equatable {
    public var tenant: TenantID
    public var name: String
    /// IAM's stable policy id (`ANPA` and 17 upper-case hex digits).
    public var id: String
    public var document: String
    public var description: String?
    public var createdAt: Timestamp
    /// How many keys have it attached (filled in by reads).
    public var attachmentCount: Int

    public init(
        tenant: TenantID, name: String, id: String, document: String, description: String?, createdAt: Timestamp,
        attachmentCount: Int = 0
    ) {
        self.tenant = tenant
        self.name = name
        self.id = id
        self.document = document
        self.description = description
        self.createdAt = createdAt
        self.attachmentCount = attachmentCount
    }

    public var arn: String { IAMService.policyARN(tenant: tenant, name: name) }
}

/// Reads of IAM rows inside one transaction.
public protocol IAMReadTransaction: Sendable {
    func iamPolicy(tenant: TenantID, name: String) async throws -> IAMPolicy?
    /// The tenant's policies by name, after `after`; at most `limit`; only attached ones if asked.
    func iamPolicies(tenant: TenantID, after: String?, onlyAttached: Bool, limit: Int) async throws -> [IAMPolicy]
    func iamPolicyCount(tenant: TenantID) async throws -> Int
    /// The policies attached to a key, by name, after `after`; at most `limit`.
    func iamAttachedPolicies(accessKeyId: String, after: String?, limit: Int) async throws -> [IAMPolicy]
    /// The tenant's active and inactive (not deleted) S3 keys by id, after `after`; at most `limit`.
    func liveS3Keys(tenant: TenantID, after: String?, limit: Int) async throws -> [S3Key]
    func liveS3KeyCount(tenant: TenantID) async throws -> Int
}

public protocol IAMWriteTransaction: IAMReadTransaction {
    /// Inserts the policy unless the tenant has one of that name (one statement); whether it did.
    func insertIAMPolicy(_ policy: IAMPolicy) async throws -> Bool
    func deleteIAMPolicy(tenant: TenantID, name: String) async throws -> Bool
    /// Attaches unless already attached (one statement); whether it did.
    func attachIAMPolicy(accessKeyId: String, tenant: TenantID, policyName: String, at: Timestamp) async throws
        -> Bool
    func detachIAMPolicy(accessKeyId: String, policyName: String) async throws -> Bool
    func detachAllIAMPolicies(accessKeyId: String) async throws
    /// Marks a live key of the tenant active or inactive; whether there was one.
    func setS3KeyInactive(accessKeyId: String, tenant: TenantID, inactive: Bool) async throws -> Bool
}

/// IAM for S3 keys, the Tigris way: the access key id is the user, managed policies are attached
/// to it, and a key with policies attached may do only what they allow (on top of its scopes).
/// Everything is within one tenant: the caller's.
public struct IAMService: Sendable {
    public struct Limits: Sendable {
        public var maxPoliciesPerTenant = 1500
        public var maxPoliciesPerKey = 10
        public var maxKeysPerTenant = 10_000
        public init() {}
    }

    public let store: any RunStore
    public let clock: any WallClock
    public let limits: Limits

    public init(store: any RunStore, clock: any WallClock = SystemClock(), limits: Limits = Limits()) {
        self.store = store
        self.clock = clock
        self.limits = limits
    }

    /// What a key created by `CreateAccessKey` may do while no policy is attached: the same as an
    /// S3 key the CLI creates with its default scopes. Never admin, so a key cannot mint keys that
    /// manage keys.
    public static let createdKeyScopes: [Scope] = [.read, .write]

    public static func policyARN(tenant: TenantID, name: String) -> String {
        "arn:aws:iam::" + tenant.rawValue + ":policy/" + name
    }

    /// IAM's policy-name rules: 1–128 of letters, digits and `+=,.@_-`.
    public static func isValidPolicyName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 128
            && name.unicodeScalars.allSatisfy { IAMName.isLetterOrDigit($0) || "+=,.@_-".unicodeScalars.contains($0) }
    }

    /// Access key ids (and the user names that stand for them): 16–64 of letters, digits and `_`.
    public static func isValidAccessKeyId(_ id: String) -> Bool {
        (16...64).contains(id.utf8.count)
            && id.unicodeScalars.allSatisfy { IAMName.isLetterOrDigit($0) || $0 == "_" }
    }

    /// The policy name an ARN names in the tenant; NoSuchEntity for another account's ARN.
    public static func policyName(arn: String, tenant: TenantID) throws(IAMError) -> String {
        guard arn.utf8.count <= 2048, arn.hasPrefix("arn:aws:iam::") else {
            throw .validation("\(arn) is not a policy ARN (arn:aws:iam::<account>:policy/<name>).")
        }
        let rest = arn.dropFirst("arn:aws:iam::".count)
        guard let colon = rest.firstIndex(of: ":"), rest[rest.index(after: colon)...].hasPrefix("policy/") else {
            throw .validation("\(arn) is not a policy ARN (arn:aws:iam::<account>:policy/<name>).")
        }
        let name = String(rest[rest.index(after: colon)...].dropFirst("policy/".count))
        guard isValidPolicyName(name) else { throw .validation("\(arn) does not end in a valid policy name.") }
        guard rest[..<colon] == tenant.rawValue else { throw .noSuchEntity("Policy \(arn) does not exist.") }
        return name
    }

    static func noSuchKey(_ id: String) -> IAMError {
        .noSuchEntity("The user with name \(id) cannot be found.")
    }

    static func checkKeyId(_ id: String, parameter: String) throws(IAMError) {
        guard isValidAccessKeyId(id) else {
            throw .validation("\(parameter) must be 16–64 letters, digits or underscores.")
        }
    }

    /// A live key of the tenant, or NoSuchEntity.
    static func liveKey(_ tx: any RunReadTransaction, id: String, tenant: TenantID) async throws -> S3Key {
        guard let key = try await tx.s3Key(accessKeyId: id), key.tenant == tenant, key.revokedAt == nil else {
            throw noSuchKey(id)
        }
        return key
    }

    // MARK: Access keys

    /// A new key of the tenant with `createdKeyScopes`; its secret is in the returned key.
    public func createAccessKey(tenant: TenantID) async throws -> S3Key {
        let key = KeyService.newS3Key(tenant: tenant, name: "iam", scopes: Self.createdKeyScopes, at: clock.now())
        let limit = limits.maxKeysPerTenant
        try await store.write { tx in
            // Counted under a lock: concurrent creates on Postgres must not both pass the limit.
            try await tx.lock("iam-keys/" + tenant.rawValue)
            guard try await tx.liveS3KeyCount(tenant: tenant) < limit else {
                throw IAMError.limitExceeded("The tenant already has \(limit) access keys.")
            }
            try await tx.insertS3Key(key)
        }
        return key
    }

    /// Deletes a key (it stays recorded as revoked, so its id is never reused) and its attachments.
    public func deleteAccessKey(tenant: TenantID, accessKeyId: String) async throws {
        try Self.checkKeyId(accessKeyId, parameter: "AccessKeyId")
        let now = clock.now()
        try await store.write { tx in
            _ = try await Self.liveKey(tx, id: accessKeyId, tenant: tenant)
            _ = try await tx.revokeS3Key(accessKeyId: accessKeyId, tenant: tenant, at: now)
            try await tx.detachAllIAMPolicies(accessKeyId: accessKeyId)
        }
    }

    public func updateAccessKey(tenant: TenantID, accessKeyId: String, active: Bool) async throws {
        try Self.checkKeyId(accessKeyId, parameter: "AccessKeyId")
        let changed = try await store.write { tx in
            try await tx.setS3KeyInactive(accessKeyId: accessKeyId, tenant: tenant, inactive: !active)
        }
        guard changed else { throw Self.noSuchKey(accessKeyId) }
    }

    /// The tenant's keys by id after `marker` (or the one key `userName` names), and whether there are more.
    public func listAccessKeys(tenant: TenantID, userName: String?, marker: String?, maxItems: Int) async throws
        -> (keys: [S3Key], truncated: Bool)
    {
        if let userName {
            try Self.checkKeyId(userName, parameter: "UserName")
            let key = try await store.read { tx in try await Self.liveKey(tx, id: userName, tenant: tenant) }
            return ([key], false)
        }
        let keys = try await store.read { tx in
            try await tx.liveS3Keys(tenant: tenant, after: marker, limit: maxItems + 1)
        }
        return (Array(keys.prefix(maxItems)), keys.count > maxItems)
    }

    // MARK: Policies

    public func createPolicy(tenant: TenantID, name: String, document: String, description: String?) async throws
        -> IAMPolicy
    {
        guard Self.isValidPolicyName(name) else {
            throw IAMError.validation("PolicyName must be 1–128 letters, digits or +=,.@_-.")
        }
        if let description, description.utf8.count > 1000 {
            throw IAMError.validation("Description is longer than 1000 bytes.")
        }
        _ = try IAMPolicyDocument.parse(document)
        let policy = IAMPolicy(
            tenant: tenant, name: name, id: "ANPA" + String(Identifier.randomHex().uppercased().prefix(17)),
            document: document, description: description, createdAt: clock.now())
        let limit = limits.maxPoliciesPerTenant
        try await store.write { tx in
            try await tx.lock("iam-policies/" + tenant.rawValue)
            guard try await tx.iamPolicyCount(tenant: tenant) < limit else {
                throw IAMError.limitExceeded("The tenant already has \(limit) policies.")
            }
            guard try await tx.insertIAMPolicy(policy) else {
                throw IAMError.entityAlreadyExists("A policy called \(name) already exists.")
            }
        }
        return policy
    }

    public func policy(tenant: TenantID, arn: String) async throws -> IAMPolicy {
        let name = try Self.policyName(arn: arn, tenant: tenant)
        guard let policy = try await store.read({ tx in try await tx.iamPolicy(tenant: tenant, name: name) }) else {
            throw IAMError.noSuchEntity("Policy \(arn) does not exist.")
        }
        return policy
    }

    /// Deletes a policy that no key has attached (IAM's rule: detach first).
    public func deletePolicy(tenant: TenantID, arn: String) async throws {
        let name = try Self.policyName(arn: arn, tenant: tenant)
        try await store.write { tx in
            guard let policy = try await tx.iamPolicy(tenant: tenant, name: name) else {
                throw IAMError.noSuchEntity("Policy \(arn) does not exist.")
            }
            guard policy.attachmentCount == 0 else {
                throw IAMError.deleteConflict("Cannot delete a policy attached to entities.")
            }
            _ = try await tx.deleteIAMPolicy(tenant: tenant, name: name)
        }
    }

    public func listPolicies(tenant: TenantID, marker: String?, onlyAttached: Bool, maxItems: Int) async throws
        -> (policies: [IAMPolicy], truncated: Bool)
    {
        let policies = try await store.read { tx in
            try await tx.iamPolicies(tenant: tenant, after: marker, onlyAttached: onlyAttached, limit: maxItems + 1)
        }
        return (Array(policies.prefix(maxItems)), policies.count > maxItems)
    }

    // MARK: Attachments (the access key id is the user name)

    public func attachPolicy(tenant: TenantID, userName: String, arn: String) async throws {
        try Self.checkKeyId(userName, parameter: "UserName")
        let name = try Self.policyName(arn: arn, tenant: tenant)
        let limit = limits.maxPoliciesPerKey
        let now = clock.now()
        try await store.write { tx in
            try await tx.lock("iam-attachments/" + userName)
            _ = try await Self.liveKey(tx, id: userName, tenant: tenant)
            guard try await tx.iamPolicy(tenant: tenant, name: name) != nil else {
                throw IAMError.noSuchEntity("Policy \(arn) does not exist.")
            }
            let attached = try await tx.iamAttachedPolicies(accessKeyId: userName, after: nil, limit: limit + 1)
            if attached.contains(where: { $0.name == name }) { return }
            guard attached.count < limit else {
                throw IAMError.limitExceeded("A user may have at most \(limit) policies attached.")
            }
            _ = try await tx.attachIAMPolicy(accessKeyId: userName, tenant: tenant, policyName: name, at: now)
        }
    }

    public func detachPolicy(tenant: TenantID, userName: String, arn: String) async throws {
        try Self.checkKeyId(userName, parameter: "UserName")
        let name = try Self.policyName(arn: arn, tenant: tenant)
        try await store.write { tx in
            _ = try await Self.liveKey(tx, id: userName, tenant: tenant)
            guard try await tx.detachIAMPolicy(accessKeyId: userName, policyName: name) else {
                throw IAMError.noSuchEntity("Policy \(arn) is not attached to user \(userName).")
            }
        }
    }

    public func attachedPolicies(tenant: TenantID, userName: String, marker: String?, maxItems: Int) async throws
        -> (policies: [IAMPolicy], truncated: Bool)
    {
        try Self.checkKeyId(userName, parameter: "UserName")
        let policies = try await store.read { tx in
            _ = try await Self.liveKey(tx, id: userName, tenant: tenant)
            return try await tx.iamAttachedPolicies(accessKeyId: userName, after: marker, limit: maxItems + 1)
        }
        return (Array(policies.prefix(maxItems)), policies.count > maxItems)
    }

    /// The parsed documents attached to a key, read fresh on every request (an attach or detach
    /// takes effect on the next one). A document that no longer parses denies everything rather
    /// than being skipped: skipping a Deny would grant more.
    public func policyDocuments(for key: S3Key) async throws -> [IAMPolicyDocument] {
        let limit = limits.maxPoliciesPerKey
        let policies = try await store.read { tx in
            try await tx.iamAttachedPolicies(accessKeyId: key.accessKeyId, after: nil, limit: limit)
        }
        return policies.map { policy in
            (try? IAMPolicyDocument.parse(policy.document))
                ?? IAMPolicyDocument(statements: [.init(effect: .deny, actions: ["*"], resources: ["*"])])
        }
    }
}
