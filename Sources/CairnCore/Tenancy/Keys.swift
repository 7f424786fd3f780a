import Crypto
import Synchronization

/// What a key may do. Each scope includes the ones below it: admin ⊃ write ⊃ read.
public enum Scope: String, Sendable, CaseIterable, Comparable {
    case read, write, admin

    private var rank: Int {
        switch self {
        case .read: return 0
        case .write: return 1
        case .admin: return 2
        }
    }

    public static func < (a: Scope, b: Scope) -> Bool { a.rank < b.rank }
}

/// An API key as stored: never the secret, only its hash and a visible prefix.
public struct APIKey: Sendable, Equatable {
    public var id: String
    public var tenant: TenantID
    public var name: String?
    /// The first characters of the secret, to recognize a key in lists and logs.
    public var prefix: String
    public var secretHash: String
    public var scopes: [Scope]
    public var createdAt: Timestamp
    public var revokedAt: Timestamp?

    public init(
        id: String, tenant: TenantID, name: String?, prefix: String, secretHash: String, scopes: [Scope],
        createdAt: Timestamp, revokedAt: Timestamp?
    ) {
        self.id = id
        self.tenant = tenant
        self.name = name
        self.prefix = prefix
        self.secretHash = secretHash
        self.scopes = scopes
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    /// Whether the key grants `scope` (a higher scope grants the lower ones).
    public func allows(_ scope: Scope) -> Bool { scopes.contains { $0 >= scope } }
}

/// Who a request acts as.
public struct Principal: Sendable, Equatable {
    public var tenant: TenantID
    public var scopes: [Scope]
    /// The configured root key: manages keys of every tenant.
    public var isRoot: Bool
    /// Which credential made the request (an API key's id, `root` for the configured key, nil
    /// when the server is open): what per-key rate limits count against.
    public var keyId: String?

    public init(tenant: TenantID, scopes: [Scope], isRoot: Bool, keyId: String? = nil) {
        self.tenant = tenant
        self.scopes = scopes
        self.isRoot = isRoot
        self.keyId = keyId
    }

    public func allows(_ scope: Scope) -> Bool { isRoot || scopes.contains { $0 >= scope } }

    /// No authentication configured: everything, in the default tenant.
    public static let open = Principal(tenant: .default, scopes: [.admin], isRoot: true)
}

/// Keys are never deleted: revoking one keeps its row, because any key, revoked or not, is what
/// ends open mode.
public protocol KeyStore: Sendable {
    func insertKey(_ key: APIKey) async throws
    func key(secretHash: String) async throws -> APIKey?
    func keys(tenant: TenantID?) async throws -> [APIKey]
    /// Revokes a key; false if there is no such active key (in `tenant`, when given).
    func revokeKey(id: String, tenant: TenantID?, at: Timestamp) async throws -> Bool
    /// Whether any key was ever created, revoked ones included (keys are never deleted, so this
    /// never turns false again): from then on every request must authenticate.
    func anyKeyCreated() async throws -> Bool
    func insertS3Key(_ key: S3Key) async throws
    func s3Key(accessKeyId: String) async throws -> S3Key?
    func revokeS3Key(accessKeyId: String, tenant: TenantID?, at: Timestamp) async throws -> Bool
    /// Keys this store may answer from memory, or nil for a lookup per request: only a store
    /// that hears every revocation, also one made by another process, at once keeps them.
    var verifiedKeys: VerifiedKeys? { get }
}

/// Reads of API keys inside one transaction.
public protocol KeyReadTransaction: Sendable {
    func key(secretHash: String) async throws -> APIKey?
    func key(id: String) async throws -> APIKey?
    func keys(tenant: TenantID?) async throws -> [APIKey]
    func anyKeyCreated() async throws -> Bool
}

public protocol KeyWriteTransaction: KeyReadTransaction {
    func insertKey(_ key: APIKey) async throws
    func revokeKey(id: String, tenant: TenantID?, at: Timestamp) async throws -> Bool
}

/// Every run store keeps keys too, through its transactions.
extension RunStore {
    public func insertKey(_ key: APIKey) async throws { try await write { tx in try await tx.insertKey(key) } }

    public func key(secretHash: String) async throws -> APIKey? {
        try await read { tx in try await tx.key(secretHash: secretHash) }
    }

    public func keys(tenant: TenantID?) async throws -> [APIKey] {
        try await read { tx in try await tx.keys(tenant: tenant) }
    }

