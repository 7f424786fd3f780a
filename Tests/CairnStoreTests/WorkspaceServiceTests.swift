import CairnCore
import Foundation
import Testing

@testable import CairnStore

/// Workspaces on both engines: versions, snapshots as points, forks as metadata, listings
/// through fork chains, multipart completion without copying, and the blob references all of
/// it holds.
@Suite struct WorkspaceServiceTests {
    let tenant = TenantID.default

    final class Fixture: Sendable {
        let t: TestStore
        let workspaces: WorkspaceService
        let blobs: LocalBlobStore
        let clock = ManualClock()

        init(_ engine: StoreEngine, minPartBytes: Int64 = 5 << 20) async throws {
            t = try await TestStore(engine)
            try FileManager.default.createDirectory(atPath: t.directory, withIntermediateDirectories: true)
            blobs = try LocalBlobStore(root: t.directory + "/blobs")
            var limits = WorkspaceService.Limits()
            limits.minPartBytes = minPartBytes
            workspaces = WorkspaceService(
                store: t.store, blobs: blobs, locks: BlobLocks(), limits: limits, clock: clock)
        }

        func write(_ text: String) throws -> (any BlobWrite, [UInt8]) {
            let w = try workspaces.beginWrite()
            let bytes = Array(text.utf8)
            try bytes.withUnsafeBytes { try w.write($0) }
            var digest = ObjectDigest(.md5)
            digest.update(bytes)
            return (w, digest.finalize().md5!)
        }

        @discardableResult
        func put(
            _ bucket: String, _ key: String, _ text: String, conditions: WriteConditions = WriteConditions()
        ) async throws -> WorkspaceService.WriteResult {
            clock.advance(milliseconds: 1)
            let (w, md5) = try write(text)
            return try await workspaces.putObject(
                tenant: .default, bucket: bucket, key: key, write: w, md5: md5, headers: ObjectHeaders(),
                conditions: conditions)
        }

        /// The key's text as the bucket (or one of its snapshots) shows it; nil if absent.
        func text(_ bucket: String, _ key: String, snapshot: String? = nil, versionId: String? = nil) async throws
            -> String?
        {
            let (_, found) = try await workspaces.lookup(
                tenant: .default, bucket: bucket, key: key, versionId: versionId, snapshotVersion: snapshot)
            guard case .found(let version) = found else { return nil }
            let reader = try await workspaces.open(version)
            defer { reader.close() }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
            defer { buffer.deallocate() }
            var bytes: [UInt8] = []
            while Int64(bytes.count) < reader.size {
                let n = try await reader.read(at: Int64(bytes.count), into: buffer)
                if n == 0 { break }
                bytes += buffer.prefix(n)
            }
            return String(decoding: bytes, as: UTF8.self)
        }

        func keys(_ bucket: String, snapshot: String? = nil, prefix: String = "", delimiter: String? = nil)
            async throws -> [String]
        {
            var all: [String] = []
            var query = ObjectListQuery()
            query.prefix = prefix
            query.delimiter = delimiter
            query.maxKeys = 2
            while true {
                let page = try await workspaces.list(
                    tenant: .default, bucket: bucket, query: query, snapshotVersion: snapshot)
                all += page.objects.map(\.key) + page.commonPrefixes
                guard page.isTruncated else { return all.sorted() }
                query.after = page.last
            }
        }

        func delete(_ bucket: String, _ key: String) async throws {
            clock.advance(milliseconds: 1)
            _ = try await workspaces.deleteObject(tenant: .default, bucket: bucket, key: key, versionId: nil)
        }

        func count(_ table: String) async throws -> Int {
            let sql: SQL = "SELECT COUNT(*) FROM \(unsafeRaw: table)"
            return try await t.store.read { tx in
                if let sqlite = tx as? SQLRunTransaction<SQLiteConnection> {
                    return try sqlite.connection.first(sql) { $0.int() } ?? 0
                }
                return try await (tx as! SQLRunTransaction<PostgresSession>).connection.first(sql) { $0.int() } ?? 0
            }
        }
    }

