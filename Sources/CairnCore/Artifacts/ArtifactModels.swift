/// A stored artifact: an immutable blob of bytes with a name and labels, owned by a tenant.
/// Its bytes live in the blob store under their SHA-256; the row is the visibility point.
public struct Artifact: Sendable, Equatable {
    public var id: String
    public var tenant: TenantID
    /// A label, not a path: names are not unique and never reach the file system.
    public var name: String
    public var contentType: String
    public var size: Int64
    /// The SHA-256 of the bytes, 64 lowercase hex characters.
    public var sha256: String
    /// The agent the artifact belongs to (a filter label), if any.
    public var owner: String?
    /// String labels given at upload (`X-Cairn-Meta-*` headers over HTTP).
    public var metadata: [String: String]
    public var createdAt: Timestamp
    /// After this the artifact is gone: reads answer 404 and the sweeper deletes it.
    public var expiresAt: Timestamp?
    /// The upload's `Idempotency-Key`, if it sent one: unique among the tenant's live artifacts,
    /// so a retried upload finds this artifact instead of creating another. Never shown on the
    /// wire (the client already knows it).
    public var idempotencyKey: String?

    public init(
        id: String, tenant: TenantID, name: String, contentType: String, size: Int64, sha256: String, owner: String?,
        metadata: [String: String], createdAt: Timestamp, expiresAt: Timestamp?, idempotencyKey: String? = nil
    ) {
        self.id = id
        self.tenant = tenant
        self.name = name
        self.contentType = contentType
        self.size = size
        self.sha256 = sha256
        self.owner = owner
        self.metadata = metadata
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.idempotencyKey = idempotencyKey
    }

    public func isExpired(at now: Timestamp) -> Bool { expiresAt.map { $0 <= now } ?? false }
}

/// What an upload says about the artifact it creates.
public struct ArtifactUploadRequest: Sendable {
    public var name: String
    public var contentType: String
    public var owner: String?
    public var metadata: [String: String]
    public var expiresAt: Timestamp?
    /// The SHA-256 the client expects (any case); the upload fails if the bytes differ.
    public var expectedSHA256: String?
    /// The length the client declared (`Content-Length`); the upload fails if the body differs.
    public var declaredLength: Int64?
    /// The client's `Idempotency-Key`: a retry with the same key gets the artifact the first
    /// attempt created instead of a second one (see `ArtifactService.replay`).
    public var idempotencyKey: String?

    public init(
        name: String, contentType: String = "application/octet-stream", owner: String? = nil,
        metadata: [String: String] = [:], expiresAt: Timestamp? = nil, expectedSHA256: String? = nil,
        declaredLength: Int64? = nil, idempotencyKey: String? = nil
    ) {
        self.name = name
        self.contentType = contentType
        self.owner = owner
        self.metadata = metadata
        self.expiresAt = expiresAt
        self.expectedSHA256 = expectedSHA256
        self.declaredLength = declaredLength
        self.idempotencyKey = idempotencyKey
    }
}

/// A page of a tenant's artifacts, ordered by name then id.
public struct ArtifactPage: Sendable, Equatable {
    public var artifacts: [Artifact]
    /// Pass as `after` to get the next page; nil on the last page.
    public var nextCursor: String?

    public init(artifacts: [Artifact], nextCursor: String?) {
        self.artifacts = artifacts
        self.nextCursor = nextCursor
    }
}

public struct ArtifactListQuery: Sendable, Equatable {
    public var owner: String?
    public var namePrefix: String?
    public var limit: Int
    /// The position after which the page starts: the last artifact of the previous page.
    public var after: (name: String, id: String)?

    public init(
        owner: String? = nil, namePrefix: String? = nil, limit: Int = 100, after: (name: String, id: String)? = nil
    ) {
        self.owner = owner
        self.namePrefix = namePrefix
        self.limit = limit
        self.after = after
    }

    public static func == (a: ArtifactListQuery, b: ArtifactListQuery) -> Bool {
        a.owner == b.owner && a.namePrefix == b.namePrefix && a.limit == b.limit && a.after?.name == b.after?.name
            && a.after?.id == b.after?.id
    }
}

/// Why an artifact operation was refused. Every case leaves nothing behind.
public enum ArtifactError: Error, Equatable, Sendable {
    /// The artifact (declared or streamed) is larger than the server's maximum.
    case tooLarge(limit: Int64)
    /// The tenant's stored plus in-flight bytes would exceed its quota.
    case quotaExceeded(quota: Int64, used: Int64)
    case checksumMismatch(expected: String, actual: String)
    /// The body ended before (or ran past) its declared length.
    case lengthMismatch(declared: Int64, received: Int64)
    /// The client stopped sending (closed the connection) before the body was complete.
    case incompleteBody(received: Int64)
    case invalid(field: String, message: String)
    case notFound
    /// The tenant has a live artifact under this idempotency key whose SHA-256 differs from the
    /// one this upload expects: the key was reused for other bytes.
    case idempotencyKeyReused(key: String, existing: Artifact)
    /// Another replica's sweeper removed the bytes between this upload's publish and its commit
    /// (they were unreferenced for that moment); nothing was stored, and sending again works.
    case blobRemovedMeanwhile
}