    public func revokeKey(id: String, tenant: TenantID?, at now: Timestamp) async throws -> Bool {
        try await write { tx in try await tx.revokeKey(id: id, tenant: tenant, at: now) }
    }

    public func anyKeyCreated() async throws -> Bool { try await read { tx in try await tx.anyKeyCreated() } }

    public func insertS3Key(_ key: S3Key) async throws { try await write { tx in try await tx.insertS3Key(key) } }

    public func s3Key(accessKeyId: String) async throws -> S3Key? {
        try await read { tx in try await tx.s3Key(accessKeyId: accessKeyId) }
    }

    public func revokeS3Key(accessKeyId: String, tenant: TenantID?, at now: Timestamp) async throws -> Bool {
        try await write { tx in try await tx.revokeS3Key(accessKeyId: accessKeyId, tenant: tenant, at: now) }
    }

    public var verifiedKeys: VerifiedKeys? { nil }
}

public enum KeyError: Error, Equatable, Sendable {
    case invalidTenant(String)
    case noScopes
    case keyNotFound
}

/// Issues, checks and revokes API keys.
public struct KeyService: Sendable {
    public let store: any KeyStore
    /// What creation and revocation times, and how long a verified key is remembered, are read from.
    public let clock: any WallClock

    public init(store: any KeyStore, clock: any WallClock = SystemClock()) {
        self.store = store
        self.clock = clock
    }

    /// A tenant name: 1–64 of letters, digits, `-`, `_`, `.`.
    public static func isValidTenant(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64
            && name.unicodeScalars.allSatisfy {
                ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)))
                    || "-_.".unicodeScalars.contains($0)
            }
    }

    public static func hash(secret: String) -> String { Array(SHA256.hash(data: Array(secret.utf8))).hexString }

    /// Creates a key and returns it with its secret, which is shown this once and never stored.
    /// The secret carries 256 random bits.
    public func create(tenant: String, name: String?, scopes: [Scope]) async throws -> (key: APIKey, secret: String) {
        guard Self.isValidTenant(tenant) else { throw KeyError.invalidTenant(tenant) }
        guard !scopes.isEmpty else { throw KeyError.noScopes }
        let secret = "cairn_" + Identifier.randomHex() + Identifier.randomHex()
        let key = APIKey(
            id: Identifier.make("key_"), tenant: TenantID(rawValue: tenant), name: name,
            prefix: String(secret.prefix(14)),
            secretHash: Self.hash(secret: secret), scopes: Array(Set(scopes)).sorted(), createdAt: clock.now(),
            revokedAt: nil)
        try await store.insertKey(key)
        return (key, secret)
    }

    /// The principal a presented secret authenticates, if it is an active key.
    /// A key the store verified recently may be taken from its memory (`KeyStore.verifiedKeys`);
    /// a secret that is unknown or revoked is looked up every time.
    public func authenticate(secret: String) async throws -> Principal? {
        guard secret.hasPrefix("cairn_") else { return nil }
        let hash = Self.hash(secret: secret)
        let now = clock.now()
        let verified = store.verifiedKeys
        let remembered = verified?.lookup(secretHash: hash, now: now)
        if let principal = remembered?.principal { return principal }
        guard let key = try await store.key(secretHash: hash), key.revokedAt == nil else { return nil }
        let principal = Principal(tenant: key.tenant, scopes: key.scopes, isRoot: false, keyId: key.id)
        if let verified, let remembered {
            verified.remember(principal, secretHash: hash, at: now, ifStill: remembered.generation)
        }
        return principal
    }

    public func list(tenant: TenantID?) async throws -> [APIKey] { try await store.keys(tenant: tenant) }

    /// Creates an S3 access key (see `newS3Key`).
    public func createS3Key(tenant: String, name: String?, scopes: [Scope]) async throws -> S3Key {
        guard Self.isValidTenant(tenant) else { throw KeyError.invalidTenant(tenant) }
        guard !scopes.isEmpty else { throw KeyError.noScopes }
        let key = Self.newS3Key(tenant: TenantID(rawValue: tenant), name: name, scopes: scopes, at: clock.now())
        try await store.insertS3Key(key)
        return key
    }

    /// A fresh S3 access key, not yet stored: a 20-character id (`CK` and 18 upper-case hex
    /// digits) and a 40-character secret, which SigV4 needs on the server too, so it is stored as
    /// it is.
    public static func newS3Key(tenant: TenantID, name: String?, scopes: [Scope], at now: Timestamp) -> S3Key {
        S3Key(
            accessKeyId: "CK" + String(Identifier.randomHex().uppercased().prefix(18)), tenant: tenant,
            secret: String((Identifier.randomHex() + Identifier.randomHex()).prefix(40)),
            scopes: Array(Set(scopes)).sorted(), name: name, createdAt: now, revokedAt: nil)
    }

    /// The active S3 key with this id (not revoked, not deactivated), if any.
    public func activeS3Key(accessKeyId: String) async throws -> S3Key? {
        guard accessKeyId.utf8.count <= 128, let key = try await store.s3Key(accessKeyId: accessKeyId), key.isUsable
        else { return nil }
        return key
    }

    /// Revokes an API key, or an S3 key by its access key id.
    public func revoke(id: String, tenant: TenantID?) async throws {
        if try await store.revokeKey(id: id, tenant: tenant, at: clock.now()) { return }
        guard try await store.revokeS3Key(accessKeyId: id, tenant: tenant, at: clock.now()) else {
            throw KeyError.keyNotFound
        }
    }
}

