import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import CairnServer

/// The connection cap: admission follows the order connections were accepted, whatever order
/// their pipelines are set up in.
struct ConnectionRegistryTests {
    /// A channel and whether it has been closed.
    final class Connection: Sendable {
        let channel = EmbeddedChannel()
        private let closedFlag = Atomic(false)
        var closed: Bool { closedFlag.load(ordering: .relaxed) }
        init() { channel.closeFuture.whenComplete { [self] _ in closedFlag.store(true, ordering: .relaxed) } }
    }

    static func admittedID(_ admission: ConnectionRegistry.Admission) -> Int? {
        if case .admitted(let id) = admission { id } else { nil }
    }

    @Test func theLastAcceptedSurvivesABurstOfIdleConnectionsSetUpAfterIt() throws {
        let registry = ConnectionRegistry(maxConnections: 8)
        let idle = (0..<16).map { _ in Connection() }
        let latest = Connection()
        for connection in idle + [latest] { registry.accept(connection.channel) }
        // Set up out of order: the latest first, as another event loop may.
        #expect(Self.admittedID(registry.admission(of: latest.channel)) != nil)
        for connection in idle.reversed() { _ = registry.admission(of: connection.channel) }
        for connection in idle + [latest] { connection.channel.embeddedEventLoop.run() }
        #expect(!latest.closed)
        // The nine accepted first made room; the seven after them and the latest stay.
        #expect(idle.map(\.closed) == Array(repeating: true, count: 9) + Array(repeating: false, count: 7))
        #expect(registry.count == 8)
    }

    @Test func overTheCapWithNoIdleConnectionIsRefused() throws {
        let registry = ConnectionRegistry(maxConnections: 2)
        let busy = (0..<2).map { _ in Connection() }
        for connection in busy {
            registry.accept(connection.channel)
            let id = try #require(Self.admittedID(registry.admission(of: connection.channel)))
            registry.setIdle(id, false)
        }
        let refused = Connection()
        registry.accept(refused.channel)
        #expect(Self.admittedID(registry.admission(of: refused.channel)) == nil)
        #expect(!busy[0].closed && !busy[1].closed)
        #expect(registry.count == 2)
    }

    @Test func aConnectionClosedBeforeItsSetUpGivesItsPlaceBack() throws {
        let registry = ConnectionRegistry(maxConnections: 1)
        let first = Connection()
        registry.accept(first.channel)
        #expect(registry.count == 1)
        _ = try first.channel.finish()
        first.channel.embeddedEventLoop.run()
        #expect(registry.count == 0)
        // Its decision is gone too: a set-up that still comes decides anew.
        let second = Connection()
        registry.accept(second.channel)
        #expect(Self.admittedID(registry.admission(of: second.channel)) != nil)
    }

    @Test func aConnectionClosedAfterItsSetUpGivesItsPlaceBack() throws {
        let registry = ConnectionRegistry(maxConnections: 1)
        let connection = Connection()
        registry.accept(connection.channel)
        #expect(Self.admittedID(registry.admission(of: connection.channel)) != nil)
        _ = try connection.channel.finish()
        connection.channel.embeddedEventLoop.run()
        #expect(registry.count == 0)
    }

    @Test func aConnectionAcceptedBeforeTheListenerCountedIsAdmittedAtSetUp() throws {
        let registry = ConnectionRegistry(maxConnections: 1)
        let early = Connection()
        #expect(Self.admittedID(registry.admission(of: early.channel)) != nil)
        #expect(registry.count == 1)
    }
}