/// What the commit of an upload carrying an idempotency key finds when the tenant already has
/// a live artifact under that key (another attempt of the same upload won the race): the
/// transaction stored nothing. Thrown by `ArtifactStore.insertArtifact`.
public struct ArtifactIdempotencyConflict: Error, Sendable {
    public let existing: Artifact
    public init(existing: Artifact) { self.existing = existing }
}

/// Checks of client-supplied strings: an artifact never lets a client name a path.
public enum ArtifactNames {
    public static let maxNameBytes = 1024
    public static let maxOwnerBytes = 256
    public static let maxMetadataBytes = 8 * 1024
    public static let maxIdempotencyKeyBytes = 255

    /// Why an `Idempotency-Key` is refused, or nil: it must be 1 to 255 printable ASCII
    /// characters (space to `~`).
    public static func problem(idempotencyKey key: String) -> String? {
        if key.isEmpty { return "must not be empty" }
        if key.utf8.count > maxIdempotencyKeyBytes { return "must be at most \(maxIdempotencyKeyBytes) characters" }
        if !key.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) {
            return "must be printable ASCII (no control or non-ASCII characters)"
        }
        return nil
    }

    /// Server-issued ids: `art_` and 32 lowercase hex characters.
    public static func isValidID(_ id: String) -> Bool {
        let b = Array(id.utf8)
        return b.count == 36 && id.hasPrefix("art_") && b[4...].allSatisfy(isLowerHex)
    }

    /// A SHA-256 digest in its canonical form: exactly 64 lowercase hex characters.
    public static func isValidDigest(_ digest: String) -> Bool {
        let b = Array(digest.utf8)
        return b.count == 64 && b.allSatisfy(isLowerHex)
    }

    static func isLowerHex(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) || (0x61...0x66).contains(c) }

    /// Why `name` is refused, or nil. Names may use `/` to group (like object keys), but may not
    /// be absolute, contain `.` or `..` segments, empty segments, backslashes or control
    /// characters, so a client that maps names to files cannot be led outside its directory.
    public static func problem(name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name.utf8.count > maxNameBytes { return "must be at most \(maxNameBytes) bytes" }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "must not contain control characters"
        }
        if name.contains("\\") { return "must not contain backslashes" }
        if name.hasPrefix("/") { return "must not be absolute (start with /)" }
        for segment in name.split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty { return "must not contain empty segments (// or a trailing /)" }
            if segment == "." || segment == ".." { return "must not contain . or .. segments" }
        }
        return nil
    }

    public static let maxContentTypeBytes = 255

    /// Why a `Content-Type` is refused, or nil: it must be a media type as RFC 9110 §8.3
    /// spells it, `type/subtype` with optional `; name=value` parameters (a value may be
    /// quoted), at most 255 bytes, so it can be served back as a header unchanged.
    public static func problem(contentType: String) -> String? {
        let b = Array(contentType.utf8)
        if b.isEmpty { return "must not be empty" }
        if b.count > maxContentTypeBytes { return "must be at most \(maxContentTypeBytes) bytes" }
        let invalid = "must be a media type such as text/plain or application/json; charset=utf-8"
        var i = 0
        func token() -> Bool {
            let start = i
            while i < b.count, isTokenCharacter(b[i]) { i += 1 }
            return i > start
        }
        func skipSpace() { while i < b.count, b[i] == 0x20 || b[i] == 0x09 { i += 1 } }
        guard token(), i < b.count, b[i] == UInt8(ascii: "/") else { return invalid }
        i += 1
        guard token() else { return invalid }
        while true {
            skipSpace()
            if i == b.count { return nil }
            guard b[i] == UInt8(ascii: ";") else { return invalid }
            i += 1
            skipSpace()
            if i == b.count { return nil }  // a trailing ";" is tolerated, as browsers do
            guard token(), i < b.count, b[i] == UInt8(ascii: "=") else { return invalid }
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "\"") {
                i += 1
                var closed = false
                while i < b.count {
                    let c = b[i]
                    if c == UInt8(ascii: "\"") {
                        closed = true
                        i += 1
                        break
                    }
                    if c == UInt8(ascii: "\\") { i += 1 }
                    guard i < b.count, b[i] == 0x09 || (0x20...0x7E).contains(b[i]) else { return invalid }
                    i += 1
                }
                guard closed else { return invalid }
            } else if !token() {
                return invalid
            }
        }
    }

    /// RFC 9110 `tchar`.
    static func isTokenCharacter(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "a")...UInt8(ascii: "z"):
            return true
        default: return "!#$%&'*+-.^_`|~".utf8.contains(c)
        }
    }

    /// Why a label (owner, metadata key or value) is refused, or nil.
    public static func problem(label: String, maxBytes: Int) -> String? {
        if label.utf8.count > maxBytes { return "must be at most \(maxBytes) bytes" }
        if label.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "must not contain control characters"
        }
        return nil
    }
}