/// API keys that authenticated recently, by secret hash, kept by a store that hears every
/// revocation (`KeyStore.verifiedKeys`), so that a client's requests do not each read its key:
/// on Postgres that read cost a step about 1 ms (two requests, each a read transaction). The
/// store forgets a key when it hears of its revocation, and everything while it cannot hear
/// (it then keeps nothing). `lifetime` bounds how long a key is trusted even so.
public final class VerifiedKeys: Sendable {
    /// How long a verified key is trusted without reading the store again.
    static let lifetime: Int64 = 1_000  // milliseconds
    /// At most this many keys are remembered; when full, expired ones go, and if none has
    /// expired, all of them.
    static let limit = 10_000

    private struct Entry {
        let principal: Principal
        let verifiedAt: Timestamp
    }
    private struct State {
        var entries: [String: Entry] = [:]
        var listening = false
        /// Bumped by every forget, so a lookup that raced one is not remembered.
        var generation: UInt64 = 0
        var forgetObserver: (@Sendable (String?) -> Void)?
    }
    private let state = Mutex(State())

    public init() {}

    /// The remembered principal, if any and still trusted, and the generation to pass to
    /// `remember` after reading the store otherwise.
    func lookup(secretHash: String, now: Timestamp) -> (principal: Principal?, generation: UInt64) {
        state.withLock { state in
            guard let entry = state.entries[secretHash] else { return (nil, state.generation) }
            // A clock that stepped back counts as expired too.
            guard entry.verifiedAt <= now, now.milliseconds - entry.verifiedAt.milliseconds < Self.lifetime else {
                state.entries[secretHash] = nil
                return (nil, state.generation)
            }
            return (entry.principal, state.generation)
        }
    }

    /// Remembers a key read from the store, unless the store stopped hearing revocations or
    /// forgot something since `lookup` gave `generation` (the read may predate a revocation).
    func remember(_ principal: Principal, secretHash: String, at now: Timestamp, ifStill generation: UInt64) {
        state.withLock { state in
            guard state.listening, state.generation == generation else { return }
            if state.entries.count >= Self.limit, state.entries[secretHash] == nil {
                state.entries = state.entries.filter {
                    now.milliseconds - $0.value.verifiedAt.milliseconds < Self.lifetime
                }
                if state.entries.count >= Self.limit { state.entries.removeAll() }
            }
            state.entries[secretHash] = Entry(principal: principal, verifiedAt: now)
        }
    }

    /// A key was revoked (here or elsewhere): it is no longer answered from memory.
    public func forget(keyId: String) {
        let observer = state.withLock { state in
            state.generation &+= 1
            state.entries = state.entries.filter { $0.value.principal.keyId != keyId }
            return state.forgetObserver
        }
        observer?(keyId)
    }

    /// Calls `observer` with each key id forgotten from now on, or nil when everything is (the
    /// listener stopped), so a caller (a test) can wait for a revocation made elsewhere to be heard.
    func observeForgets(_ observer: @escaping @Sendable (String?) -> Void) {
        state.withLock { $0.forgetObserver = observer }
    }

    /// Whether revocations are heard from now on; when they are not, nothing is kept.
    public func setListening(_ listening: Bool) {
        let observer = state.withLock { state in
            state.listening = listening
            state.generation &+= 1
            if !listening { state.entries.removeAll() }
            return listening ? nil : state.forgetObserver
        }
        observer?(nil)
    }

    var count: Int { state.withLock { $0.entries.count } }
}