    @Test(arguments: StoreEngine.available) func unversionedOverwriteReplacesAndDeleteRemoves(engine: StoreEngine)
        async throws
    {
        let f = try await Fixture(engine)
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "plain", snapshotsEnabled: false)
        let first = try await f.put("plain", "a.txt", "one")
        #expect(first.versionId == nil)
        try await f.put("plain", "a.txt", "two")
        #expect(try await f.text("plain", "a.txt") == "two")
        let versions = try await f.workspaces.listVersions(tenant: tenant, bucket: "plain", query: VersionListQuery())
        #expect(versions.versions.count == 1)
        #expect(versions.versions[0].version.versionId == "null")
        try await f.delete("plain", "a.txt")
        #expect(try await f.text("plain", "a.txt") == nil)
        #expect(try await f.workspaces.store.referencedDigests().isEmpty)
        try await f.workspaces.deleteBucket(tenant: tenant, name: "plain", force: false)
        await #expect(throws: S3Error.self) { try await f.workspaces.bucket(tenant: tenant, name: "plain") }
    }

    @Test(arguments: StoreEngine.available) func snapshotsReadTheTimelineAsOfTheirPoint(engine: StoreEngine)
        async throws
    {
        // The timeline of Tigris' documentation: writes after a snapshot never show in it.
        let f = try await Fixture(engine)
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "timeline", snapshotsEnabled: true)
        try await f.put("timeline", "o1", "foo")
        try await f.put("timeline", "o2", "bar")
        let s1 = try await f.workspaces.snapshot(tenant: tenant, bucket: "timeline", snapshotName: "first")
        try await f.put("timeline", "o2", "quux")
        let s2 = try await f.workspaces.snapshot(tenant: tenant, bucket: "timeline", snapshotName: nil)
        try await f.put("timeline", "o3", "baz")
        let s3 = try await f.workspaces.snapshot(tenant: tenant, bucket: "timeline", snapshotName: nil)
        try await f.delete("timeline", "o1")

        #expect(try await f.text("timeline", "o2", snapshot: s1.version) == "bar")
        #expect(try await f.text("timeline", "o2", snapshot: s2.version) == "quux")
        #expect(try await f.keys("timeline", snapshot: s1.version) == ["o1", "o2"])
        #expect(try await f.keys("timeline", snapshot: s3.version) == ["o1", "o2", "o3"])
        #expect(try await f.keys("timeline") == ["o2", "o3"])
        #expect(try await f.text("timeline", "o1", snapshot: s3.version) == "foo")
        #expect(try await f.text("timeline", "o1") == nil)
        #expect(s1.version.count == 19)
        #expect(s1.seq < s2.seq && s2.seq < s3.seq)

        let listed = try await f.workspaces.snapshots(tenant: tenant, bucket: "timeline")
        #expect(listed.map(\.seq) == [s1.seq, s2.seq, s3.seq])
        #expect(listed[0].name == "first")
        try await f.workspaces.deleteSnapshot(tenant: tenant, bucket: "timeline", version: s2.version)
        #expect(try await f.workspaces.snapshots(tenant: tenant, bucket: "timeline").count == 2)
        await #expect(throws: S3Error.self) {
            try await f.workspaces.deleteSnapshot(tenant: self.tenant, bucket: "timeline", version: s2.version)
        }
        // A version deleted by id leaves the snapshots that saw it intact.
        let v = try await f.put("timeline", "o4", "kept")
        let s4 = try await f.workspaces.snapshot(tenant: tenant, bucket: "timeline", snapshotName: nil)
        _ = try await f.workspaces.deleteObject(tenant: tenant, bucket: "timeline", key: "o4", versionId: v.versionId)
        #expect(try await f.text("timeline", "o4") == nil)
        #expect(try await f.text("timeline", "o4", snapshot: s4.version) == "kept")
    }

    @Test(arguments: StoreEngine.available) func forksAreIsolatedAndWriteNoObjectRows(engine: StoreEngine)
        async throws
    {
        let f = try await Fixture(engine)
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "source", snapshotsEnabled: true)
        for i in 0..<5 { try await f.put("source", "k\(i)", "v\(i)") }
        let rowsBefore = try await f.count("workspace_objects")
        let fork = try await f.workspaces.fork(tenant: tenant, name: "fork-a", source: "source", snapshotVersion: nil)
        let sibling = try await f.workspaces.fork(
            tenant: tenant, name: "fork-b", source: "source", snapshotVersion: nil)
        #expect(try await f.count("workspace_objects") == rowsBefore)
        #expect(fork.parent?.name == "source")
        #expect(fork.snapshotsEnabled)
        #expect(sibling.parent!.point > fork.parent!.point)

        try await f.put("source", "k0", "source-later")
        try await f.put("fork-a", "k1", "fork-a-own")
        try await f.delete("fork-a", "k2")
        #expect(try await f.text("fork-a", "k0") == "v0")
        #expect(try await f.text("fork-a", "k1") == "fork-a-own")
        #expect(try await f.text("fork-a", "k2") == nil)
        #expect(try await f.text("source", "k1") == "v1")
        #expect(try await f.text("source", "k2") == "v2")
        #expect(try await f.text("fork-b", "k1") == "v1")
        #expect(try await f.keys("fork-a") == ["k0", "k1", "k3", "k4"])

        // A fork of a fork reads through both levels.
        let snap = try await f.workspaces.snapshot(tenant: tenant, bucket: "fork-a", snapshotName: nil)
        _ = try await f.workspaces.fork(
            tenant: tenant, name: "fork-a-2", source: "fork-a", snapshotVersion: snap.version)
        try await f.put("fork-a", "k3", "after-the-snapshot")
        #expect(try await f.text("fork-a-2", "k1") == "fork-a-own")
        #expect(try await f.text("fork-a-2", "k3") == "v3")
        #expect(try await f.keys("fork-a-2") == ["k0", "k1", "k3", "k4"])

        await #expect(throws: S3Error.self) {
            try await f.workspaces.fork(tenant: self.tenant, name: "nope", source: "missing", snapshotVersion: nil)
        }
        await #expect(throws: S3Error.self) {
            try await f.workspaces.fork(
                tenant: self.tenant, name: "nope", source: "source", snapshotVersion: "1234567890123456789")
        }
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "plain", snapshotsEnabled: false)
        await #expect(throws: S3Error.self) {
            try await f.workspaces.fork(tenant: self.tenant, name: "nope", source: "plain", snapshotVersion: nil)
        }
        // Another tenant sees none of it.
        await #expect(throws: S3Error.self) {
            try await f.workspaces.bucket(tenant: TenantID(rawValue: "other"), name: "source")
        }
    }

    @Test(arguments: StoreEngine.available) func deletingAForkedParentKeepsWhatItsForksRead(engine: StoreEngine)
        async throws
    {
        let f = try await Fixture(engine)
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "parent", snapshotsEnabled: true)
        try await f.put("parent", "shared", "bytes")
        _ = try await f.workspaces.fork(tenant: tenant, name: "child", source: "parent", snapshotVersion: nil)
        await #expect(throws: S3Error.self) {
            try await f.workspaces.deleteBucket(tenant: self.tenant, name: "parent", force: false)
        }
        try await f.workspaces.deleteBucket(tenant: tenant, name: "parent", force: true)
        await #expect(throws: S3Error.self) { try await f.workspaces.bucket(tenant: self.tenant, name: "parent") }
        #expect(try await f.text("child", "shared") == "bytes")
        // The name is free again, and the new bucket is not the old one.
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "parent", snapshotsEnabled: false)
        #expect(try await f.text("parent", "shared") == nil)
        #expect(try await !f.workspaces.store.referencedDigests().isEmpty)
        // The last fork gone (it holds no versions of its own, so it needs no force), the deleted
        // parent goes too, and with it every reference.
        try await f.workspaces.deleteBucket(tenant: tenant, name: "child", force: false)
        #expect(try await f.workspaces.store.referencedDigests().isEmpty)
        #expect(try await f.count("workspace_buckets") == 1)
    }

    @Test(arguments: StoreEngine.available) func aForkIsEmptyWithoutVersionsOfItsOwn(
        engine: StoreEngine
    ) async throws {
        let f = try await Fixture(engine)
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "source", snapshotsEnabled: true)
        try await f.put("source", "inherited", "bytes")
        for name in ["untouched", "written", "emptied"] {
            _ = try await f.workspaces.fork(tenant: tenant, name: name, source: "source", snapshotVersion: nil)
        }
        try await f.put("written", "own", "mine")
        try await f.put("emptied", "own", "mine")
        // The usual cleanup of a versioned bucket: every version and delete marker by id.
        let versions = try await f.workspaces.listVersions(tenant: tenant, bucket: "emptied", query: VersionListQuery())
        for (version, _) in versions.versions {
            _ = try await f.workspaces.deleteObject(
                tenant: tenant, bucket: "emptied", key: version.key, versionId: version.versionId)
        }
        #expect(try await f.text("untouched", "inherited") == "bytes")
        try await f.workspaces.deleteBucket(tenant: tenant, name: "untouched", force: false)
        await #expect(throws: S3Error.self) {
            try await f.workspaces.deleteBucket(tenant: self.tenant, name: "written", force: false)
        }
        try await f.workspaces.deleteBucket(tenant: tenant, name: "emptied", force: false)
        #expect(try await f.text("source", "inherited") == "bytes")
        #expect(try await f.text("written", "inherited") == "bytes")
    }

    @Test(arguments: StoreEngine.available) func listingsRollUpPrefixesAndPageThroughForkChains(engine: StoreEngine)
        async throws
    {
        let f = try await Fixture(engine)
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "tree", snapshotsEnabled: true)
        for key in ["a/1", "a/2", "a/3", "b", "c/1", "d"] { try await f.put("tree", key, key) }
        _ = try await f.workspaces.fork(tenant: tenant, name: "tree-fork", source: "tree", snapshotVersion: nil)
        try await f.delete("tree-fork", "b")
        try await f.put("tree-fork", "a/0", "own")
        try await f.put("tree-fork", "e", "own")
        #expect(try await f.keys("tree-fork") == ["a/0", "a/1", "a/2", "a/3", "c/1", "d", "e"])
        #expect(try await f.keys("tree-fork", delimiter: "/") == ["a/", "c/", "d", "e"])
        #expect(try await f.keys("tree-fork", prefix: "a/") == ["a/0", "a/1", "a/2", "a/3"])
        var query = ObjectListQuery()
        query.maxKeys = 3
        query.delimiter = "/"
        let page = try await f.workspaces.list(tenant: tenant, bucket: "tree-fork", query: query)
        #expect(page.commonPrefixes == ["a/", "c/"])
        #expect(page.objects.map(\.key) == ["d"])
        #expect(page.isTruncated)
        #expect(page.last == "d")
    }

    @Test(arguments: StoreEngine.available) func bucketsArePagedByNameWithinAPrefixAndATenant(engine: StoreEngine)
        async throws
    {
        let f = try await Fixture(engine)
        for name in ["logs-b", "logs-a", "logs-c", "logsx", "data"] {
            _ = try await f.workspaces.createBucket(tenant: tenant, name: name, snapshotsEnabled: false)
        }
        _ = try await f.workspaces.createBucket(
            tenant: TenantID(rawValue: "other"), name: "logs-d", snapshotsEnabled: false)
        try await f.workspaces.deleteBucket(tenant: tenant, name: "logs-c", force: false)
        func names(_ prefix: String, after: String? = nil, limit: Int = 10) async throws -> [String] {
            try await f.workspaces.buckets(tenant: tenant, prefix: prefix, after: after, limit: limit).map(\.name)
        }
        #expect(try await names("logs-") == ["logs-a", "logs-b"])
        #expect(try await names("logs", limit: 2) == ["logs-a", "logs-b"])
        #expect(try await names("logs", after: "logs-b") == ["logsx"])
        #expect(try await names("") == ["data", "logs-a", "logs-b", "logsx"])
        #expect(try await names("nothing").isEmpty)
    }

    @Test(arguments: StoreEngine.available) func conditionalWritesAndVersionIds(engine: StoreEngine) async throws {
        let f = try await Fixture(engine)
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "versioned", snapshotsEnabled: false)
        try await f.workspaces.setVersioning(tenant: tenant, bucket: "versioned", enabled: true)
        let v1 = try await f.put("versioned", "k", "one")
        let v2 = try await f.put("versioned", "k", "two")
        #expect(v1.versionId != nil && v1.versionId != v2.versionId)
        #expect(try await f.text("versioned", "k", versionId: v1.versionId) == "one")
        await #expect(throws: S3Error.self) {
            try await f.put("versioned", "k", "three", conditions: WriteConditions(mustNotExist: true))
        }
        await #expect(throws: S3Error.self) {
            try await f.put("versioned", "k", "three", conditions: WriteConditions(ifMatch: [v1.version.etag]))
        }
        try await f.put("versioned", "k", "three", conditions: WriteConditions(ifMatch: [v2.version.etag]))
        #expect(try await f.text("versioned", "k") == "three")
        try await f.delete("versioned", "k")
        let (_, lookup) = try await f.workspaces.lookup(tenant: tenant, bucket: "versioned", key: "k")
        guard case .deleteMarker = lookup else {
            Issue.record("expected a delete marker")
            return
        }
        let page = try await f.workspaces.listVersions(tenant: tenant, bucket: "versioned", query: VersionListQuery())
        #expect(page.versions.count == 4)
        #expect(page.versions[0].isLatest && page.versions[0].version.isDeleteMarker)
        #expect(page.versions.dropFirst().allSatisfy { !$0.isLatest })
    }

    @Test(arguments: StoreEngine.available) func multipartCompletesWithoutCopyingBytes(engine: StoreEngine)
        async throws
    {
        let f = try await Fixture(engine, minPartBytes: 4)
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "parts", snapshotsEnabled: false)
        let upload = try await f.workspaces.createUpload(
            tenant: tenant, bucket: "parts", key: "big", headers: ObjectHeaders([("content-type", "text/plain")]))
        var listed: [(number: Int, etag: String)] = []
        for (number, text) in [(1, "hello "), (2, "multipart "), (3, "world")] {
            let (w, md5) = try f.write(text)
            let part = try await f.workspaces.putPart(
                tenant: tenant, bucket: "parts", uploadId: upload.id, number: number, write: w, md5: md5)
            listed.append((number, part.etag))
        }
        await #expect(throws: S3Error.self) {
            try await f.workspaces.completeUpload(
                tenant: self.tenant, bucket: "parts", uploadId: upload.id, parts: [listed[1], listed[0]])
        }
        await #expect(throws: S3Error.self) {
            try await f.workspaces.completeUpload(
                tenant: self.tenant, bucket: "parts", uploadId: upload.id, parts: [(1, "\"00\"")])
        }
        let done = try await f.workspaces.completeUpload(
            tenant: tenant, bucket: "parts", uploadId: upload.id, parts: listed)
        #expect(done.version.etag.hasSuffix("-3\""))
        #expect(done.version.segments.count == 3)
        #expect(try await f.text("parts", "big") == "hello multipart world")
        await #expect(throws: S3Error.self) {
            try await f.workspaces.abortUpload(tenant: self.tenant, bucket: "parts", uploadId: upload.id)
        }
        // A repeated Complete finds what the upload made, for a day, and only for its key.
        let again = try await f.workspaces.completedUpload(
            tenant: tenant, bucket: "parts", uploadId: upload.id, key: "big")
        #expect(again?.version.etag == done.version.etag && again?.version.seq == done.version.seq)
        #expect(
            try await f.workspaces.completedUpload(tenant: tenant, bucket: "parts", uploadId: upload.id, key: "x")
                == nil)
        f.clock.advance(milliseconds: WorkspaceService.completedUploadRetentionMilliseconds - 1)
        try await f.workspaces.pruneCompletedUploads()
        #expect(
            try await f.workspaces.completedUpload(tenant: tenant, bucket: "parts", uploadId: upload.id, key: "big")
                != nil)
        f.clock.advance(milliseconds: 2)
        try await f.workspaces.pruneCompletedUploads()
        #expect(
            try await f.workspaces.completedUpload(tenant: tenant, bucket: "parts", uploadId: upload.id, key: "big")
                == nil)
        // A too-small middle part is refused once the minimum applies.
        let strict = try await Fixture(engine, minPartBytes: 100)
        _ = try await strict.workspaces.createBucket(tenant: tenant, name: "parts", snapshotsEnabled: false)
        let u = try await strict.workspaces.createUpload(
            tenant: tenant, bucket: "parts", key: "k", headers: ObjectHeaders())
        var small: [(number: Int, etag: String)] = []
        for n in 1...2 {
            let (w, md5) = try strict.write("tiny")
            let p = try await strict.workspaces.putPart(
                tenant: tenant, bucket: "parts", uploadId: u.id, number: n, write: w, md5: md5)
            small.append((n, p.etag))
        }
        await #expect(throws: S3Error.self) {
            try await strict.workspaces.completeUpload(
                tenant: self.tenant, bucket: "parts", uploadId: u.id, parts: small)
        }
        try await strict.workspaces.abortUpload(tenant: tenant, bucket: "parts", uploadId: u.id)
        #expect(try await strict.workspaces.store.referencedDigests().isEmpty)
    }

    @Test(arguments: StoreEngine.available) func concurrentWritesOnTwoReplicasGetDistinctIncreasingVersions(
        engine: StoreEngine
    ) async throws {
        let f = try await Fixture(engine)
        let other = WorkspaceService(
            store: try await f.t.reopen(), blobs: f.blobs, locks: BlobLocks(), clock: f.clock)
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "busy", snapshotsEnabled: true)
        let services = [f.workspaces, other]
        let results = try await withThrowingTaskGroup(of: Int64.self) { group in
            for i in 0..<16 {
                let s = services[i % 2]
                group.addTask {
                    let w = try s.beginWrite()
                    let bytes = Array("v\(i)".utf8)
                    try bytes.withUnsafeBytes { try w.write($0) }
                    var digest = ObjectDigest(.md5)
                    digest.update(bytes)
                    return try await s.putObject(
                        tenant: .default, bucket: "busy", key: "same", write: w, md5: digest.finalize().md5!,
                        headers: ObjectHeaders()
                    ).version.seq
                }
            }
            var all: [Int64] = []
            for try await seq in group { all.append(seq) }
            return all
        }
        #expect(Set(results).count == 16)
        let page = try await f.workspaces.listVersions(tenant: tenant, bucket: "busy", query: VersionListQuery())
        #expect(page.versions.count == 16)
        #expect(page.versions[0].version.seq == results.max())
    }
}
