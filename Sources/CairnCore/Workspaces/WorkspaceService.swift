import Crypto
import Synchronization

/// Workspaces: buckets of versioned objects with O(1) snapshots and forks, over the shared
/// content-addressed blob store. Errors are `S3Error`s, since S3 is how workspaces are spoken.
///
/// A write streams its bytes into a blob write first; the commit publishes the blob under its
/// digest and inserts the version row in one transaction that holds the bucket's row lock, so
/// the bucket's version clock only moves forward and a snapshot sees exactly the writes before
/// it. An object is visible only once its bytes are durable and its row committed.
public final class WorkspaceService: Sendable {
    public struct Limits: Sendable {
        /// The largest object one PUT may store (S3's limit: 5 GiB).
        public var maxObjectBytes: Int64 = 5 << 30
        /// The smallest part of a multipart upload but the last (S3's: 5 MiB).
        public var minPartBytes: Int64 = 5 << 20
        public var maxPartNumber = 10_000
        /// How deep a chain of forks may grow (each level is one more lookup per read).
        public var maxForkDepth = 32
        public init() {}
    }

    public let store: any RunStore
    public let blobs: any BlobStore
    public let locks: BlobLocks
    public let limits: Limits
    public let clock: any WallClock
    /// Called after a commit that may have recorded object notifications (wakes the delivery service).
    let deliveriesRecorded: @Sendable () -> Void
    /// Wakes the event streams of buckets whose changes committed.
    public let changes = WorkspaceChangeFeed()
    /// Each bucket's ancestors as (bucket id, point), nearest first. A fork's parent never
    /// changes, so this is cached for good.
    private let ancestors = Mutex<[String: [Level]]>([:])
    static let maxCachedChains = 10_000

    struct Level: Sendable, Equatable {
        var bucketId: String
        var point: Int64
    }

    public init(
        store: any RunStore, blobs: any BlobStore, locks: BlobLocks, limits: Limits = Limits(),
        clock: any WallClock = SystemClock(), deliveriesRecorded: @escaping @Sendable () -> Void = {}
    ) {
        self.deliveriesRecorded = deliveriesRecorded
        self.store = store
        self.blobs = blobs
        self.locks = locks
        self.limits = limits
        self.clock = clock
    }

    // MARK: Names

