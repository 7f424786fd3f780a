import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import CairnServer

@Suite struct PeriodicServiceTests {
    @Test(.timeLimit(.minutes(5)))
    func runsAtStartUpAndWhenWokenAndItsPauseEndsAtGracefulShutdown() async throws {
        let passes = Mutex(0)
        let (passed, recordPass) = AsyncStream<Int>.makeStream()
        let (wakeups, wake) = AsyncStream<Void>.makeStream()
        let service = PeriodicService(interval: .seconds(3600), wakeups: wakeups) {
            recordPass.yield(
                passes.withLock { count in
                    count += 1
                    return count
                })
        }
        let group = ServiceGroup(services: [service], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = passed.makeAsyncIterator()
            #expect(await iterator.next() == 1)
            wake.yield()
            #expect(await iterator.next() == 2)
            await group.triggerGracefulShutdown()
            // Returns although an hour of pause is left.
            try await tasks.next()
        }
        #expect(passes.withLock { $0 } == 2)
    }

    @Test(.timeLimit(.minutes(5)))
    func everyBackgroundServiceStopsAtGracefulShutdownWithoutWaitingForItsInterval() async throws {
        let test = try TestServer { configuration in
            configuration.reconcileMilliseconds = 3_600_000
            configuration.checkpointSweepMilliseconds = 3_600_000
            configuration.artifactSweepMilliseconds = 3_600_000
        }
        let server = test.server
        let services: [any Service] = [
            try #require(server.reconciler), server.checkpointExpiry, server.deliveries, server.artifactSweeper,
        ]
        for service in services {
            let group = ServiceGroup(services: [service], logger: Logger(label: "test"))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                // Let the first pass start, so the service is in its pause (or pass) when told.
                await Task.yield()
                await group.triggerGracefulShutdown()
                try await tasks.next()
            }
        }
    }
}
