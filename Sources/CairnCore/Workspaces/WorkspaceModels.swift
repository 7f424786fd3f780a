/// A workspace: an S3 bucket of one tenant. Its objects are append-only versions numbered by
/// the bucket's version clock; a snapshot is a point on that clock, and a fork is a bucket whose
/// parent is (source bucket, point), so reads resolve through the fork chain and nothing is
/// copied.
public struct WorkspaceBucket: Sendable, Equatable {
    public enum Versioning: String, Sendable {
        /// Never versioned: every object has the version id `null`, an overwrite replaces it.
        case unversioned
        case enabled
        /// New writes get the `null` version, replacing the previous `null` version only.
        case suspended
    }

    /// Where a fork's contents come from.
    public struct Parent: Sendable, Equatable {
        public var bucketId: String
        /// The source's name when the fork was made (shown by HeadBucket, even if it is gone).
        public var name: String
        /// The source's version clock at the fork: its versions up to here are the fork's start.
        public var point: Int64

        public init(bucketId: String, name: String, point: Int64) {
            self.bucketId = bucketId
            self.name = name
            self.point = point
        }
    }

    public var id: String
    public var tenant: TenantID
    public var name: String
    public var createdAt: Timestamp
    public var snapshotsEnabled: Bool
    public var versioning: Versioning
    public var parent: Parent?
    /// The newest point on the bucket's version clock handed out.
    public var lastSeq: Int64
    /// The lifecycle configuration as received (validated XML), or nil.
    public var lifecycleXML: String?
    /// Set when the bucket was deleted while forks still read through it: it keeps its rows,
    /// but has no name any more.
    public var deletedAt: Timestamp?
    /// The object notifications setting (`ObjectNotificationSettings.storedJSON`), or nil.
    public var notificationsJSON: String?

    public init(
        id: String, tenant: TenantID, name: String, createdAt: Timestamp, snapshotsEnabled: Bool,
        versioning: Versioning, parent: Parent?, lastSeq: Int64, lifecycleXML: String?, deletedAt: Timestamp?,
        notificationsJSON: String? = nil
    ) {
        self.notificationsJSON = notificationsJSON
        self.id = id
        self.tenant = tenant
        self.name = name
        self.createdAt = createdAt
        self.snapshotsEnabled = snapshotsEnabled
        self.versioning = versioning
        self.parent = parent
        self.lastSeq = lastSeq
        self.lifecycleXML = lifecycleXML
        self.deletedAt = deletedAt
    }

    /// Whether writes keep earlier versions (and so answer with version ids).
    public var keepsVersions: Bool { snapshotsEnabled || versioning == .enabled }
    /// Whether a replaced or deleted version must stay readable for snapshots and forks.
    public var retainsHistory: Bool { snapshotsEnabled }

    /// The next point on the version clock: the time in milliseconds × 10⁶ (19 digits, like
    /// Tigris' versions), or one past the last point if the clock has not moved on.
    public func nextSeq(now: Timestamp) -> Int64 {
        let fromClock = now.milliseconds.multipliedReportingOverflow(by: 1_000_000)
        let candidate = fromClock.overflow ? Int64.max - 1 : fromClock.partialValue
        return Swift.max(candidate, lastSeq + 1)
    }
}

/// A named or unnamed point on a bucket's version clock.
public struct WorkspaceSnapshot: Sendable, Equatable {
    public var bucketId: String
    public var seq: Int64
    public var name: String?
    public var createdAt: Timestamp

    public init(bucketId: String, seq: Int64, name: String?, createdAt: Timestamp) {
        self.bucketId = bucketId
        self.seq = seq
        self.name = name
        self.createdAt = createdAt
    }

    /// The version string clients see.
    public var version: String { String(seq) }
}

/// Bytes of a stored object: one blob, or the parts of a multipart upload in order.
public struct BlobSegment: Sendable, Equatable {
    public var sha256: String
    public var size: Int64

    public init(sha256: String, size: Int64) {
        self.sha256 = sha256
        self.size = size
    }
}

/// The HTTP headers an object keeps and returns: `Content-Type`, the other standard ones,
/// `x-amz-meta-*` and the verified checksums of its upload, in lower case, as received.
public struct ObjectHeaders: Sendable, Equatable {
    public var pairs: [(name: String, value: String)]

    public init(_ pairs: [(name: String, value: String)] = []) { self.pairs = pairs }

    public static func == (a: ObjectHeaders, b: ObjectHeaders) -> Bool {
        a.pairs.elementsEqual(b.pairs) { $0.name == $1.name && $0.value == $1.value }
    }

    public subscript(name: String) -> String? { pairs.first { $0.name == name }?.value }

    /// The standard headers an object keeps besides its user metadata.
    public static let stored: Set<String> = [
        "content-type", "cache-control", "content-disposition", "content-encoding", "content-language", "expires",
    ]

    /// The checksums a PutObject's bytes were verified against, kept to be returned to readers
    /// that ask for them (`x-amz-checksum-mode: ENABLED`), never otherwise.
    /// A multipart object keeps the type of its checksum beside it (`x-amz-checksum-type`).
    public static let checksums: Set<String> = Set(
        ChecksumAlgorithm.allCases.map(\.headerName) + [MultipartChecksum.typeHeader])

    public var jsonText: String {
        JSONValue.object(JSONObject(pairs.map { ($0.name, JSONValue.string($0.value)) })).jsonText
    }

