/// A signed-in Studio browser: an API key (or the configured root key, or an open server)
/// exchanged for a session. The browser holds the session's token in a cookie; the store keeps
/// only its hash, with the CSRF token every form of the session must carry.
public struct StudioSession: Sendable, Equatable {
    /// SHA-256 of the cookie's token.
    public var tokenHash: String
    public var tenant: TenantID
    public var scopes: [Scope]
    public var isRoot: Bool
    /// The API key it was made from (`root` for the configured key, nil for an open server):
    /// revoking that key ends the session.
    public var keyId: String?
    public var csrfToken: String
    public var createdAt: Timestamp
    public var expiresAt: Timestamp
    public var revokedAt: Timestamp?

    public init(
        tokenHash: String, tenant: TenantID, scopes: [Scope], isRoot: Bool, keyId: String?, csrfToken: String,
        createdAt: Timestamp, expiresAt: Timestamp, revokedAt: Timestamp?
    ) {
        self.tokenHash = tokenHash
        self.tenant = tenant
        self.scopes = scopes
        self.isRoot = isRoot
        self.keyId = keyId
        self.csrfToken = csrfToken
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }

    public var principal: Principal { Principal(tenant: tenant, scopes: scopes, isRoot: isRoot, keyId: keyId) }
}

public protocol StudioSessionReadTransaction: Sendable {
    func studioSession(tokenHash: String) async throws -> StudioSession?
}

public protocol StudioSessionWriteTransaction: StudioSessionReadTransaction {
    func insertStudioSession(_ session: StudioSession) async throws
    /// Whether an active session was revoked.
    func revokeStudioSession(tokenHash: String, at: Timestamp) async throws -> Bool
    /// Removes sessions that expired before `before` (revoked ones too, once expired).
    func deleteExpiredStudioSessions(before: Timestamp) async throws
}

/// Signs Studio browsers in and out, and says who a session's cookie acts as.
public struct StudioSessionService: Sendable {
    /// How long a session lasts; signing in again starts a new one.
    public static let lifetimeMilliseconds: Int64 = 12 * 3_600_000

    public let store: any RunStore
    public let keys: KeyService
    public let clock: any WallClock

    public init(store: any RunStore, keys: KeyService, clock: any WallClock) {
        self.store = store
        self.keys = keys
        self.clock = clock
    }

    /// A new session for `principal`; returns it with the cookie's token (shown this once).
    public func signIn(as principal: Principal) async throws -> (session: StudioSession, token: String) {
        let token = "cst_" + Identifier.randomHex() + Identifier.randomHex()
        let now = clock.now()
        let session = StudioSession(
            tokenHash: KeyService.hash(secret: token), tenant: principal.tenant, scopes: principal.scopes,
            isRoot: principal.isRoot, keyId: principal.keyId, csrfToken: Identifier.randomHex(), createdAt: now,
            expiresAt: Timestamp(milliseconds: now.milliseconds + Self.lifetimeMilliseconds), revokedAt: nil)
        try await store.write { tx in
            try await tx.deleteExpiredStudioSessions(before: now)
            try await tx.insertStudioSession(session)
        }
        return (session, token)
    }

    /// The active session a cookie's token names: not revoked, not expired, and its API key not
    /// revoked since. `rootKeyConfigured` and `open` say whether root and open sessions still
    /// hold (a server restarted without its root key, or no longer open, ends them).
    public func session(token: String, rootKeyConfigured: Bool, open: @Sendable () async throws -> Bool)
        async throws -> StudioSession?
    {
        guard token.hasPrefix("cst_"), token.utf8.count == 68 else { return nil }
        let hash = KeyService.hash(secret: token)
        // The session and the API key it was made from, in one read.
        let found = try await store.read { tx -> (StudioSession, APIKey?)? in
            guard let session = try await tx.studioSession(tokenHash: hash) else { return nil }
            guard let keyId = session.keyId, keyId != "root" else { return (session, nil) }
            return (session, try await tx.key(id: keyId))
        }
        guard let (session, key) = found, session.revokedAt == nil, clock.now() < session.expiresAt else {
            return nil
        }
        switch session.keyId {
        case nil:
            guard try await open() else { return nil }
        case "root":
            guard session.isRoot, rootKeyConfigured else { return nil }
        case .some:
            guard let key, key.tenant == session.tenant, key.revokedAt == nil else { return nil }
        }
        return session
    }

    public func signOut(tokenHash: String) async throws {
        let now = clock.now()
        _ = try await store.write { tx in try await tx.revokeStudioSession(tokenHash: tokenHash, at: now) }
    }
}
