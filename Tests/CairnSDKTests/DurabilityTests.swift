import CairnTestSupport
import Foundation
import Testing

@testable import Cairn
@testable import CairnStore

@Suite struct DurabilityTests {
    /// The embedded store's connection, to read the settings it really runs with.
    private func store(of cairn: Cairn) throws -> SQLiteStore {
        let transport = try #require(cairn.transport as? EmbeddedTransport)
        return try #require(transport.runs.store as? SQLiteStore)
    }

    /// By default every commit is fsynced (WAL, `synchronous=FULL`) before it is acknowledged,
    /// so an acknowledged write survives a power loss, not only a crash of the process.
    @Test func theDefaultEmbeddedStoreFsyncsEveryCommitInWALMode() async throws {
        let directory = ScratchDirectory.path("cairn-durability")
        let cairn = try Cairn.embedded(dataDirectory: directory)
        let settings = try await store(of: cairn).writerDurabilitySettings()
        #expect(settings.journalMode == "wal")
        #expect(settings.synchronous == 2, "synchronous must be FULL (2), is \(settings.synchronous)")
    }

    /// With process-crash durability, an acknowledged step is in the database file's WAL (the
    /// operating system has it), so another connection — as after `kill -9` and a restart —
    /// reads it, though it was not fsynced.
    @Test func processCrashDurabilityWritesReachTheOperatingSystemBeforeTheyAreAcknowledged() async throws {
        let directory = ScratchDirectory.path("cairn-durability")
        let cairn = try Cairn.embedded(dataDirectory: directory, durability: .processCrash)
        let settings = try await store(of: cairn).writerDurabilitySettings()
        #expect(settings.journalMode == "wal")
        #expect(settings.synchronous == 1, "process-crash durability is synchronous=NORMAL (1)")
        let runId = try await cairn.run("w", input: 0) { run, _ in
            for i in 0..<20 { _ = try await run.step("s\(i)") { i } }
            return run.runId
        }
        let other = try SQLiteStore(configuration: .init(path: directory + "/cairn.sqlite"), broker: nil)
        let steps = try await other.read { tx in try await tx.steps(runId: runId) }
        #expect(steps.count == 20 && steps.allSatisfy { $0.status == .completed })
    }
}
