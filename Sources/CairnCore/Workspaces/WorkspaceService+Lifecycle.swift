/// Enforcing lifecycle configurations: a pass over every bucket that has one expires current
/// versions (a delete marker where the bucket keeps versions, else the object is removed),
/// removes noncurrent versions and lone delete markers, and aborts old multipart uploads.
///
/// Each change is decided from a listing, then checked again in its own transaction under the
/// bucket's lock before it is made, so a write that lands in between (or another replica
/// sweeping the same bucket) is never undone: the pass only ever acts on what is still true.
/// Removals go through the same calls as client deletes, so a bucket that keeps history
/// (snapshots) keeps the removed versions for the snapshots and forks that still see them.
extension WorkspaceService {
    public struct LifecycleReport: Sendable, Equatable {
        /// Current versions expired (delete markers written or objects removed).
        public var expired = 0
        public var noncurrentRemoved = 0
        public var deleteMarkersRemoved = 0
        public var uploadsAborted = 0
        /// Buckets whose stored configuration no longer parses (left alone).
        public var unreadableConfigurations = 0

        public init() {}

        mutating func add(_ other: LifecycleReport) {
            expired += other.expired
            noncurrentRemoved += other.noncurrentRemoved
            deleteMarkersRemoved += other.deleteMarkersRemoved
            uploadsAborted += other.uploadsAborted
            unreadableConfigurations += other.unreadableConfigurations
        }
    }

    static let lifecyclePage = 1000
    /// Changes made per transaction: small enough that a client's write to the bucket never
    /// waits long for its lock.
    static let lifecycleBatch = 100

    /// One pass over every bucket with a lifecycle configuration, as of the clock's now.
    public func applyLifecycle() async throws -> LifecycleReport {
        var report = LifecycleReport()
        var after: String?
        while true {
            let buckets = try await store.read { [after] tx in
                try await tx.workspaceBucketsWithLifecycle(afterId: after, limit: Self.lifecyclePage)
            }
            for bucket in buckets {
                guard let text = bucket.lifecycleXML, let config = try? LifecycleConfiguration(text: text) else {
                    report.unreadableConfigurations += 1
                    continue
                }
                report.add(try await applyLifecycle(config, to: bucket))
            }
            guard buckets.count == Self.lifecyclePage, let last = buckets.last else { return report }
            after = last.id
        }
    }

    func applyLifecycle(_ config: LifecycleConfiguration, to bucket: WorkspaceBucket) async throws -> LifecycleReport {
        let now = clock.now()
        var report = LifecycleReport()
        if config.expiresCurrentVersions {
            report.expired = try await expireCurrentVersions(bucket, config, now: now)
        }
        if config.expiresNoncurrentVersions {
            let (versions, markers) = try await expireNoncurrentVersions(bucket, config, now: now)
            report.noncurrentRemoved = versions
            report.deleteMarkersRemoved = markers
        }
        if config.abortsUploads {
            report.uploadsAborted = try await abortExpiredUploads(bucket, config, now: now)
        }
        if report.expired + report.noncurrentRemoved + report.deleteMarkersRemoved > 0 { wakeDeliveries(bucket) }
        return report
    }

    /// Current versions the configuration expires, found through the fork chain (a fork's
    /// inherited objects are its objects too), then expired in batches.
    func expireCurrentVersions(_ bucket: WorkspaceBucket, _ config: LifecycleConfiguration, now: Timestamp)
        async throws -> Int
    {
        let levels = try await levels(of: bucket)
        var query = ObjectListQuery()
        query.maxKeys = Self.lifecyclePage
        var expired = 0
        while true {
            let page = try await store.read { [query] tx in try await Self.listNewest(tx, levels: levels, query: query)
            }
            let due = page.objects.filter {
                config.expiresCurrent(key: $0.key, size: $0.size, created: $0.createdAt, now: now)
            }
            for batch in due.chunked(Self.lifecycleBatch) {
                expired += try await store.write { tx in
                    guard try await tx.workspaceBucketForUpdate(id: bucket.id)?.deletedAt == nil else { return 0 }
                    var done = 0
                    for listed in batch {
                        // Still the current version? A newer write or a delete since the listing wins.
                        guard let current = try await Self.resolve(tx, levels: levels, key: listed.key),
                            current.bucketId == listed.bucketId, current.seq == listed.seq, !current.isDeleteMarker
                        else { continue }
                        _ = try await Self.delete(
                            tx, bucketId: bucket.id, name: bucket.name, key: listed.key, versionId: nil, now: now,
                            event: .expired)
                        done += 1
                    }
                    return done
                }
            }
            guard page.isTruncated, let last = page.last else { return expired }
            query.after = last
        }
    }

