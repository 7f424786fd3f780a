import CairnCore
import Testing

@testable import CairnStore

/// Object notifications are recorded in the transaction of the change, on both engines: a
/// change that does not commit records nothing, and the filter decides what is recorded.
@Suite struct WorkspaceNotificationTests {
    typealias Fixture = WorkspaceServiceTests.Fixture
    let tenant = TenantID.default

    func recorded(_ f: Fixture, _ bucket: String) async throws -> [String] {
        try await f.workspaces.notificationDeliveries(tenant: tenant, bucket: bucket, limit: 100).reversed().map {
            "\($0.eventType) \(JSONValue.parseOrNull($0.payload)["object"]?["key"]?.stringValue ?? "?")"
        }
    }

    @Test(arguments: StoreEngine.available) func changesAreRecordedWithTheirCommit(engine: StoreEngine) async throws {
        let f = try await Fixture(engine)
        _ = try await f.workspaces.createBucket(tenant: tenant, name: "watched", snapshotsEnabled: false)
        try await f.put("watched", "before", "not watched yet")
        try await f.workspaces.setNotifications(
            tenant: tenant, bucket: "watched",
            settings: ObjectNotificationSettings(
                enabled: true, webHook: "https://hooks.example.com/x", filter: "WHERE `key` NOT LIKE 'tmp/%'",
                auth: .token("t")))
        try await f.put("watched", "a", "1")
        try await f.put("watched", "tmp/skipped", "1")
        // A write refused by its condition commits nothing, so it records nothing.
        var mustNotExist = WriteConditions()
        mustNotExist.mustNotExist = true
        await #expect(throws: S3Error.self) { try await f.put("watched", "a", "2", conditions: mustNotExist) }
        try await f.delete("watched", "a")
        #expect(try await recorded(f, "watched") == ["OBJECT_CREATED_PUT a", "OBJECT_DELETED a"])
        let first = try await f.workspaces.notificationDeliveries(tenant: tenant, bucket: "watched", limit: 1)[0]
        #expect(first.kind == .objectNotification && first.secret == "Bearer t" && first.status == "pending")

        try await f.workspaces.setNotifications(tenant: tenant, bucket: "watched", settings: nil)
        try await f.put("watched", "after", "1")
        #expect(try await recorded(f, "watched").count == 2)
    }
}

extension WorkspaceNotificationTests {
    @Test(arguments: StoreEngine.available) func streamEventsAreNumberedAndPrunedWithoutRenumbering(
        engine: StoreEngine
    ) async throws {
        let f = try await Fixture(engine)
        let b = try await f.workspaces.createBucket(tenant: tenant, name: "streamed", snapshotsEnabled: false)
        try await f.workspaces.setNotifications(
            tenant: tenant, bucket: "streamed", settings: ObjectNotificationSettings(enabled: true, webHook: nil))
        let watched = try await f.workspaces.bucket(tenant: tenant, name: "streamed")
        try await f.put("streamed", "a", "1")
        try await f.put("streamed", "b", "1")
        #expect(try await f.workspaces.events(of: watched, after: 0, limit: 10).map(\.seq) == [1, 2])
        #expect(try await f.workspaces.events(of: watched, after: 1, limit: 10).map(\.seq) == [2])
        // Without a web hook nothing is queued for delivery.
        #expect(try await f.workspaces.notificationDeliveries(tenant: tenant, bucket: "streamed", limit: 10).isEmpty)
        f.clock.advance(milliseconds: WorkspaceService.eventRetentionMilliseconds + 1)
        try await f.workspaces.pruneEvents()
        // The newest stays, so the next event is 3, not 1 again.
        #expect(try await f.workspaces.events(of: watched, after: 0, limit: 10).map(\.seq) == [2])
        try await f.put("streamed", "c", "1")
        #expect(try await f.workspaces.events(of: watched, after: 0, limit: 10).map(\.seq) == [2, 3])
        _ = b
    }
}

extension JSONValue {
    fileprivate static func parseOrNull(_ text: String) -> JSONValue { (try? JSONParser.parse(text)) ?? .null }
}
