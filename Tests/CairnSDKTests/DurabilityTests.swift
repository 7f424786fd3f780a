import Cairn
import CairnStore
import Foundation
import Testing

@Suite struct DurabilityTests {
    /// With process-crash durability, an acknowledged step is in the database file's WAL (the
    /// operating system has it), so another connection — as after `kill -9` and a restart —
    /// reads it, though it was not fsynced.
    @Test func processCrashDurabilityWritesReachTheOperatingSystemBeforeTheyAreAcknowledged() async throws {
        let directory = NSTemporaryDirectory() + "cairn-durability-" + UUID().uuidString
        let cairn = try Cairn.embedded(dataDirectory: directory, durability: .processCrash)
        let runId = try await cairn.run("w", input: 0) { run, _ in
            for i in 0..<20 { _ = try await run.step("s\(i)") { i } }
            return run.runId
        }
        let other = try SQLiteStore(configuration: .init(path: directory + "/cairn.sqlite"), broker: nil)
        let steps = try await other.read { tx in try await tx.steps(runId: runId) }
        #expect(steps.count == 20 && steps.allSatisfy { $0.status == .completed })
    }
}
