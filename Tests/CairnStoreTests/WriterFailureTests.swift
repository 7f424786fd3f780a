import CairnCore
import CairnTestSupport
import Foundation
import Testing

@testable import CairnStore

@Suite struct WriterFailureTests {
    /// When the writer cannot open a transaction (here: another process holds the database's
    /// write lock past the busy timeout), every waiting request fails, none of its work is run
    /// outside a transaction, and the store recovers once the lock is gone.
    @Test func requestsFailCleanlyWhenNoTransactionCanBeOpened() async throws {
        let directory = ScratchDirectory.path("cairn-writer")
        var configuration = SQLiteStore.Configuration(path: directory + "/cairn.sqlite")
        configuration.busyTimeoutMilliseconds = 100
        let store = try SQLiteStore(configuration: configuration, broker: nil)
        let runs = RunService(store: store, configuration: .init())

        let intruder = try SQLiteConnection(path: configuration.path, readOnly: false)
        try intruder.execute(script: "BEGIN IMMEDIATE")
        await #expect(throws: SQLiteError.self) {
            _ = try await runs.createRun(CreateRunRequest(workflowName: "blocked"), tenant: .default)
        }
        try intruder.execute(script: "ROLLBACK")

        let run = try await runs.createRun(CreateRunRequest(workflowName: "after"), tenant: .default)
        let all = try await runs.listRuns(tenant: .default).runs
        #expect(all.map(\.id) == [run.id])
    }
}
