import CairnCore
import CairnStore
import Foundation

/// A fresh store in its own temporary directory.
struct TestStore {
    let directory: String
    let broker = EventBroker()
    let store: SQLiteStore
    let runs: RunService

    init(leaseMilliseconds: Int64 = 60_000, clock: any WallClock = SystemClock()) throws {
        directory = NSTemporaryDirectory() + "cairn-test-" + UUID().uuidString
        store = try SQLiteStore(configuration: .init(path: directory + "/cairn.sqlite"), broker: broker)
        runs = RunService(store: store, configuration: .init(leaseMilliseconds: leaseMilliseconds), clock: clock)
    }

    func reopen() throws -> SQLiteStore {
        try SQLiteStore(configuration: .init(path: directory + "/cairn.sqlite"), broker: nil)
    }

    func newRun(_ name: String = "wf", input: String = #"{"a":1}"#) async throws -> Run {
        try await runs.createRun(
            CreateRunRequest(workflowName: name, input: try JSONParser.parse(input)), tenant: .default)
    }
}

struct Boom: Error {}
