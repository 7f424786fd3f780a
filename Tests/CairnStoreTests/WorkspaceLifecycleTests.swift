import CairnCore
import Testing

@testable import CairnStore

/// Lifecycle rules enforced on both engines, with the clock advanced by the test: expiry of
/// current versions (removed, or hidden by a delete marker where history is kept), noncurrent
/// versions, lone delete markers and old uploads; snapshots and forks keep what they saw.
@Suite struct WorkspaceLifecycleTests {
    typealias Fixture = WorkspaceServiceTests.Fixture
    let tenant = TenantID.default
    static let day: Int64 = 86_400_000

    func rules(_ f: Fixture, _ bucket: String, _ rules: String) async throws {
        let xml = "<LifecycleConfiguration>\(rules)</LifecycleConfiguration>"
        _ = try LifecycleConfiguration(text: xml)
        try await f.workspaces.setLifecycle(tenant: tenant, bucket: bucket, xml: xml)
    }

    func ttl(_ days: Int, prefix: String = "") -> String {
        "<Rule><ID>ttl</ID><Status>Enabled</Status><Filter><Prefix>\(prefix)</Prefix></Filter>"
            + "<Expiration><Days>\(days)</Days></Expiration></Rule>"
    }

    func versionIds(_ f: Fixture, _ bucket: String) async throws -> [String] {
        try await f.workspaces.listVersions(tenant: tenant, bucket: bucket, query: VersionListQuery()).versions.map {
            ($0.version.isDeleteMarker ? "marker:" : "") + $0.version.key
        }
    }

