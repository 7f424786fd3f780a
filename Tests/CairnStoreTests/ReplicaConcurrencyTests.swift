import CairnCore
import CairnTestSupport
import Foundation
import Logging
import NIOPosix
import Testing

@testable import CairnStore

/// Races that only a multi-writer engine can lose: each runs its contenders through two store
/// instances on one database (two replicas), so nothing serializes them but the store's own
/// primitives. They run on SQLite too, where one writer makes them pass trivially.
@Suite struct ReplicaConcurrencyTests {
    let tenant = TenantID.default

    /// The services of a second replica on the same data.
    func secondReplica(_ t: TestStore) async throws -> RunService {
        RunService(store: try await t.reopen(), configuration: .init(leaseMilliseconds: 60_000))
    }

    /// A replica starts without a warning: its pool runs before the migrations lease a
    /// connection (PostgresNIO warns of a lease from a pool not yet running).
    @Test(arguments: StoreEngine.multiWriter) func aReplicaOpensWithoutWarnings(engine: StoreEngine) async throws {
        let t = try await TestStore(engine)
        let recorder = LogRecorder()
        for _ in 0..<5 {
            let store = try await PostgresStore.open(
                configuration: .init(url: try #require(t.schemaURL), poolSize: 4), broker: EventBroker(),
                logger: Logger(label: "replica") { _ in recorder })
            store.shutdown()
        }
        #expect(recorder.messages == [])
    }

    /// A write transaction runs on its connection's event loop, so each statement's answer
    /// resumes it without a hop through the cooperative pool; a read stays off the loop.
    @Test(arguments: StoreEngine.multiWriter) func aWriteRunsOnItsConnectionsEventLoop(engine: StoreEngine)
        async throws
    {
        let t = try await TestStore(engine)
        let writeOnLoop = try await t.store.write { _ in MultiThreadedEventLoopGroup.currentEventLoop != nil }
        let readOnLoop = try await t.store.read { _ in MultiThreadedEventLoopGroup.currentEventLoop != nil }
        #expect(writeOnLoop)
        #expect(!readOnLoop)
    }

    /// A one-statement read opens no transaction around its statement (so it runs at the
    /// server's default isolation, not the read transaction's repeatable read), and a second
    /// statement is refused rather than run outside the first one's snapshot.
    @Test(arguments: StoreEngine.multiWriter) func aOneStatementReadRunsAloneAndRefusesASecond(engine: StoreEngine)
        async throws
    {
        let t = try await TestStore(engine)
        let isolation: SQL = "SELECT current_setting('transaction_isolation')"
        let alone = try await t.store.readStatement { tx in
            try await (tx as! SQLRunTransaction<PostgresSession>).connection.first(isolation) { $0.string() }
        }
        #expect(alone == "read committed")
        let inTransaction = try await t.store.read { tx in
            try await (tx as! SQLRunTransaction<PostgresSession>).connection.first(isolation) { $0.string() }
        }
        #expect(inTransaction == "repeatable read")
        let run = try await t.newRun("w")
        let found = try await t.store.readStatement { tx in try await tx.run(id: run.id, tenant: self.tenant)?.id }
        #expect(found == run.id)
        await #expect(throws: OneStatementError.self) {
            try await t.store.readStatement { tx in
                _ = try await tx.run(id: run.id, tenant: self.tenant)
                return try await tx.run(id: run.id, tenant: self.tenant)?.id
            }
        }
    }

    @Test(arguments: StoreEngine.available) func eightClaimersOnTwoReplicasGetDisjointClaims(engine: StoreEngine)
        async throws
    {
        let t = try await TestStore(engine)
        let replicas = [t.runs, try await secondReplica(t)]
        var enqueued: Set<String> = []
        for _ in 0..<120 {
            enqueued.insert(
                try await t.runs.enqueue(
                    queue: "q", EnqueueRequest(run: CreateRunRequest(workflowName: "job")), tenant: tenant
                ).run.id)
        }
        let claims = try await withThrowingTaskGroup(of: [String].self) { group in
            for worker in 0..<8 {
                let runs = replicas[worker % 2]
                group.addTask {
                    var mine: [String] = []
                    while true {
                        let batch = try await runs.claim(
                            queues: ["q"], owner: "w\(worker)", limit: 3, tenant: self.tenant)
                        if batch.isEmpty { return mine }
                        mine += batch.map(\.id)
                    }
                }
            }
            var all: [[String]] = []
            for try await c in group { all.append(c) }
            return all
        }
        let claimed = claims.flatMap { $0 }
        #expect(claimed.count == 120, "every run claimed exactly once")
        #expect(Set(claimed) == enqueued)
        // Each claim appended one event; the log of every run is gap-free.
        for id in claimed.prefix(10) {
            let events = try await t.runs.events(runId: id, after: 0, limit: 10, tenant: tenant)
            #expect(events.map(\.seq) == Array(1...Int64(events.count)))
        }
    }

