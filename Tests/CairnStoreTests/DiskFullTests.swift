import CairnCore
import CairnTestSupport
import Foundation
import Synchronization
import Testing

@testable import CairnStore

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct DiskFullTests {
    func directory() throws -> String {
        let path = ScratchDirectory.path("cairn-full")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A database that cannot grow (capped with `max_page_count`, which SQLite reports exactly
    /// like a full disk) refuses the write with `StorageFullError`, keeps what was committed,
    /// releases the reserve, and takes writes again, re-creating the reserve, once it can grow.
    @Test func fullDatabaseRefusesWritesAsStorageFullAndRecovers() async throws {
        let directory = try directory()
        let reserve = StorageReserve(directory: directory, bytes: 1 << 20)
        #expect(FileManager.default.fileExists(atPath: reserve.path))
        let store = try SQLiteStore(
            configuration: .init(path: directory + "/cairn.sqlite", reserve: reserve), broker: nil)
        let runs = RunService(store: store, configuration: .init())
        let before = try await runs.createRun(CreateRunRequest(workflowName: "before"), tenant: .default)

        try await store.writeSQLite { tx in try tx.connection.execute(script: "PRAGMA max_page_count = 1") }
        let big = CreateRunRequest(
            workflowName: "big", input: .string(String(repeating: "x", count: 200_000)))
        await #expect(throws: StorageFullError.self) { _ = try await runs.createRun(big, tenant: .default) }
        #expect(reserve.isFull)
        #expect(!FileManager.default.fileExists(atPath: reserve.path))

        try await store.writeSQLite { tx in try tx.connection.execute(script: "PRAGMA max_page_count = 1073741823") }
        let after = try await runs.createRun(big, tenant: .default)
        #expect(!reserve.isFull)
        #expect(FileManager.default.fileExists(atPath: reserve.path))
        #expect(Set(try await runs.listRuns(tenant: .default).runs.map(\.id)) == [before.id, after.id])
    }

    /// SQLite may roll back the whole group-commit transaction when one job in it hits a full
    /// disk: the jobs beside it must then run again in a new transaction, neither acknowledged
    /// without being stored nor reported failed after all (a later job's savepoint would
    /// otherwise open and commit a transaction of its own, and the batch's COMMIT then fail).
    @Test func jobsBatchedWithOneThatFillsTheDiskAreRunAgainNotLost() async throws {
        let directory = try directory()
        let store = try SQLiteStore(configuration: .init(path: directory + "/cairn.sqlite"), broker: nil)
        let runs = RunService(store: store, configuration: .init())
        let seed = try await runs.createRun(CreateRunRequest(workflowName: "seed"), tenant: .default)
        // Free pages for small writes, then cap the file: only a large write needs more.
        try await store.writeSQLite { tx in
            try tx.connection.execute(
                script: """
                    CREATE TABLE scratch (x BLOB); INSERT INTO scratch VALUES (zeroblob(200000));
                    DROP TABLE scratch; PRAGMA max_page_count = 1;
                    """)
        }
        let started = Mutex(false)
        let (gate, open) = AsyncStream<Void>.makeStream()
        let leader = Task {
            try await store.writeSQLite { _ in
                started.withLock { $0 = true }
                for await _ in gate {}
            }
        }
        func waitUntil(_ condition: () -> Bool) async {
            while !condition() { await Task.yield() }
        }
        await waitUntil { started.withLock { $0 } }
        let small = { (name: String) in
            Task { try await runs.createRun(CreateRunRequest(workflowName: name), tenant: .default) }
        }
        let first = small("first")
        await waitUntil { store.queuedWriteCount == 1 }
        let big = Task {
            try await runs.createRun(
                CreateRunRequest(workflowName: "big", input: .string(String(repeating: "x", count: 2_000_000))),
                tenant: .default)
        }
        await waitUntil { store.queuedWriteCount == 2 }
        let last = small("last")
        await waitUntil { store.queuedWriteCount == 3 }
        open.finish()
        try await leader.value

        let acknowledged = [try await first.value.id, try await last.value.id]
        await #expect(throws: StorageFullError.self) { _ = try await big.value }
        let stored = Set(try await runs.listRuns(tenant: .default).runs.map(\.id))
        #expect(stored == Set([seed.id] + acknowledged))
    }

    @Test func noSpaceErrnosMapToStorageFull() {
        // SQLITE_FULL (13) and SQLITE_CONSTRAINT (19).
        #expect(SQLiteConnection.failure(13, message: "database or disk is full", nil) is StorageFullError)
        #expect(SQLiteConnection.failure(19, message: "constraint", nil) is SQLiteError)
        errno = ENOSPC
        #expect(BlobIOError.failure("write", "/x") is StorageFullError)
        errno = EDQUOT
        #expect(BlobIOError.failure("write", "/x") is StorageFullError)
        errno = EACCES
        #expect(BlobIOError.failure("write", "/x") is BlobIOError)
    }

    /// A process killed mid-upload leaves its `.part` file; at start-up none is live.
    @Test func unfinishedWritesAreAllRemovedButLiveOnesKept() throws {
        let directory = try directory()
        let blobs = try LocalBlobStore(root: directory)
        for i in 0..<3 {
            #expect(FileManager.default.createFile(atPath: "\(directory)/tmp/\(i).part", contents: Data([1, 2, 3])))
        }
        let live = try blobs.beginWrite()
        #expect(try blobs.removeUnfinishedWrites() == 3)
        let left = try FileManager.default.contentsOfDirectory(atPath: directory + "/tmp")
        #expect(left.count == 1)
        live.abort()
    }
}