    @Test(arguments: StoreEngine.available) func expiredObjectsOfAPlainBucketAreRemoved(engine: StoreEngine)
        async throws
    {
        let f = try await Fixture(engine)
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "plain", snapshotsEnabled: false)
        try await rules(f, "plain", ttl(1, prefix: "tmp/"))
        try await f.put("plain", "tmp/a", "scratch")
        try await f.put("plain", "keep/b", "kept")
        // Written just after midnight: due at the second midnight, not after 24 hours.
        f.clock.advance(milliseconds: Self.day)
        #expect(try await f.workspaces.applyLifecycle() == .init())
        f.clock.advance(milliseconds: Self.day)
        let report = try await f.workspaces.applyLifecycle()
        #expect(report.expired == 1)
        #expect(try await f.keys("plain") == ["keep/b"])
        #expect(try await f.workspaces.store.referencedDigests().count == 1)
        // Idempotent: a second pass (or another replica's) finds nothing left to do.
        #expect(try await f.workspaces.applyLifecycle() == .init())
    }

    @Test(arguments: StoreEngine.available) func aTTLWorkspaceHidesExpiredObjectsButSnapshotsAndForksKeepThem(
        engine: StoreEngine
    ) async throws {
        let f = try await Fixture(engine)
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "workspace", snapshotsEnabled: true)
        try await rules(f, "workspace", ttl(2))
        try await f.put("workspace", "notes.md", "draft")
        let before = try await f.workspaces.snapshot(tenant: tenant, bucket: "workspace", snapshotName: "before")
        _ = try await f.workspaces.fork(tenant: tenant, name: "ws-fork", source: "workspace", snapshotVersion: nil)
        f.clock.advance(milliseconds: 3 * Self.day)
        // A write after the object's time is up is not expired by the same pass.
        try await f.put("workspace", "fresh.md", "new")
        #expect(try await f.workspaces.applyLifecycle().expired == 1)
        #expect(try await f.keys("workspace") == ["fresh.md"])
        #expect(try await f.versionIdsOfKey("workspace", "notes.md") == ["marker", "version"])
        #expect(try await f.text("workspace", "notes.md", snapshot: before.version) == "draft")
        #expect(try await f.text("ws-fork", "notes.md") == "draft")
    }

    @Test(arguments: StoreEngine.available) func aTTLForkExpiresWhatItInherited(engine: StoreEngine) async throws {
        let f = try await Fixture(engine)
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "base", snapshotsEnabled: true)
        try await f.put("base", "shared.txt", "from the base")
        _ = try await f.workspaces.fork(tenant: tenant, name: "trial", source: "base", snapshotVersion: nil)
        try await rules(f, "trial", ttl(1))
        f.clock.advance(milliseconds: 2 * Self.day)
        #expect(try await f.workspaces.applyLifecycle().expired == 1)
        #expect(try await f.keys("trial") == [])
        #expect(try await f.text("base", "shared.txt") == "from the base")
    }

    @Test(arguments: StoreEngine.available) func noncurrentVersionsAndLoneDeleteMarkersAreRemoved(engine: StoreEngine)
        async throws
    {
        let f = try await Fixture(engine)
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "vers", snapshotsEnabled: false)
        try await f.workspaces.setVersioning(tenant: tenant, bucket: "vers", enabled: true)
        try await rules(
            f, "vers",
            """
            <Rule><Status>Enabled</Status><Filter/><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>\
            <NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration>\
            <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>
            """)
        try await f.put("vers", "k", "v1")
        try await f.put("vers", "k", "v2")
        try await f.put("vers", "k", "v3")
        let gone = try await f.put("vers", "gone", "x")
        try await f.delete("vers", "gone")
        _ = try await f.workspaces.deleteObject(tenant: tenant, bucket: "vers", key: "gone", versionId: gone.versionId)
        #expect(try await versionIds(f, "vers") == ["marker:gone", "k", "k", "k"])
        // Not yet a day since v2 and v3 replaced v1 and v2.
        #expect(try await f.workspaces.applyLifecycle() == .init(deleteMarkersRemoved: 1))
        f.clock.advance(milliseconds: 2 * Self.day)
        // v1 goes; v2 stays as the one newer noncurrent version the rule keeps.
        #expect(try await f.workspaces.applyLifecycle() == .init(noncurrentRemoved: 1))
        #expect(try await versionIds(f, "vers") == ["k", "k"])
        #expect(try await f.text("vers", "k") == "v3")
    }

    @Test(arguments: StoreEngine.available) func aDateRuleAndOldUploads(engine: StoreEngine) async throws {
        let f = try await Fixture(engine)
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "dated", snapshotsEnabled: false)
        let date = Timestamp(milliseconds: f.clock.now().milliseconds + 10 * Self.day)
        try await rules(
            f, "dated",
            """
            <Rule><Status>Enabled</Status><Filter/><Expiration><Date>\(date.iso8601)</Date></Expiration></Rule>\
            <Rule><Status>Enabled</Status><Filter><Prefix>big/</Prefix></Filter>\
            <AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>\
            </AbortIncompleteMultipartUpload></Rule>
            """)
        try await f.put("dated", "a", "1")
        let upload = try await f.workspaces.createUpload(
            tenant: tenant, bucket: "dated", key: "big/file", headers: ObjectHeaders())
        _ = try await f.workspaces.createUpload(tenant: tenant, bucket: "dated", key: "other", headers: ObjectHeaders())
        f.clock.advance(milliseconds: 2 * Self.day)
        #expect(try await f.workspaces.applyLifecycle() == .init(uploadsAborted: 1))
        await #expect(throws: S3Error.self) {
            _ = try await f.workspaces.upload(tenant: self.tenant, bucket: "dated", uploadId: upload.id)
        }
        #expect(try await f.keys("dated") == ["a"])
        f.clock.set(date)
        #expect(try await f.workspaces.applyLifecycle() == .init(expired: 1))
        #expect(try await f.keys("dated") == [])
    }

    @Test(arguments: StoreEngine.available) func anUnreadableConfigurationIsLeftAlone(engine: StoreEngine) async throws
    {
        let f = try await Fixture(engine)
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "odd", snapshotsEnabled: false)
        try await f.workspaces.setLifecycle(tenant: tenant, bucket: "odd", xml: "<NotLifecycle/>")
        try await f.put("odd", "a", "1")
        f.clock.advance(milliseconds: 100 * Self.day)
        #expect(try await f.workspaces.applyLifecycle() == .init(unreadableConfigurations: 1))
        #expect(try await f.keys("odd") == ["a"])
    }
}

extension WorkspaceServiceTests.Fixture {
    /// The key's own versions, newest first: "marker" or "version".
    func versionIdsOfKey(_ bucket: String, _ key: String) async throws -> [String] {
        var query = VersionListQuery()
        query.prefix = key
        return try await workspaces.listVersions(tenant: .default, bucket: bucket, query: query).versions
            .filter { $0.version.key == key }
            .map { $0.version.isDeleteMarker ? "marker" : "version" }
    }
}

extension WorkspaceService.LifecycleReport {
    init(
        expired: Int = 0, noncurrentRemoved: Int = 0, deleteMarkersRemoved: Int = 0, uploadsAborted: Int = 0,
        unreadableConfigurations: Int = 0
    ) {
        self.init()
        self.expired = expired
        self.noncurrentRemoved = noncurrentRemoved
        self.deleteMarkersRemoved = deleteMarkersRemoved
        self.uploadsAborted = uploadsAborted
        self.unreadableConfigurations = unreadableConfigurations
    }
}
