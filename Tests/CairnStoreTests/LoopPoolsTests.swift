import NIOCore
import NIOPosix
import PostgresNIO
import Testing

@testable import CairnStore

/// The Postgres store keeps a pool per event loop, so a request's statements are written and
/// answered on the thread that awaits them.
@Suite struct LoopPoolsTests {
    @Test func connectionsAreSharedOutAsEvenlyAsTheyGo() {
        #expect(LoopPools.shares(connections: 15, loops: 2) == [8, 7])
        #expect(LoopPools.shares(connections: 16, loops: 4) == [4, 4, 4, 4])
        #expect(LoopPools.shares(connections: 10, loops: 4) == [3, 3, 2, 2])
        // Fewer connections than loops: the last loops borrow.
        #expect(LoopPools.shares(connections: 1, loops: 2) == [1])
        #expect(LoopPools.shares(connections: 3, loops: 8) == [1, 1, 1])
    }

    @Test(arguments: StoreEngine.multiWriter) func aTaskOnALoopLeasesThatLoopsConnections(engine: StoreEngine)
        async throws
    {
        let t = try await TestStore(engine)
        let store = try #require(t.store as? PostgresStore)
        for loop in MultiThreadedEventLoopGroup.singleton.makeIterator() {
            let onItsLoop = try await withTaskExecutorPreference(EventLoopExecutor(loop)) {
                try await store.client.withConnection { conn in conn.eventLoop === loop }
            }
            #expect(onItsLoop)
        }
    }
}