    @Test(arguments: StoreEngine.available) func sixteenSavesToOneWorkflowOnTwoReplicasGiveGapFreeSequences(
        engine: StoreEngine
    ) async throws {
        let t = try await TestStore(engine)
        let services = [CheckpointService(store: t.store), CheckpointService(store: try await t.reopen())]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for step in 1...16 {
                let service = services[step % 2]
                group.addTask {
                    _ = try await service.save(
                        .init(workflowId: "race", step: step, state: try JSONParser.parse(#"{"v":\#(step)}"#)),
                        tenant: self.tenant)
                }
            }
            try await group.waitForAll()
        }
        let all = try await services[0].replay(
            workflowId: "race", fromStep: nil, toStep: nil, limit: 100, tenant: tenant)
        #expect(all.checkpoints.map(\.sequence) == Array(1...16))
        #expect(Set(all.checkpoints.map(\.step)) == Set(1...16))
        let (head, _) = try await services[1].resume(workflowId: "race", tenant: tenant)
        #expect(head.totalCheckpoints == 16)
    }

    @Test(arguments: StoreEngine.available) func concurrentUploadsOnTwoReplicasCannotPassTheQuotaTogether(
        engine: StoreEngine
    ) async throws {
        let t = try await TestStore(engine)
        let stores: [any RecordStore] = [t.store, try await t.reopen()]
        let quota: Int64 = 10 * 1_000
        let accepted = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<30 {
                let store = stores[i % 2]
                group.addTask {
                    let artifact = Artifact(
                        id: "art_\(i)", tenant: self.tenant, name: "f\(i)", contentType: "application/octet-stream",
                        size: 1_000, sha256: String(repeating: "a", count: 63) + String(i % 10), owner: nil,
                        metadata: [:], createdAt: .now(), expiresAt: nil, idempotencyKey: nil)
                    do {
                        try await store.insertArtifact(artifact, quota: quota)
                        return true
                    } catch ArtifactError.quotaExceeded {
                        return false
                    }
                }
            }
            var n = 0
            for try await ok in group where ok { n += 1 }
            return n
        }
        #expect(accepted == 10)
        #expect(try await stores[1].artifactUsage(tenant: tenant) == quota)
    }

    @Test(arguments: StoreEngine.available) func oneScheduleFiresOnceWithFourReconcilersOnTwoReplicas(
        engine: StoreEngine
    ) async throws {
        let t = try await TestStore(engine)
        let replicas = [t.runs, try await secondReplica(t)]
        _ = try await t.runs.putSchedule(
            name: "tick", ScheduleRequest(cron: "* * * * *", workflowName: "w"), tenant: tenant)
        try await t.store.write { tx in
            var s = try #require(try await tx.schedule(tenant: self.tenant, name: "tick"))
            s.nextRunAt = Timestamp.now().adding(milliseconds: -1_000)
            try await tx.upsertSchedule(s, tenant: self.tenant)
        }
        let fired = try await withThrowingTaskGroup(of: Int.self) { group in
            for reconciler in 0..<4 {
                let runs = replicas[reconciler % 2]
                group.addTask { try await runs.fireDueSchedules(limit: 10, policy: .once) }
            }
            var total = 0
            for try await n in group { total += n }
            return total
        }
        #expect(fired == 1)
        #expect(try await replicas[1].queueStats(tenant: tenant).first?.queued == 1)
    }

