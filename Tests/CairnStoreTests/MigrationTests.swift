import CairnCore
import CairnTestSupport
import Foundation
import Logging
import Testing

@testable import CairnStore

/// Upgrades keep what older schemas hold.
@Suite struct MigrationTests {
    @Test func channelDeliveriesSurviveTheMoveToTheSharedDeliveryLog() async throws {
        let path = ScratchDirectory.path("cairn-migrate") + "/cairn.sqlite"
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        do {
            let old = try SQLiteConnection(path: path, readOnly: false)
            try SQLiteStore.migrate(old, logger: Logger(label: "test"), through: 4)
            try old.execute(
                script: """
                    INSERT INTO runs (id, tenant_id, workflow_name, input_json, metadata_json, status, created_at, \
                    updated_at) VALUES ('run_1', 'default', 'wf', '{}', '{}', 'completed', 1, 2);
                    INSERT INTO channel_deliveries (id, run_id, channel_id, gate_id, url, event_type, payload_json, \
                    status, attempts, next_attempt_at, created_at, secret) VALUES ('del_1', 'run_1', 'chan_1', NULL, \
                    'http://127.0.0.1:1/x', 'run.completed', '{"run":{}}', 'pending', 2, 5, 3, 'k');
                    """)
        }
        let store = try SQLiteStore(configuration: .init(path: path), broker: nil)
        #expect(try store.schemaVersion() >= 5)
        let runs = RunService(store: store, configuration: .init())
        let due = try await runs.dueDeliveries(limit: 10)
        #expect(due.count == 1)
        let d = try #require(due.first)
        #expect(d.id == "del_1" && d.kind == .runChannel && d.runId == "run_1" && d.channelId == "chan_1")
        #expect(d.attempts == 2 && d.secret == "k" && d.payload == #"{"run":{}}"#)
        #expect(d.body.contains(#""deliveryId":"del_1""#))
    }
}