    /// The bucket's own versions, key by key and newest first: each one after the first became
    /// noncurrent when the one before it was written. Returns (versions, delete markers) removed.
    func expireNoncurrentVersions(_ bucket: WorkspaceBucket, _ config: LifecycleConfiguration, now: Timestamp)
        async throws -> (Int, Int)
    {
        struct Removal {
            var version: ObjectVersion
            /// A lone delete marker: removed only if still alone and nothing inherited is behind it.
            var loneMarker: Bool
        }
        let levels = try await levels(of: bucket)
        var due: [Removal] = []
        var keyMarker: String?
        var versionMarker: Int64?
        // The key being walked: its versions seen so far, and the newest one's row.
        var group: (key: String, count: Int, newest: ObjectVersion, previous: ObjectVersion)?
        func endGroup() {
            if let g = group, g.count == 1, g.newest.isDeleteMarker, config.removesExpiredDeleteMarker(key: g.key) {
                due.append(Removal(version: g.newest, loneMarker: true))
            }
        }
        var removed = (versions: 0, markers: 0)
        // Removals are made page by page, so memory stays bounded however many versions are due.
        func flush() async throws {
            for batch in due.chunked(Self.lifecycleBatch) {
                let counts = try await store.write { tx -> (Int, Int) in
                    guard try await tx.workspaceBucketForUpdate(id: bucket.id)?.deletedAt == nil else { return (0, 0) }
                    var counts = (0, 0)
                    for removal in batch {
                        let v = removal.version
                        guard try await tx.objectVersion(bucketId: bucket.id, key: v.key, seq: v.seq) != nil,
                            let newest = try await tx.newestObjectVersion(bucketId: bucket.id, key: v.key, point: .max)
                        else { continue }
                        if removal.loneMarker {
                            // Still the key's only own version, and no inherited object would reappear.
                            guard newest.seq == v.seq,
                                try await tx.objectVersions(
                                    bucketId: bucket.id, prefix: v.key, keyMarker: v.key, versionMarker: v.seq, limit: 1
                                ).first?.key != v.key,
                                try await Self.resolve(tx, levels: Array(levels.dropFirst()), key: v.key)?
                                    .isDeleteMarker
                                    ?? true
                            else { continue }
                        } else {
                            // Still noncurrent: a delete of the newer versions could have made it current again.
                            guard newest.seq != v.seq else { continue }
                        }
                        _ = try await Self.delete(
                            tx, bucketId: bucket.id, name: bucket.name, key: v.key, versionId: v.versionId, now: now,
                            event: .expired)
                        if removal.loneMarker { counts.1 += 1 } else { counts.0 += 1 }
                    }
                    return counts
                }
                removed.versions += counts.0
                removed.markers += counts.1
            }
            due.removeAll(keepingCapacity: true)
        }
        while true {
            let page = try await store.read { [keyMarker, versionMarker] tx in
                try await tx.objectVersions(
                    bucketId: bucket.id, prefix: "", keyMarker: keyMarker, versionMarker: versionMarker,
                    limit: Self.lifecyclePage)
            }
            for version in page {
                if var g = group, g.key == version.key {
                    let newer = g.count - 1
                    if config.expiresNoncurrent(
                        key: version.key, size: version.size, noncurrentSince: g.previous.createdAt, newer: newer,
                        now: now)
                    {
                        due.append(Removal(version: version, loneMarker: false))
                    }
                    g.count += 1
                    g.previous = version
                    group = g
                } else {
                    endGroup()
                    group = (version.key, 1, version, version)
                }
            }
            if due.count >= Self.lifecyclePage { try await flush() }
            guard page.count == Self.lifecyclePage, let last = page.last else { break }
            keyMarker = last.key
            versionMarker = last.seq
        }
        endGroup()
        try await flush()

        return (removed.versions, removed.markers)
    }

    func abortExpiredUploads(_ bucket: WorkspaceBucket, _ config: LifecycleConfiguration, now: Timestamp)
        async throws -> Int
    {
        var aborted = 0
        var keyMarker: String?
        var idMarker: String?
        while true {
            let page = try await store.read { [keyMarker, idMarker] tx in
                try await tx.multipartUploads(
                    bucketId: bucket.id, prefix: "", keyMarker: keyMarker, uploadIdMarker: idMarker,
                    limit: Self.lifecyclePage)
            }
            let due = page.filter { config.abortsUpload(key: $0.key, started: $0.createdAt, now: now) }
            for batch in due.chunked(Self.lifecycleBatch) {
                aborted += try await store.write { tx in
                    var done = 0
                    for upload in batch where try await tx.multipartUpload(id: upload.id, bucketId: bucket.id) != nil {
                        try await tx.deleteMultipartUpload(id: upload.id, tenant: bucket.tenant, keepParts: false)
                        done += 1
                    }
                    return done
                }
            }
            guard page.count == Self.lifecyclePage, let last = page.last else { return aborted }
            keyMarker = last.key
            idMarker = last.id
        }
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