    @Test(arguments: StoreEngine.available) func eachDueDeliveryIsLeasedToOneReplicaUntilItsLeaseRunsOut(
        engine: StoreEngine
    ) async throws {
        let clock = ManualClock()
        let t = try await TestStore(engine, clock: clock)
        let replicas = [
            t.runs,
            RunService(store: try await t.reopen(), configuration: .init(leaseMilliseconds: 60_000), clock: clock),
        ]
        for i in 0..<12 {
            let run = try await t.runs.createRun(
                CreateRunRequest(workflowName: "w", channels: [ChannelSpec(url: "http://a.test/\(i)")]), tenant: tenant)
            _ = try await t.runs.completeRun(id: run.id, result: nil, tenant: tenant)
        }
        let claims = try await withThrowingTaskGroup(of: [String].self) { group in
            for sender in 0..<4 {
                let runs = replicas[sender % 2]
                group.addTask { try await runs.claimDueDeliveries(limit: 5, leaseMilliseconds: 10_000).map(\.id) }
            }
            var all: [[String]] = []
            for try await c in group { all.append(c) }
            return all
        }
        let claimed = claims.flatMap { $0 }
        #expect(claimed.count == 12 && Set(claimed).count == 12, "each delivery leased to exactly one sender")
        // While the leases hold nothing is due; once they run out (the senders died), all are.
        #expect(try await replicas[1].claimDueDeliveries(limit: 50, leaseMilliseconds: 10_000).isEmpty)
        clock.advance(milliseconds: 10_001)
        #expect(
            Set(try await replicas[1].claimDueDeliveries(limit: 50, leaseMilliseconds: 10_000).map(\.id))
                == Set(claimed))
    }

    @Test(arguments: StoreEngine.multiWriter) func eventsCommittedOnOneReplicaReachTheOthersSubscribers(
        engine: StoreEngine
    ) async throws {
        let t = try await TestStore(engine)
        let otherBroker = EventBroker()
        let other = RunService(store: try await t.reopen(broker: otherBroker), configuration: .init())
        let run = try await t.newRun()
        let subscription = otherBroker.subscribe(runId: run.id)
        // Writes through the first replica; the second hears of them through NOTIFY.
        for i in 0..<5 {
            _ = try await t.runs.writeState(
                runId: run.id, value: .object(JSONObject([("i", .int(i))])), mode: .merge, options: .init(),
                tenant: tenant)
        }
        let last = try #require(try await t.runs.events(runId: run.id, after: 0, limit: 100, tenant: tenant).last).seq
        var seen: [Int64] = []
        for await event in subscription.events {
            seen.append(event.seq)
            if event.seq >= last { break }
        }
        // The run's creation may be relayed before the subscription exists; every state write
        // after it arrives, in order and without gaps.
        let first = try #require(seen.first)
        #expect(first <= last - 4)
        #expect(seen == Array(first...last))
        _ = other
    }

    /// Many writers at once on one replica: notices sent while one is on its way are merged
    /// into the next, and every event still reaches the other replica's subscribers.
    @Test(.timeLimit(.minutes(5)), arguments: StoreEngine.multiWriter)
    func concurrentWritersEventsAllReachTheOthersSubscribers(engine: StoreEngine) async throws {
        let t = try await TestStore(engine)
        let otherBroker = EventBroker()
        let other = try await t.reopen(broker: otherBroker)
        var runs: [Run] = []
        for _ in 0..<8 { runs.append(try await t.newRun()) }
        let subscriptions = runs.map { otherBroker.subscribe(runId: $0.id) }
        let writes = 10
        try await withThrowingTaskGroup(of: Void.self) { group in
            for run in runs {
                group.addTask {
                    for i in 0..<writes {
                        _ = try await t.runs.writeState(
                            runId: run.id, value: .object(JSONObject([("i", .int(i))])), mode: .merge,
                            options: .init(), tenant: tenant)
                    }
                }
            }
            try await group.waitForAll()
        }
        for (run, subscription) in zip(runs, subscriptions) {
            let last = try #require(try await t.runs.events(runId: run.id, after: 0, limit: 100, tenant: tenant).last)
            var seen: [Int64] = []
            for await event in subscription.events {
                seen.append(event.seq)
                if event.seq >= last.seq { break }
            }
            // Every state write arrives, in order and without gaps (the creation may come first).
            let first = try #require(seen.first)
            #expect(first <= last.seq - Int64(writes) + 1)
            #expect(seen == Array(first...last.seq))
        }
        _ = other
    }
}