    public init(jsonText: String) {
        var pairs: [(name: String, value: String)] = []
        if let object = (try? JSONParser.parse(jsonText))?.objectValue {
            for (name, value) in object.pairs { pairs.append((name, value.stringValue ?? "")) }
        }
        self.pairs = pairs
    }
}

/// One version of an object, or a delete marker.
public struct ObjectVersion: Sendable, Equatable {
    public var bucketId: String
    public var key: String
    public var seq: Int64
    /// Written while the bucket kept no versions (or had them suspended): its id is `null`.
    public var isNullVersion: Bool
    public var isDeleteMarker: Bool
    public var size: Int64
    /// The quoted ETag: `"<md5>"`, or `"<md5 of the parts' md5s>-N"` for a multipart upload.
    public var etag: String
    public var segments: [BlobSegment]
    public var headers: ObjectHeaders
    public var createdAt: Timestamp

    public init(
        bucketId: String, key: String, seq: Int64, isNullVersion: Bool, isDeleteMarker: Bool, size: Int64,
        etag: String, segments: [BlobSegment], headers: ObjectHeaders, createdAt: Timestamp
    ) {
        self.bucketId = bucketId
        self.key = key
        self.seq = seq
        self.isNullVersion = isNullVersion
        self.isDeleteMarker = isDeleteMarker
        self.size = size
        self.etag = etag
        self.segments = segments
        self.headers = headers
        self.createdAt = createdAt
    }

    public var versionId: String { isNullVersion ? "null" : String(seq) }

    /// The segments as stored: `sha256:size` joined by commas.
    public static func encode(_ segments: [BlobSegment]) -> String {
        segments.map { "\($0.sha256):\($0.size)" }.joined(separator: ",")
    }

    public static func decodeSegments(_ text: String) -> [BlobSegment] {
        text.split(separator: ",").compactMap { item in
            let parts = item.split(separator: ":")
            guard parts.count == 2, let size = Int64(parts[1]) else { return nil }
            return BlobSegment(sha256: String(parts[0]), size: size)
        }
    }
}

/// A multipart upload in progress.
public struct MultipartUpload: Sendable, Equatable {
    public var id: String
    public var bucketId: String
    public var key: String
    public var headers: ObjectHeaders
    public var createdAt: Timestamp

    public init(id: String, bucketId: String, key: String, headers: ObjectHeaders, createdAt: Timestamp) {
        self.id = id
        self.bucketId = bucketId
        self.key = key
        self.headers = headers
        self.createdAt = createdAt
    }
}

public struct UploadedPart: Sendable, Equatable {
    public var uploadId: String
    public var number: Int
    public var size: Int64
    /// Quoted, like an object's.
    public var etag: String
    public var sha256: String
    /// The part's checksum (base64) by the algorithm its upload was created with; nil without one.
    public var checksum: String?
    public var createdAt: Timestamp

    public init(
        uploadId: String, number: Int, size: Int64, etag: String, sha256: String, checksum: String? = nil,
        createdAt: Timestamp
    ) {
        self.uploadId = uploadId
        self.number = number
        self.size = size
        self.etag = etag
        self.sha256 = sha256
        self.checksum = checksum
        self.createdAt = createdAt
    }
}

/// What a listing of the newest objects asks for.
public struct ObjectListQuery: Sendable, Equatable {
    public var prefix: String = ""
    public var delimiter: String?
    /// List keys (and common prefixes) after this one.
    public var after: String?
    public var maxKeys: Int = 1000
    /// A snapshot's point; nil reads the live bucket.
    public var point: Int64?

    public init() {}
}

public struct ObjectListPage: Sendable {
    public var objects: [ObjectVersion] = []
    public var commonPrefixes: [String] = []
    public var isTruncated = false
    /// The last key or common prefix of the page: where the next page starts after.
    public var last: String?

    public init() {}
}

public struct VersionListQuery: Sendable, Equatable {
    public var prefix: String = ""
    public var delimiter: String?
    public var keyMarker: String?
    public var versionMarker: Int64?
    public var maxKeys: Int = 1000

    public init() {}
}

public struct VersionListPage: Sendable {
    /// Each version with whether it is its key's newest.
    public var versions: [(version: ObjectVersion, isLatest: Bool)] = []
    public var commonPrefixes: [String] = []
    public var isTruncated = false
    public var nextKeyMarker: String?
    public var nextVersionMarker: String?

    public init() {}
}

/// Preconditions a write checks against the key's current version, in its transaction.
public struct WriteConditions: Sendable, Equatable {
    /// `If-None-Match: *`: the key must not exist.
    public var mustNotExist = false
    /// `If-Match`: the current version's ETag must be one of these (`*` matches any).
    public var ifMatch: [String]?

    public init(mustNotExist: Bool = false, ifMatch: [String]? = nil) {
        self.mustNotExist = mustNotExist
        self.ifMatch = ifMatch
    }

    public var isEmpty: Bool { !mustNotExist && ifMatch == nil }
}

/// One change event of a bucket with notifications, as its event stream sends it.
public struct WorkspaceEvent: Sendable, Equatable {
    /// Numbered from 1 per bucket, without gaps, in commit order.
    public var seq: Int64
    public var payload: String

    public init(seq: Int64, payload: String) {
        self.seq = seq
        self.payload = payload
    }
}