    /// S3's bucket-name rules: 3–63 of lower-case letters, digits, `-` and `.`, starting and
    /// ending with a letter or digit, no `..`, each dot-separated label starting and ending with
    /// a letter or digit (no `.-` or `-.`), not shaped like an IPv4 address.
    public static func isValidBucketName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (3...63).contains(bytes.count) else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        guard bytes.allSatisfy({ alnum($0) || $0 == 0x2D || $0 == 0x2E }) else { return false }
        guard alnum(bytes.first!), alnum(bytes.last!), !name.contains(".."), !name.contains(".-"),
            !name.contains("-.")
        else { return false }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        if octets.count == 4, octets.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && UInt8($0) != nil }) {
            return false
        }
        return true
    }

    /// Object keys: 1–1,024 bytes of UTF-8.
    public static func checkKey(_ key: String) throws {
        if key.isEmpty { throw S3Error(code: "InvalidArgument", message: "The object key is empty.", status: 400) }
        if key.utf8.count > 1024 {
            throw S3Error(code: "KeyTooLongError", message: "Your key is too long (at most 1024 bytes).", status: 400)
        }
    }

    static func noSuchBucket(_ name: String) -> S3Error {
        S3Error(code: "NoSuchBucket", message: "The specified bucket does not exist: \(name)", status: 404)
    }

    public static let noSuchKey = S3Error(code: "NoSuchKey", message: "The specified key does not exist.", status: 404)

    static func noSuchSnapshot(_ version: String) -> S3Error {
        S3Error(code: "NoSuchSnapshot", message: "The bucket has no snapshot \(version).", status: 404)
    }

    public static let noSuchUpload = S3Error(
        code: "NoSuchUpload",
        message: "The specified multipart upload does not exist. It may have been aborted or completed.",
        status: 404)

    static func parseVersion(_ text: String, what: String = "version id") throws -> Int64 {
        guard !text.isEmpty, text.utf8.count <= 19, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let value = Int64(text), value > 0
        else { throw S3Error(code: "InvalidArgument", message: "Invalid \(what): \(text)", status: 400) }
        return value
    }

    // MARK: Buckets

    public func bucket(tenant: TenantID, name: String) async throws -> WorkspaceBucket {
        guard Self.isValidBucketName(name),
            let b = try await store.read({ tx in try await tx.workspaceBucket(tenant: tenant, name: name) })
        else { throw Self.noSuchBucket(name) }
        return b
    }

    public func buckets(tenant: TenantID) async throws -> [WorkspaceBucket] {
        try await store.read { tx in try await tx.workspaceBuckets(tenant: tenant) }
    }

    /// A page of the tenant's buckets by name (ListBuckets with `max-buckets`, `prefix` and a
    /// continuation token).
    public func buckets(tenant: TenantID, prefix: String, after: String?, limit: Int) async throws
        -> [WorkspaceBucket]
    {
        try await store.read { tx in
            try await tx.workspaceBuckets(tenant: tenant, prefix: prefix, after: after, limit: limit)
        }
    }

    /// The live forks of a bucket.
    public func forks(of bucket: WorkspaceBucket) async throws -> [WorkspaceBucket] {
        try await store.read { tx in try await tx.workspaceForks(bucketId: bucket.id) }
    }

    public func createBucket(tenant: TenantID, name: String, snapshotsEnabled: Bool) async throws -> WorkspaceBucket {
        guard Self.isValidBucketName(name) else {
            throw S3Error(code: "InvalidBucketName", message: "The specified bucket is not valid: \(name)", status: 400)
        }
        let now = clock.now()
        let bucket = WorkspaceBucket(
            id: Identifier.make("wsb_"), tenant: tenant, name: name, createdAt: now,
            snapshotsEnabled: snapshotsEnabled, versioning: snapshotsEnabled ? .enabled : .unversioned, parent: nil,
            lastSeq: 0, lifecycleXML: nil, deletedAt: nil)
        return try await store.write { tx in
            try await tx.lock(Self.nameLockKey(tenant, name))
            if try await tx.workspaceBucket(tenant: tenant, name: name) != nil { throw Self.alreadyOwned(name) }
            try await tx.insertWorkspaceBucket(bucket)
            return bucket
        }
    }

    static func nameLockKey(_ tenant: TenantID, _ name: String) -> String { "bucket/\(tenant.rawValue)/\(name)" }

    static func alreadyOwned(_ name: String) -> S3Error {
        S3Error(
            code: "BucketAlreadyOwnedByYou",
            message: "Your previous request to create the named bucket succeeded and you already own it: \(name)",
            status: 409)
    }

    /// Records a snapshot: one row, whatever the bucket holds.
    public func snapshot(tenant: TenantID, bucket name: String, snapshotName: String?) async throws
        -> WorkspaceSnapshot
    {
        let found = try await bucket(tenant: tenant, name: name)
        guard found.snapshotsEnabled else {
            throw S3Error(
                code: "InvalidRequest", message: "Snapshots are not enabled on bucket \(name).", status: 400)
        }
        if let snapshotName, snapshotName.utf8.count > 256 {
            throw S3Error(code: "InvalidArgument", message: "A snapshot name is at most 256 bytes.", status: 400)
        }
        let now = clock.now()
        return try await store.write { tx in
            guard var b = try await tx.workspaceBucketForUpdate(id: found.id), b.deletedAt == nil else {
                throw Self.noSuchBucket(name)
            }
            let snap = WorkspaceSnapshot(bucketId: b.id, seq: b.nextSeq(now: now), name: snapshotName, createdAt: now)
            b.lastSeq = snap.seq
            try await tx.updateWorkspaceBucket(b)
            try await tx.insertWorkspaceSnapshot(snap)
            return snap
        }
    }

    public func snapshots(tenant: TenantID, bucket name: String) async throws -> [WorkspaceSnapshot] {
        let b = try await bucket(tenant: tenant, name: name)
        return try await store.read { tx in try await tx.workspaceSnapshots(bucketId: b.id) }
    }

    public func deleteSnapshot(tenant: TenantID, bucket name: String, version: String) async throws {
        let b = try await bucket(tenant: tenant, name: name)
        let seq = try Self.parseVersion(version, what: "snapshot version")
        let deleted = try await store.write { tx in try await tx.deleteWorkspaceSnapshot(bucketId: b.id, seq: seq) }
        if !deleted { throw Self.noSuchSnapshot(version) }
    }

    /// Creates `name` as a fork of `source` at one of its snapshots, or at a snapshot taken
    /// now: one snapshot row (when implicit) and one bucket row, whatever the source holds.
    public func fork(tenant: TenantID, name: String, source: String, snapshotVersion: String?) async throws
        -> WorkspaceBucket
    {
        guard Self.isValidBucketName(name) else {
            throw S3Error(code: "InvalidBucketName", message: "The specified bucket is not valid: \(name)", status: 400)
        }
        let src = try await bucket(tenant: tenant, name: source)
        guard src.snapshotsEnabled else {
            throw S3Error(
                code: "InvalidRequest", message: "A fork's source must have snapshots enabled: \(source).",
                status: 400)
        }
        let requested = try snapshotVersion.map { try Self.parseVersion($0, what: "snapshot version") }
        let depth = try await levels(of: src).count
        guard depth < limits.maxForkDepth else {
            throw S3Error(
                code: "InvalidRequest",
                message: "Forks may be nested at most \(limits.maxForkDepth) deep; \(source) is at \(depth).",
                status: 400)
        }
        let now = clock.now()
        return try await store.write { tx in
            try await tx.lock(Self.nameLockKey(tenant, name))
            if try await tx.workspaceBucket(tenant: tenant, name: name) != nil { throw Self.alreadyOwned(name) }
            guard var s = try await tx.workspaceBucketForUpdate(id: src.id), s.deletedAt == nil else {
                throw Self.noSuchBucket(source)
            }
            // Checked again under the lock: snapshots may have been turned off meanwhile.
            guard s.snapshotsEnabled else {
                throw S3Error(
                    code: "InvalidRequest", message: "A fork's source must have snapshots enabled: \(source).",
                    status: 400)
            }
            let point: Int64
            if let requested {
                guard try await tx.workspaceSnapshot(bucketId: s.id, seq: requested) != nil else {
                    throw Self.noSuchSnapshot(String(requested))
                }
                point = requested
            } else {
                point = s.nextSeq(now: now)
                s.lastSeq = point
                try await tx.updateWorkspaceBucket(s)
                try await tx.insertWorkspaceSnapshot(
                    WorkspaceSnapshot(bucketId: s.id, seq: point, name: nil, createdAt: now))
            }
            let fork = WorkspaceBucket(
                id: Identifier.make("wsb_"), tenant: tenant, name: name, createdAt: now, snapshotsEnabled: true,
                versioning: .enabled, parent: .init(bucketId: s.id, name: s.name, point: point), lastSeq: point,
                lifecycleXML: nil, deletedAt: nil)
            try await tx.insertWorkspaceBucket(fork)
            return fork
        }
    }

    /// Deletes a bucket: refused while it holds versions of its own unless `force`. A bucket
    /// that forks still read through keeps its rows, without its name, until its last fork is
    /// gone.
    public func deleteBucket(tenant: TenantID, name: String, force: Bool) async throws {
        let found = try await bucket(tenant: tenant, name: name)
        let now = clock.now()
        try await store.write { tx in
            guard var b = try await tx.workspaceBucketForUpdate(id: found.id), b.deletedAt == nil else {
                throw Self.noSuchBucket(name)
            }
            if !force {
                // Only a bucket's own versions count, as on Tigris: what a fork inherited belongs to
                // its source (so deleting every version ListObjectVersions shows empties a fork).
                if try await tx.hasObjectVersions(bucketId: b.id) {
                    throw S3Error(
                        code: "BucketNotEmpty", message: "The bucket you tried to delete is not empty: \(name)",
                        status: 409)
                }
            }
            if try await tx.workspaceForkCount(bucketId: b.id) > 0 {
                b.deletedAt = now
                try await tx.updateWorkspaceBucket(b)
                return
            }
            try await tx.purgeWorkspaceBucket(b)
            // Deleted ancestors that only this bucket still read through go with it.
            var parentId = b.parent?.bucketId
            while let id = parentId, let p = try await tx.workspaceBucketForUpdate(id: id), p.deletedAt != nil,
                try await tx.workspaceForkCount(bucketId: id) == 0
            {
                try await tx.purgeWorkspaceBucket(p)
                parentId = p.parent?.bucketId
            }
        }
    }

    public func setVersioning(tenant: TenantID, bucket name: String, enabled: Bool) async throws {
        let found = try await bucket(tenant: tenant, name: name)
        if found.snapshotsEnabled && !enabled {
            throw S3Error(
                code: "InvalidBucketState",
                message: "A snapshot-enabled bucket keeps every version; versioning cannot be suspended.",
                status: 409)
        }
        try await store.write { tx in
            guard var b = try await tx.workspaceBucketForUpdate(id: found.id), b.deletedAt == nil else {
                throw Self.noSuchBucket(name)
            }
            // As on S3, suspending a bucket that never kept versions makes it suspended too
            // (deletes then leave null delete markers).
            b.versioning = enabled ? .enabled : .suspended
            try await tx.updateWorkspaceBucket(b)
        }
    }

    /// Stores (or with nil removes) the bucket's lifecycle configuration, validated by the caller.
    public func setLifecycle(tenant: TenantID, bucket name: String, xml: String?) async throws {
        let found = try await bucket(tenant: tenant, name: name)
        try await store.write { tx in
            guard var b = try await tx.workspaceBucketForUpdate(id: found.id), b.deletedAt == nil else {
                throw Self.noSuchBucket(name)
            }
            b.lifecycleXML = xml
            try await tx.updateWorkspaceBucket(b)
        }
    }

    // MARK: Fork chains

    /// The bucket and its ancestors as (bucket id, point), nearest first; `point` is where the
    /// bucket itself is read (nil: live).
    func levels(of bucket: WorkspaceBucket, at point: Int64? = nil) async throws -> [Level] {
        var result = [Level(bucketId: bucket.id, point: point ?? Int64.max)]
        guard let parent = bucket.parent else { return result }
        if let cached = ancestors.withLock({ $0[bucket.id] }) { return result + cached }
        let maxDepth = limits.maxForkDepth
        let chain: [Level] = try await store.read { tx in
            var found: [Level] = []
            var cursor: WorkspaceBucket.Parent? = parent
            while let p = cursor, found.count <= maxDepth {
                found.append(Level(bucketId: p.bucketId, point: p.point))
                cursor = try await tx.workspaceBucket(id: p.bucketId)?.parent
            }
            return found
        }
        ancestors.withLock { cache in
            // Bounded: past the limit the cache starts over (a miss costs one read per level).
            if cache.count >= Self.maxCachedChains { cache.removeAll(keepingCapacity: true) }
            cache[bucket.id] = chain
        }
        result += chain
        return result
    }

    /// The newest version of `key` (a delete marker included) seen through the chain.
    static func resolve(_ tx: any WorkspaceReadTransaction, levels: [Level], key: String) async throws
        -> ObjectVersion?
    {
        for level in levels {
            if let v = try await tx.newestObjectVersion(bucketId: level.bucketId, key: key, point: level.point) {
                return v
            }
        }
        return nil
    }

    /// The point a snapshot version names, checked to be one of the bucket's snapshots.
    func snapshotPoint(_ bucket: WorkspaceBucket, version: String?) async throws -> Int64? {
        guard let version else { return nil }
        let seq = try Self.parseVersion(version, what: "snapshot version")
        guard try await store.read({ tx in try await tx.workspaceSnapshot(bucketId: bucket.id, seq: seq) }) != nil
        else { throw Self.noSuchSnapshot(version) }
        return seq
    }

    // MARK: Reading objects

    public enum Lookup: Sendable {
        case found(ObjectVersion)
        /// The key's newest version is a delete marker (or the version asked for is one).
        case deleteMarker(ObjectVersion)
        case missing
    }

    /// An object's newest version, or the version `versionId` names, as of the snapshot
    /// `snapshotVersion` when given. A version id may name a version the bucket inherited.
    public func lookup(
        tenant: TenantID, bucket name: String, key: String, versionId: String? = nil, snapshotVersion: String? = nil
    ) async throws -> (WorkspaceBucket, Lookup) {
        try Self.checkKey(key)
        let b = try await bucket(tenant: tenant, name: name)
        let point = try await snapshotPoint(b, version: snapshotVersion)
        let levels = try await levels(of: b, at: point)
        let version: ObjectVersion? = try await store.read { tx in
            guard let versionId else { return try await Self.resolve(tx, levels: levels, key: key) }
            return try await Self.version(tx, levels: levels, key: key, versionId: versionId)
        }
        guard let version else { return (b, .missing) }
        return (b, version.isDeleteMarker ? .deleteMarker(version) : .found(version))
    }

    static func version(_ tx: any WorkspaceReadTransaction, levels: [Level], key: String, versionId: String)
        async throws -> ObjectVersion?
    {
        if versionId == "null" {
            // The bucket's own null version (written while unversioned or suspended).
            return try await ownNullVersion(tx, bucketId: levels[0].bucketId, key: key)
        }
        let seq = try parseVersion(versionId)
        for level in levels where seq <= level.point {
            if let v = try await tx.objectVersion(bucketId: level.bucketId, key: key, seq: seq) { return v }
        }
        return nil
    }

    /// Opens a version's bytes for reading.
    public func open(_ version: ObjectVersion) async throws -> ObjectReader {
        var parts: [(any BlobRead)] = []
        do {
            for segment in version.segments {
                guard let read = try await blobs.open(segment.sha256) else {
                    throw S3Error(
                        code: "InternalError", message: "The object's bytes are missing from the blob store.",
                        status: 500)
                }
                parts.append(read)
            }
        } catch {
            for p in parts { p.close() }
            throw error
        }
        return ObjectReader(segments: version.segments, reads: parts)
    }

    // MARK: Listing

    public func list(tenant: TenantID, bucket name: String, query: ObjectListQuery, snapshotVersion: String? = nil)
        async throws -> ObjectListPage
    {
        let b = try await bucket(tenant: tenant, name: name)
        var pointed = query
        pointed.point = try await snapshotPoint(b, version: snapshotVersion)
        // S3 answers max-keys=0 with an empty page that is not truncated.
        guard query.maxKeys > 0 else { return ObjectListPage() }
        let levels = try await levels(of: b, at: pointed.point)
        let final = pointed
        return try await store.read { tx in try await Self.listNewest(tx, levels: levels, query: final) }
    }

    /// Merges the levels' newest versions by key (the nearest level wins a key), skipping
    /// delete markers and rolling keys up into common prefixes. Each level is read in batches
    /// after the last key seen, and a rolled-up prefix is skipped with one bound, so the work
    /// is linear in the page.
    static func listNewest(_ tx: any WorkspaceReadTransaction, levels: [Level], query: ObjectListQuery)
        async throws -> ObjectListPage
    {
        let batch = max(16, min(query.maxKeys + 1, 1000))
        var start = query.after
        var lastPrefix: String?
        // A page that starts after a common prefix skips every key under it: the earlier page
        // listed them as that prefix.
        if let after = query.after, let prefix = rolledUp(after, query: query) {
            lastPrefix = prefix
            start = max(after, prefix + "\u{10FFFF}")
        }
        var cursors = levels.map { LevelCursor(level: $0, after: start) }
        var page = ObjectListPage()
        while true {
            for i in cursors.indices where cursors[i].needsFetch {
                try await cursors[i].fetch(tx, prefix: query.prefix, batch: batch)
            }
            // The smallest key among the heads; the nearest level holding it wins.
            var winner: Int?
            for i in cursors.indices {
                guard let head = cursors[i].head else { continue }
                if winner == nil || head.key < cursors[winner!].head!.key { winner = i }
            }
            guard let w = winner else { break }
            let version = cursors[w].head!
            for i in cursors.indices where cursors[i].head?.key == version.key { cursors[i].advance() }
            if let lastPrefix, version.key.hasPrefix(lastPrefix) { continue }
            if version.isDeleteMarker { continue }
            let prefix = rolledUp(version.key, query: query)
            if page.objects.count + page.commonPrefixes.count >= query.maxKeys {
                page.isTruncated = true
                break
            }
            if let prefix {
                page.commonPrefixes.append(prefix)
                page.last = prefix
                lastPrefix = prefix
                // Skip the rest of the prefix's keys in one bound per level.
                let bound = prefix + "\u{10FFFF}"
                for i in cursors.indices { cursors[i].skip(past: bound) }
            } else {
                page.objects.append(version)
                page.last = version.key
            }
        }
        return page
    }

    /// The common prefix a key rolls up into under the query's delimiter, if any.
    static func rolledUp(_ key: String, query: ObjectListQuery) -> String? {
        guard let delimiter = query.delimiter, !delimiter.isEmpty, key.hasPrefix(query.prefix) else { return nil }
        let rest = key.dropFirst(query.prefix.count)
        guard let range = rest.firstRange(of: delimiter) else { return nil }
        return query.prefix + String(rest[..<range.upperBound])
    }

    struct LevelCursor {
        let level: Level
        var after: String?
        var buffer: [ObjectVersion] = []
        var index = 0
        var exhausted = false

        init(level: Level, after: String?) {
            self.level = level
            self.after = after
        }

        var head: ObjectVersion? { index < buffer.count ? buffer[index] : nil }
        var needsFetch: Bool { !exhausted && index >= buffer.count }

        mutating func advance() {
            after = buffer[index].key
            index += 1
        }

        mutating func skip(past bound: String) {
            while let h = head, h.key < bound { advance() }
            if head == nil, (after ?? "") < bound {
                after = bound
                if exhausted && buffer.count > 0 { return }
            }
        }

        mutating func fetch(_ tx: any WorkspaceReadTransaction, prefix: String, batch: Int) async throws {
            buffer = try await tx.newestObjectVersions(
                bucketId: level.bucketId, prefix: prefix, after: after, point: level.point, limit: batch)
            index = 0
            if buffer.count < batch { exhausted = true }
        }
    }

    /// The bucket's own versions (not those it inherited), by key then newest first.
    public func listVersions(tenant: TenantID, bucket name: String, query: VersionListQuery) async throws
        -> VersionListPage
    {
        let b = try await bucket(tenant: tenant, name: name)
        guard query.maxKeys > 0 else { return VersionListPage() }
        return try await store.read { tx in
            var page = VersionListPage()
            var keyMarker = query.keyMarker
            var versionMarker = query.versionMarker
            var latestKey: String? = nil
            // A page that starts inside a key's versions does not hold that key's newest.
            if let marker = query.keyMarker, query.versionMarker != nil { latestKey = marker }
            var lastPrefix: String?
            let batch = max(16, min(query.maxKeys + 1, 1000))
            outer: while true {
                let rows = try await tx.objectVersions(
                    bucketId: b.id, prefix: query.prefix, keyMarker: keyMarker, versionMarker: versionMarker,
                    limit: batch)
                for v in rows {
                    keyMarker = v.key
                    versionMarker = v.seq
                    if let lastPrefix, v.key.hasPrefix(lastPrefix) { continue }
                    let isLatest = latestKey != v.key
                    latestKey = v.key
                    var prefix: String?
                    if let delimiter = query.delimiter, !delimiter.isEmpty {
                        let rest = v.key.dropFirst(query.prefix.count)
                        if let range = rest.firstRange(of: delimiter) {
                            prefix = query.prefix + String(rest[..<range.upperBound])
                        }
                    }
                    if page.versions.count + page.commonPrefixes.count >= query.maxKeys {
                        page.isTruncated = true
                        break outer
                    }
                    if let prefix {
                        page.commonPrefixes.append(prefix)
                        page.nextKeyMarker = prefix
                        page.nextVersionMarker = nil
                        lastPrefix = prefix
                    } else {
                        page.versions.append((v, isLatest))
                        page.nextKeyMarker = v.key
                        page.nextVersionMarker = v.versionId
                    }
                }
                if rows.count < batch { break }
            }
            if !page.isTruncated {
                page.nextKeyMarker = nil
                page.nextVersionMarker = nil
            }
            return page
        }
    }

    // MARK: Writing objects

    /// Starts the blob write an object's or a part's bytes stream into.
    public func beginWrite() throws -> any BlobWrite { try blobs.beginWrite() }

    /// What a write answers with.
    public struct WriteResult: Sendable {
        public var version: ObjectVersion
        /// The version id to report (nil for a bucket that never kept versions).
        public var versionId: String?

        init(_ version: ObjectVersion, in bucket: WorkspaceBucket) {
            self.version = version
            versionId = bucket.versioning == .unversioned ? nil : version.versionId
        }
    }

    /// Commits a finished blob write as the key's new version: publishes the blob, then in one
    /// transaction checks `conditions` against the key's current version and inserts the row.
    /// A refused commit removes the blob again if nothing else references it.
    public func putObject(
        tenant: TenantID, bucket name: String, key: String, write: any BlobWrite, md5: [UInt8],
        headers: ObjectHeaders, conditions: WriteConditions = WriteConditions(), expectedSHA256: String? = nil
    ) async throws -> WriteResult {
        try Self.checkKey(key)
        let found = try await bucket(tenant: tenant, name: name)
        let (sha256, size) = try await Self.finish(write, expectedSHA256: expectedSHA256)
        let segment = BlobSegment(sha256: sha256, size: size)
        let levels = try await levels(of: found)
        let etag = "\"" + md5.hexString + "\""
        defer { wakeDeliveries(found) }
        return try await commitBlobs([segment], tenant: tenant, writes: [write]) {
            try await self.store.write { tx in
                try await tx.lock(BlobLocks.databaseKey(sha256))
                guard try await self.blobs.size(of: sha256) != nil else {
                    throw S3Error(code: "InternalError", message: "The upload's bytes vanished.", status: 500)
                }
                return try await Self.insertVersion(
                    tx, bucketId: found.id, name: name, key: key, levels: levels, conditions: conditions,
                    now: self.clock.now(),
                    makeVersion: { seq, isNull in
                        ObjectVersion(
                            bucketId: found.id, key: key, seq: seq, isNullVersion: isNull, isDeleteMarker: false,
                            size: size, etag: etag, segments: [segment], headers: headers, createdAt: self.clock.now())
                    })
            }
        }
    }

    /// Finishes a blob write; with `expectedSHA256` (a signed payload hash), refuses bytes whose
    /// digest differs, before anything is published.
    static func finish(_ write: any BlobWrite, expectedSHA256: String?) async throws -> (sha256: String, size: Int64) {
        let (sha256, size) = try await write.finish()
        if let expectedSHA256, expectedSHA256.lowercased() != sha256 {
            write.abort()
            throw S3Error.xAmzContentSHA256Mismatch()
        }
        return (sha256, size)
    }

    /// Publishes the writes' blobs under their digests' locks, then runs `commit`; on failure
    /// removes the blobs this call created that nothing references.
    private func commitBlobs<T: Sendable>(
        _ segments: [BlobSegment], tenant: TenantID, writes: [any BlobWrite],
        commit: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        precondition(segments.count == writes.count)
        guard let first = segments.first else { return try await commit() }
        return try await locks.withLock(first.sha256) {
            let created = try await writes[0].publish()
            do {
                return try await commit()
            } catch {
                if created, try await !store.isBlobReferenced(first.sha256) {
                    try? await blobs.remove(first.sha256)
                }
                throw error
            }
        }
    }

    /// Inserts a new version of `key` in a bucket (locked here), after checking `conditions`;
    /// replaces the key's null version where the bucket keeps none.
    static func insertVersion(
        _ tx: any RunWriteTransaction, bucketId: String, name: String, key: String, levels: [Level],
        conditions: WriteConditions, now: Timestamp, event: ObjectEventName = .createdPut, sourceKey: String? = nil,
        makeVersion: @Sendable (_ seq: Int64, _ isNull: Bool) -> ObjectVersion
    ) async throws -> WriteResult {
        guard var b = try await tx.workspaceBucketForUpdate(id: bucketId), b.deletedAt == nil else {
            throw noSuchBucket(name)
        }
        if !conditions.isEmpty {
            let current = try await resolve(tx, levels: levels, key: key)
            let live = current.flatMap { $0.isDeleteMarker ? nil : $0 }
            if conditions.mustNotExist, live != nil {
                throw S3Error(
                    code: "PreconditionFailed",
                    message: "At least one of the preconditions you specified did not hold.",
                    status: 412)
            }
            if let tags = conditions.ifMatch {
                // S3: If-Match on a key with no current object is 404, not a failed precondition.
                guard let live else { throw Self.noSuchKey }
                guard tags.contains(where: { $0 == "*" || etagsMatch($0, live.etag) }) else {
                    throw S3Error(
                        code: "PreconditionFailed",
                        message: "At least one of the preconditions you specified did not hold.", status: 412)
                }
            }
        }
        let seq = b.nextSeq(now: now)
        b.lastSeq = seq
        let keepsAll = b.versioning == .enabled || b.snapshotsEnabled
        if !keepsAll {
            // The key's null version, if any, is replaced.
            if let old = try await ownNullVersion(tx, bucketId: b.id, key: key) {
                try await tx.removeObjectVersion(old, tenant: b.tenant, at: b.retainsHistory ? seq : nil)
            }
        }
        let version = makeVersion(seq, !keepsAll)
        try await tx.updateWorkspaceBucket(b)
        try await tx.insertObjectVersion(version, tenant: b.tenant)
        try await recordObjectEvent(
            tx, bucket: b, name: event, key: key, version: version, sourceKey: sourceKey, at: now)
        return WriteResult(version, in: b)
    }

    static func ownNullVersion(_ tx: any WorkspaceReadTransaction, bucketId: String, key: String) async throws
        -> ObjectVersion?
    {
        var marker: (String, Int64)? = nil
        while true {
            let rows = try await tx.objectVersions(
                bucketId: bucketId, prefix: key, keyMarker: marker?.0 ?? nil, versionMarker: marker?.1, limit: 64)
            for v in rows where v.key == key && v.isNullVersion { return v }
            guard let last = rows.last, last.key == key, rows.count == 64 else { return nil }
            marker = (last.key, last.seq)
        }
    }

    /// ETags compare without their quotes (clients send either form).
    public static func etagsMatch(_ a: String, _ b: String) -> Bool {
        func bare(_ s: String) -> Substring {
            var t = Substring(s)
            if t.hasPrefix("W/") { t = t.dropFirst(2) }
            if t.hasPrefix("\""), t.hasSuffix("\""), t.count >= 2 { t = t.dropFirst().dropLast() }
            return t
        }
        return bare(a) == bare(b)
    }

    public struct DeleteResult: Sendable {
        /// The version id of the marker made, or of the version removed.
        public var versionId: String?
        public var isDeleteMarker: Bool
    }

    /// Deletes a key (a delete marker where the bucket keeps versions) or one version of it.
    public func deleteObject(tenant: TenantID, bucket name: String, key: String, versionId: String?) async throws
        -> DeleteResult
    {
        try Self.checkKey(key)
        let found = try await bucket(tenant: tenant, name: name)
        if let versionId, versionId != "null" { _ = try Self.parseVersion(versionId) }
        let now = clock.now()
        defer { wakeDeliveries(found) }
        return try await store.write { tx in
            try await Self.delete(tx, bucketId: found.id, name: name, key: key, versionId: versionId, now: now)
        }
    }

    static func delete(
        _ tx: any RunWriteTransaction, bucketId: String, name: String, key: String, versionId: String?,
        now: Timestamp, event: ObjectEventName? = .deleted
    ) async throws -> DeleteResult {
        guard var b = try await tx.workspaceBucketForUpdate(id: bucketId), b.deletedAt == nil else {
            throw noSuchBucket(name)
        }
        let seq = b.nextSeq(now: now)
        if let versionId {
            let target: ObjectVersion?
            if versionId == "null" {
                target = try await ownNullVersion(tx, bucketId: b.id, key: key)
            } else {
                target = try await tx.objectVersion(bucketId: b.id, key: key, seq: try parseVersion(versionId))
            }
            guard let target else { return DeleteResult(versionId: versionId, isDeleteMarker: false) }
            b.lastSeq = seq
            try await tx.updateWorkspaceBucket(b)
            try await tx.removeObjectVersion(target, tenant: b.tenant, at: b.retainsHistory ? seq : nil)
            if let event { try await recordObjectEvent(tx, bucket: b, name: event, key: key, version: target, at: now) }
            return DeleteResult(versionId: target.versionId, isDeleteMarker: target.isDeleteMarker)
        }
        switch b.versioning {
        case .unversioned where !b.snapshotsEnabled:
            if let old = try await ownNullVersion(tx, bucketId: b.id, key: key) {
                try await tx.removeObjectVersion(old, tenant: b.tenant, at: nil)
                if let event {
                    try await recordObjectEvent(tx, bucket: b, name: event, key: key, version: old, at: now)
                }
            }
            return DeleteResult(versionId: nil, isDeleteMarker: false)
        default:
            let isNull = b.versioning == .suspended && !b.snapshotsEnabled
            if isNull, let old = try await ownNullVersion(tx, bucketId: b.id, key: key) {
                try await tx.removeObjectVersion(old, tenant: b.tenant, at: b.retainsHistory ? seq : nil)
            }
            b.lastSeq = seq
            try await tx.updateWorkspaceBucket(b)
            let marker = ObjectVersion(
                bucketId: b.id, key: key, seq: seq, isNullVersion: isNull, isDeleteMarker: true, size: 0, etag: "",
                segments: [], headers: ObjectHeaders(), createdAt: now)
            try await tx.insertObjectVersion(marker, tenant: b.tenant)
            if let event { try await recordObjectEvent(tx, bucket: b, name: event, key: key, version: marker, at: now) }
            return DeleteResult(versionId: marker.versionId, isDeleteMarker: true)
        }
    }

    /// Copies a version to `key` of `bucket` without copying bytes (the new version references
    /// the same blobs). With `rename`, the source key is deleted in the same transaction
    /// (same bucket only).
    public func copyObject(
        tenant: TenantID, source: ObjectVersion, sourceBucket: WorkspaceBucket, bucket name: String, key: String,
        headers: ObjectHeaders, conditions: WriteConditions = WriteConditions(), rename: Bool = false
    ) async throws -> WriteResult {
        try Self.checkKey(key)
        let target = try await bucket(tenant: tenant, name: name)
        if rename, target.id != sourceBucket.id {
            throw S3Error(code: "InvalidRequest", message: "A rename stays within one bucket.", status: 400)
        }
        let levels = try await levels(of: target)
        let sourceLevels = try await self.levels(of: sourceBucket)
        let now = clock.now()
        defer { wakeDeliveries(target) }
        return try await store.write { tx in
            // Both buckets' locks, in id order, so two copies in opposite directions cannot deadlock.
            if sourceBucket.id < target.id { _ = try await tx.workspaceBucketForUpdate(id: sourceBucket.id) }
            // The source may have been deleted since it was looked up; its bytes must still be referenced.
            guard let still = try await Self.resolveVersion(tx, levels: sourceLevels, version: source) else {
                throw Self.noSuchKey
            }
            let renamed = rename && source.key != key
            let result = try await Self.insertVersion(
                tx, bucketId: target.id, name: name, key: key, levels: levels, conditions: conditions, now: now,
                event: renamed ? .renamed : .createdCopy, sourceKey: renamed ? source.key : nil,
                makeVersion: { seq, isNull in
                    ObjectVersion(
                        bucketId: target.id, key: key, seq: seq, isNullVersion: isNull, isDeleteMarker: false,
                        size: still.size, etag: still.etag, segments: still.segments, headers: headers,
                        createdAt: now)
                })
            if renamed {
                // The rename's event names the source key; its delete needs none of its own.
                _ = try await Self.delete(
                    tx, bucketId: target.id, name: name, key: source.key, versionId: nil, now: now, event: nil)
            }
            return result
        }
    }

    /// The same version, if it is still stored and not removed.
    static func resolveVersion(_ tx: any WorkspaceReadTransaction, levels: [Level], version: ObjectVersion)
        async throws -> ObjectVersion?
    {
        guard levels.contains(where: { $0.bucketId == version.bucketId }) else { return nil }
        return try await tx.objectVersion(bucketId: version.bucketId, key: version.key, seq: version.seq)
    }

    // MARK: Multipart uploads

    public func createUpload(tenant: TenantID, bucket name: String, key: String, headers: ObjectHeaders) async throws
        -> MultipartUpload
    {
        try Self.checkKey(key)
        let b = try await bucket(tenant: tenant, name: name)
        let upload = MultipartUpload(
            id: Identifier.randomHex() + Identifier.randomHex(), bucketId: b.id, key: key, headers: headers,
            createdAt: clock.now())
        try await store.write { tx in try await tx.insertMultipartUpload(upload) }
        return upload
    }

    /// An upload in progress; with `key`, only if it is that key's (S3 names an upload by both).
    public func upload(tenant: TenantID, bucket name: String, uploadId: String, key: String? = nil) async throws
        -> (WorkspaceBucket, MultipartUpload)
    {
        let b = try await bucket(tenant: tenant, name: name)
        guard uploadId.utf8.count <= 128,
            let u = try await store.read({ tx in try await tx.multipartUpload(id: uploadId, bucketId: b.id) }),
            key == nil || u.key == key
        else { throw Self.noSuchUpload }
        return (b, u)
    }

    public func checkPartNumber(_ number: Int) throws {
        guard (1...limits.maxPartNumber).contains(number) else { throw invalidPartNumber }
    }

    /// A part number as sent (`?partNumber=`), parsed and checked.
    public func partNumber(_ text: String) throws -> Int {
        guard text.utf8.count <= 18, let number = Int(text) else { throw invalidPartNumber }
        try checkPartNumber(number)
        return number
    }

    private var invalidPartNumber: S3Error {
        S3Error.invalidArgument("Part number must be an integer between 1 and \(limits.maxPartNumber), inclusive.")
    }

    /// Commits a finished blob write as part `number` of an upload; returns the part.
    public func putPart(
        tenant: TenantID, bucket name: String, uploadId: String, number: Int, write: any BlobWrite, md5: [UInt8],
        checksum: String? = nil, expectedSHA256: String? = nil
    ) async throws -> UploadedPart {
        try checkPartNumber(number)
        let (b, u) = try await upload(tenant: tenant, bucket: name, uploadId: uploadId)
        let (sha256, size) = try await Self.finish(write, expectedSHA256: expectedSHA256)
        let part = UploadedPart(
            uploadId: u.id, number: number, size: size, etag: "\"" + md5.hexString + "\"", sha256: sha256,
            checksum: checksum, createdAt: clock.now())
        return try await commitBlobs([BlobSegment(sha256: sha256, size: size)], tenant: tenant, writes: [write]) {
            try await self.store.write { tx in
                try await tx.lock(BlobLocks.databaseKey(sha256))
                guard try await self.blobs.size(of: sha256) != nil else {
                    throw S3Error(code: "InternalError", message: "The upload's bytes vanished.", status: 500)
                }
                guard try await tx.multipartUpload(id: u.id, bucketId: b.id) != nil else { throw Self.noSuchUpload }
                try await tx.putUploadedPart(part, tenant: tenant)
                return part
            }
        }
    }

    public func parts(tenant: TenantID, bucket name: String, uploadId: String, key: String? = nil) async throws
        -> (MultipartUpload, [UploadedPart])
    {
        let (_, u) = try await upload(tenant: tenant, bucket: name, uploadId: uploadId, key: key)
        return (u, try await store.read { tx in try await tx.uploadedParts(uploadId: u.id) })
    }

    public func uploads(
        tenant: TenantID, bucket name: String, prefix: String, keyMarker: String?, uploadIdMarker: String?, limit: Int
    ) async throws -> [MultipartUpload] {
        let b = try await bucket(tenant: tenant, name: name)
        return try await store.read { tx in
            try await tx.multipartUploads(
                bucketId: b.id, prefix: prefix, keyMarker: keyMarker, uploadIdMarker: uploadIdMarker, limit: limit)
        }
    }

    public func abortUpload(tenant: TenantID, bucket name: String, uploadId: String) async throws {
        let (b, u) = try await upload(tenant: tenant, bucket: name, uploadId: uploadId)
        try await store.write { tx in
            guard try await tx.multipartUpload(id: u.id, bucketId: b.id) != nil else { throw Self.noSuchUpload }
            try await tx.deleteMultipartUpload(id: u.id, tenant: tenant, keepParts: false)
        }
    }

    /// The checksums a CompleteMultipartUpload states, each checked against what the upload made.
    public struct StatedChecksums: Sendable {
        /// A listed part's, by part number.
        public var parts: [Int: (algorithm: ChecksumAlgorithm, value: String)] = [:]
        /// The whole object's (`x-amz-checksum-<algorithm>` on the request).
        public var object: (algorithm: ChecksumAlgorithm, value: String)?
        public var type: ChecksumType?

        public init() {}
    }

    /// Completes an upload: the object's bytes are the listed parts in order (no bytes are
    /// copied), its ETag the MD5 of the parts' MD5s with `-N`. An upload created with a checksum
    /// algorithm gives the object its checksum, made from the parts' (`MultipartChecksum`).
    public func completeUpload(
        tenant: TenantID, bucket name: String, uploadId: String, parts listed: [(number: Int, etag: String)],
        checksums stated: StatedChecksums = StatedChecksums(), conditions: WriteConditions = WriteConditions()
    ) async throws -> WriteResult {
        let (b, u) = try await upload(tenant: tenant, bucket: name, uploadId: uploadId)
        let multipart = MultipartChecksum(u.headers)
        try Self.checkStated(stated, against: multipart)
        defer { wakeDeliveries(b) }
        guard !listed.isEmpty else {
            throw S3Error(
                code: "MalformedXML", message: "You must specify at least one part.", status: 400)
        }
        for i in listed.indices.dropFirst() where listed[i].number <= listed[i - 1].number {
            throw S3Error(
                code: "InvalidPartOrder", message: "The list of parts was not in ascending order.", status: 400)
        }
        let levels = try await levels(of: b)
        let minPart = limits.minPartBytes
        let now = clock.now()
        return try await store.write { tx in
            guard try await tx.multipartUpload(id: u.id, bucketId: b.id) != nil else { throw Self.noSuchUpload }
            let stored = Dictionary(
                try await tx.uploadedParts(uploadId: u.id).map { ($0.number, $0) }, uniquingKeysWith: { a, _ in a })
            var segments: [BlobSegment] = []
            var md5s: [UInt8] = []
            var partChecksums: [(checksum: [UInt8], size: Int64)]? = multipart == nil ? nil : []
            var size: Int64 = 0
            for (i, item) in listed.enumerated() {
                guard let part = stored[item.number], Self.etagsMatch(item.etag, part.etag),
                    multipart == nil || stated.parts[item.number].map({ $0.value == part.checksum }) ?? true
                else {
                    throw S3Error(
                        code: "InvalidPart",
                        message: "One or more of the specified parts could not be found or its ETag did not match.",
                        status: 400)
                }
                if i < listed.count - 1, part.size < minPart {
                    throw S3Error(
                        code: "EntityTooSmall",
                        message: "Your proposed upload is smaller than the minimum allowed object size.",
                        status: 400)
                }
                segments.append(BlobSegment(sha256: part.sha256, size: part.size))
                md5s += Self.hexBytes(part.etag.filter { $0 != "\"" })
                size += part.size
                // A part stored without one (before checksums were kept) leaves the object without.
                if let raw = part.checksum.flatMap(Base64.decode) {
                    partChecksums?.append((raw, part.size))
                } else {
                    partChecksums = nil
                }
            }
            var headers = u.headers
            headers.pairs.removeAll {
                $0.name == MultipartChecksum.algorithmHeader || $0.name == MultipartChecksum.typeHeader
            }
            if let multipart, let partChecksums, let value = multipart.objectChecksum(parts: partChecksums) {
                if let expected = stated.object, !Self.checksumsMatch(expected.value, value) {
                    throw S3Error.badDigest(
                        "The \(multipart.algorithm.headerName) you specified did not match the calculated checksum.")
                }
                headers.pairs += [
                    (multipart.algorithm.headerName, value), (MultipartChecksum.typeHeader, multipart.type.rawValue),
                ]
            }
            let etag = "\"" + Array(Insecure.MD5.hash(data: md5s)).hexString + "-\(listed.count)\""
            let (total, pieces, objectHeaders) = (size, segments, headers)
            let result = try await Self.insertVersion(
                tx, bucketId: b.id, name: name, key: u.key, levels: levels, conditions: conditions, now: now,
                event: .createdMultipart,
                makeVersion: { seq, isNull in
                    ObjectVersion(
                        bucketId: b.id, key: u.key, seq: seq, isNullVersion: isNull, isDeleteMarker: false,
                        size: total, etag: etag, segments: pieces, headers: objectHeaders, createdAt: now)
                })
            try await tx.deleteMultipartUpload(id: u.id, tenant: tenant, keepParts: false)
            try await tx.recordCompletedUpload(id: u.id, bucketId: b.id, key: u.key, seq: result.version.seq, at: now)
            return result
        }
    }

    /// A Complete may state only what its upload was created with.
    static func checkStated(_ stated: StatedChecksums, against multipart: MultipartChecksum?) throws {
        guard let multipart else {
            if stated.object != nil || stated.type != nil {
                throw S3Error.invalidRequest(
                    "The upload was created without a checksum algorithm; its object's checksum cannot be stated.")
            }
            return
        }
        if let type = stated.type, type != multipart.type {
            throw S3Error.invalidRequest(
                "The upload was created with the \(multipart.type.rawValue) checksum type, not \(type.rawValue).")
        }
        let algorithms = [stated.object?.algorithm].compactMap { $0 } + stated.parts.values.map(\.algorithm)
        if let other = algorithms.first(where: { $0 != multipart.algorithm }) {
            throw S3Error.invalidRequest(
                "The upload was created using the \(multipart.algorithm.rawValue) checksum algorithm, not \(other.rawValue)."
            )
        }
    }

    /// A stated composite checksum may leave out its `-N`.
    static func checksumsMatch(_ stated: String, _ actual: String) -> Bool {
        stated == actual || actual.hasPrefix(stated + "-")
    }

    /// How long a completed upload's id still answers a repeated Complete.
    public static let completedUploadRetentionMilliseconds: Int64 = 86_400_000

    /// What upload `uploadId` of `key` completed into, if it did within the retention and that
    /// version still exists: a repeated Complete (a retry whose first answer was lost) answers
    /// it again, as S3 does.
    public func completedUpload(tenant: TenantID, bucket name: String, uploadId: String, key: String) async throws
        -> WriteResult?
    {
        let b = try await bucket(tenant: tenant, name: name)
        return try await store.read { tx in
            guard let done = try await tx.completedUpload(id: uploadId, bucketId: b.id), done.key == key,
                let version = try await tx.objectVersion(bucketId: b.id, key: key, seq: done.seq)
            else { return nil }
            return WriteResult(version, in: b)
        }
    }

    /// Forgets completed uploads older than the retention.
    public func pruneCompletedUploads() async throws {
        let cutoff = clock.now().adding(milliseconds: -Self.completedUploadRetentionMilliseconds)
        try await store.write { tx in try await tx.forgetCompletedUploads(before: cutoff) }
    }

    /// Wakes the delivery service after a change to a bucket that has notifications (a wake-up
    /// that finds nothing due costs one query; one that is missed, half a second).
    func wakeDeliveries(_ bucket: WorkspaceBucket) {
        guard bucket.notificationsJSON != nil else { return }
        deliveriesRecorded()
        changes.signal(bucketId: bucket.id)
    }

    /// How long change events are kept for the event stream (each bucket's newest is kept).
    public static let eventRetentionMilliseconds: Int64 = 7 * 86_400_000

    /// The bucket's change events after `after` (its event stream), in order.
    public func events(of bucket: WorkspaceBucket, after: Int64, limit: Int) async throws -> [WorkspaceEvent] {
        try await store.read { tx in
            guard try await tx.workspaceBucket(id: bucket.id)?.deletedAt == nil else {
                throw Self.noSuchBucket(bucket.name)
            }
            return try await tx.workspaceEvents(bucketId: bucket.id, after: after, limit: limit)
        }
    }

    /// Drops change events older than the retention.
    public func pruneEvents() async throws {
        let cutoff = clock.now().adding(milliseconds: -Self.eventRetentionMilliseconds)
        try await store.write { tx in try await tx.pruneWorkspaceEvents(before: cutoff) }
    }

    /// Sets (or with nil clears) the bucket's object notifications.
    public func setNotifications(tenant: TenantID, bucket name: String, settings: ObjectNotificationSettings?)
        async throws
    {
        let found = try await bucket(tenant: tenant, name: name)
        try await store.write { tx in
            guard var b = try await tx.workspaceBucketForUpdate(id: found.id), b.deletedAt == nil else {
                throw Self.noSuchBucket(name)
            }
            b.notificationsJSON = settings?.storedJSON
            try await tx.updateWorkspaceBucket(b)
        }
    }

    /// The bucket's notification deliveries, newest first: the delivery log.
    public func notificationDeliveries(tenant: TenantID, bucket name: String, limit: Int) async throws
        -> [ChannelDelivery]
    {
        let b = try await bucket(tenant: tenant, name: name)
        return try await store.read { tx in try await tx.deliveries(channelId: b.id, limit: limit) }
    }

    static func hexBytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var high: UInt8?
        for c in hex.utf8 {
            let v: UInt8
            switch c {
            case 0x30...0x39: v = c - 0x30
            case 0x61...0x66: v = c - 0x61 + 10
            case 0x41...0x46: v = c - 0x41 + 10
            default: continue
            }
            if let h = high {
                out.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
        }
        return out
    }
}

