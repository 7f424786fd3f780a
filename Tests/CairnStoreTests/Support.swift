import CairnCore
import CairnTestSupport
import Foundation
import Logging
import Testing

@testable import CairnStore

/// The engines a store-level test runs on: SQLite always, Postgres when
/// `CAIRN_TEST_POSTGRES_URL` names a database (each test gets a schema of its own there).
enum StoreEngine: String, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    static let postgresURL = ProcessInfo.processInfo.environment["CAIRN_TEST_POSTGRES_URL"].flatMap {
        $0.isEmpty ? nil : $0
    }
    static let available: [StoreEngine] = postgresURL == nil ? [.sqlite] : [.sqlite, .postgres]
    /// Only Postgres, for the tests that need a real multi-writer engine (none when unset).
    static let multiWriter: [StoreEngine] = postgresURL == nil ? [] : [.postgres]

    var testDescription: String { rawValue }
}

/// A fresh store: a SQLite file in its own temporary directory, or a Postgres schema of its own.
final class TestStore: Sendable {
    let engine: StoreEngine
    let directory: String
    let broker = EventBroker()
    let store: any RecordStore
    let runs: RunService
    /// The Postgres URL of this store's own schema; nil on SQLite.
    let schemaURL: String?

    init(
        _ engine: StoreEngine = .sqlite, leaseMilliseconds: Int64 = 60_000, clock: any WallClock = SystemClock()
    ) async throws {
        self.engine = engine
        directory = ScratchDirectory.path("cairn-test")
        switch engine {
        case .sqlite:
            schemaURL = nil
            store = try SQLiteStore(configuration: .init(path: directory + "/cairn.sqlite"), broker: broker)
        case .postgres:
            let base = StoreEngine.postgresURL!
            let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            try await PostgresStore.createSchema(schema, url: base)
            let url = base + (base.contains("?") ? "&" : "?") + "search_path=" + schema
            schemaURL = url
            // Connections on demand: hundreds of test stores may be open at once.
            store = try await PostgresStore.open(
                configuration: .init(url: url, poolSize: 12, opensWholePool: false), broker: broker,
                logger: .init(label: "test"))
        }
        runs = RunService(store: store, configuration: .init(leaseMilliseconds: leaseMilliseconds), clock: clock)
    }

    /// The SQLite store, for the tests of its own machinery (group commit, pragmas).
    var sqlite: SQLiteStore { store as! SQLiteStore }

    deinit { (store as? PostgresStore)?.shutdown() }

    /// A second store on the same data: after a restart, or another replica on the database.
    func reopen(broker: EventBroker? = nil) async throws -> any RecordStore {
        if let schemaURL {
            return try await PostgresStore.open(
                configuration: .init(url: schemaURL, poolSize: 8, opensWholePool: false), broker: broker,
                logger: .init(label: "test"))
        }
        return try SQLiteStore(configuration: .init(path: directory + "/cairn.sqlite"), broker: broker)
    }

    func newRun(_ name: String = "wf", input: String = #"{"a":1}"#) async throws -> Run {
        try await runs.createRun(
            CreateRunRequest(workflowName: name, input: try JSONParser.parse(input)), tenant: .default)
    }
}

struct Boom: Error {}