/// Reads an object's bytes across its segments.
public final class ObjectReader: Sendable {
    public let size: Int64
    let segments: [BlobSegment]
    let reads: [any BlobRead]

    init(segments: [BlobSegment], reads: [any BlobRead]) {
        self.segments = segments
        self.reads = reads
        self.size = segments.reduce(0) { $0 + $1.size }
    }

    /// Reads up to `buffer.count` bytes at `offset`; 0 at the end.
    public func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        var start: Int64 = 0
        for (i, segment) in segments.enumerated() {
            if offset < start + segment.size {
                return try await reads[i].read(at: offset - start, into: buffer)
            }
            start += segment.size
        }
        return 0
    }

    public func close() { for r in reads { r.close() } }
}

extension WorkspaceService {
    /// Turns snapshots on or off (Tigris' bucket type). Disabling is refused on a fork and on a
    /// bucket that forks read through; enabling is refused while a lifecycle configuration
    /// expires objects, and makes the bucket versioned. Existing snapshots are kept either way.
    public func setSnapshotsEnabled(tenant: TenantID, bucket name: String, enabled: Bool) async throws {
        let found = try await bucket(tenant: tenant, name: name)
        try await store.write { tx in
            guard var b = try await tx.workspaceBucketForUpdate(id: found.id), b.deletedAt == nil else {
                throw Self.noSuchBucket(name)
            }
            guard b.snapshotsEnabled != enabled else { return }
            if enabled {
                // A rule that expires objects or versions (a configuration that does not parse counts as one).
                let expires =
                    b.lifecycleXML.map { xml in
                        guard let config = try? LifecycleConfiguration(text: xml) else { return true }
                        return config.rules.contains {
                            $0.expiration != nil || $0.expiredObjectDeleteMarker || $0.noncurrentDays != nil
                        }
                    } ?? false
                if expires {
                    throw S3Error(
                        code: "InvalidArgument",
                        message: "Snapshots cannot be enabled on a bucket whose lifecycle configuration expires "
                            + "objects: \(name).",
                        status: 400)
                }
                b.versioning = .enabled
            } else {
                if b.parent != nil {
                    throw S3Error(
                        code: "InvalidArgument", message: "Snapshots cannot be disabled on a fork: \(name).",
                        status: 400)
                }
                if try await tx.workspaceForkCount(bucketId: b.id) > 0 {
                    throw S3Error(
                        code: "InvalidArgument",
                        message: "Snapshots cannot be disabled on a bucket that has forks: \(name).", status: 400)
                }
            }
            b.snapshotsEnabled = enabled
            try await tx.updateWorkspaceBucket(b)
        }
    }
}
