import CairnCore
import Testing

@testable import CairnStore

@Suite struct SQLiteStoreTests {
    @Test func migrationsAreRecordedAndIdempotent() async throws {
        let t = try await TestStore()
        #expect(try t.sqlite.schemaVersion() == Migrations.all.map(\.version).max())
        // Opening again applies nothing twice.
        #expect(try (try await t.reopen() as! SQLiteStore).schemaVersion() == Migrations.all.map(\.version).max())
    }

    @Test(arguments: StoreEngine.available) func concurrentWritesAreAllDurable(engine: StoreEngine) async throws {
        let t = try await TestStore(engine)
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<200 { group.addTask { try await t.newRun("wf\(i)").id } }
            var ids: [String] = []
            for try await id in group { ids.append(id) }
            return ids
        }
        #expect(Set(ids).count == 200)
        // A separate connection (as after a restart) sees every acknowledged write.
        let reopened = try await t.reopen()
        let stored = try await reopened.read { tx in
            try await tx.runs(tenant: .default, query: RunListQuery(limit: 1000), now: .now())
        }
        #expect(Set(stored.map(\.id)) == Set(ids))
    }

    /// Writes that arrive while a transaction is open queue up and all share the next commit:
    /// the first write holds its transaction open until every other one has queued.
    @Test func writesQueuedBehindAnOpenTransactionShareOneCommit() async throws {
        let t = try await TestStore()
        let writers = 50
        let (entered, enteredSignal) = AsyncStream<Void>.makeStream()
        let (release, releaseSignal) = AsyncStream<Void>.makeStream()
        let commitsBefore = t.sqlite.commitCount
        let holder = Task {
            try await t.store.write { _ in
                enteredSignal.yield()
                for await _ in release { break }
            }
        }
        var enteredIterator = entered.makeAsyncIterator()
        _ = await enteredIterator.next()
        let queued = Task {
            try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<writers { group.addTask { try await t.newRun("queued\(i)").id } }
                var ids: [String] = []
                for try await id in group { ids.append(id) }
                return ids
            }
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while t.sqlite.queuedWriteCount < writers {
            try #require(ContinuousClock.now < deadline, "only \(t.sqlite.queuedWriteCount) writes queued")
            try await Task.sleep(for: .milliseconds(1))
        }
        releaseSignal.yield()
        try await holder.value
        let ids = try await queued.value
        #expect(Set(ids).count == writers)
        // One commit for the holder, one for everything that queued behind it.
        #expect(t.sqlite.commitCount - commitsBefore == 2)
        let stored = try await t.reopen().read { tx in
            try await tx.runs(tenant: .default, query: RunListQuery(limit: 1000), now: .now())
        }
        #expect(Set(stored.map(\.id)) == Set(ids))
    }

    @Test func aFailingRequestRollsBackOnlyItsOwnWrites() async throws {
        let t = try await TestStore()
        let run = try await t.newRun()
        let good = Task {
            _ = try await t.runs.writeState(
                runId: run.id, value: .int(1), mode: .replace, options: .init(), tenant: .default)
        }
        let bad = Task {
            try await t.store.write { tx in
                _ = try await tx.appendEvent(runId: run.id, type: "doomed", payload: "{}", at: .now())
                throw Boom()
            }
        }
        try await good.value
        await #expect(throws: Boom.self) { try await bad.value }
        let events = try await t.runs.events(runId: run.id, after: 0, limit: 100, tenant: .default)
        #expect(events.map(\.type) == ["run.created", "state.updated"])
        #expect(events.map(\.seq) == [1, 2])
    }

    @Test func eventsReachSubscribersOnlyAfterCommitAndNeverWhenRolledBack() async throws {
        let t = try await TestStore()
        let run = try await t.newRun()
        let subscription = t.broker.subscribe(runId: run.id)
        await #expect(throws: Boom.self) {
            try await t.store.write { tx in
                _ = try await tx.appendEvent(runId: run.id, type: "rolled.back", payload: "{}", at: .now())
                throw Boom()
            }
        }
        _ = try await t.runs.recordUsage(runId: run.id, RecordUsageRequest(), tenant: .default)
        var iterator = subscription.events.makeAsyncIterator()
        let first = await iterator.next()
        #expect(first?.type == "usage.recorded")
        #expect(first?.seq == 2)
    }

    @Test func rowsRoundTripThroughTheStore() async throws {
        let t = try await TestStore()
        let run = try await t.newRun("roundtrip", input: #"{"z":[1,2.50],"a":{"k":null}}"#)
        let fetched = try await t.store.read { tx in try await tx.run(id: run.id, tenant: .default) }
        #expect(fetched == run)
        #expect(fetched?.input == #"{"z":[1,2.50],"a":{"k":null}}"#)
        // Another tenant cannot see it.
        let hidden = try await t.store.read { tx in try await tx.run(id: run.id, tenant: TenantID(rawValue: "other")) }
        #expect(hidden == nil)
    }

    /// A claim marks its runs by primary key. SQLite planned the earlier form of this update
    /// (with a tenant term) through the tenant's creation index, so each claim read every run
    /// of the tenant: 9,069 claims/s from a queue of 2,000, 1,389/s from one of 40,000.
    @Test func aClaimMarksItsRunsByPrimaryKey() async throws {
        let t = try await TestStore()
        let statement = RunSQL.markClaimed(["a", "b", "c"], owner: "w", leaseExpiresAt: .now(), at: .now())
        let plan = try await t.sqlite.writeSQLite { tx in
            try tx.connection.all("EXPLAIN QUERY PLAN \(statement)") { r -> String in
                _ = (r.int(), r.int(), r.int())
                return r.string()
            }
        }
        #expect(!plan.isEmpty)
        #expect(plan.allSatisfy { $0.hasPrefix("SEARCH runs USING INDEX sqlite_autoindex_runs_1 (id=?)") }, "\(plan)")
    }

    /// The hot writes do the same work whatever the number of the tenant's runs. Work is counted
    /// in SQLite's virtual-machine steps, which do not depend on timing: a plan that walks a
    /// tenant-wide index (as the claim's update once did) makes them grow with the runs.
    @Test func hotWritesDoNotGrowWithTheTenantsRuns() async throws {
        try expectSameWork(try await hotWriteSteps(backlog: 100), try await hotWriteSteps(backlog: 1_000))
    }

    /// Saving, resuming and reading a page of a checkpoint history, the first or one from a
    /// later step, do the same work with 100 or 1,000 checkpoints saved in step order.
    @Test func checkpointWorkDoesNotGrowWithTheHistory() async throws {
        try expectSameWork(try await checkpointSteps(history: 100), try await checkpointSteps(history: 1_000))
    }

    /// Equal today; a quarter more leaves room for SQLite's own changes, not for a scan.
    private func expectSameWork(_ small: [String: Int], _ large: [String: Int]) throws {
        #expect(Set(small.keys) == Set(large.keys))
        for (operation, steps) in small.sorted(by: { $0.key < $1.key }) {
            let grown = try #require(large[operation])
            #expect(grown * 4 <= steps * 5, "\(operation): \(steps) steps with 100, \(grown) with 1,000")
        }
    }

    /// Times each operation's work in virtual-machine steps, one after another.
    private struct WorkLaps {
        let store: SQLiteStore
        var mark: Int
        var steps: [String: Int] = [:]

        init(_ store: SQLiteStore) {
            self.store = store
            mark = store.work.virtualMachineSteps
        }

        mutating func lap(_ operation: String) {
            let now = store.work.virtualMachineSteps
            steps[operation] = now - mark
            mark = now
        }
    }

    /// The steps each hot write takes on a store whose tenant has `backlog` runs in the queue.
    private func hotWriteSteps(backlog: Int) async throws -> [String: Int] {
        let t = try await TestStore()
        let runs = t.runs
        let tenant = TenantID.default
        func enqueue() async throws -> Run {
            try await runs.enqueue(
                queue: "q", EnqueueRequest(run: CreateRunRequest(workflowName: "job")), tenant: tenant
            ).run
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<backlog { group.addTask { _ = try await enqueue() } }
            try await group.waitForAll()
        }
        var laps = WorkLaps(t.sqlite)
        _ = try await enqueue()
        laps.lap("enqueue")
        let claimed = try await runs.claim(queues: ["q"], owner: "w", limit: 10, tenant: tenant)
        try #require(claimed.count == 10)
        laps.lap("claim")
        guard
            case .execute(let step, let owner) = try await runs.beginStep(
                runId: claimed[0].id, BeginStepRequest(name: "fetch", inputHash: "h"), tenant: tenant)
        else { throw Boom() }
        laps.lap("begin a step")
        _ = try await runs.completeStep(
            runId: claimed[0].id, stepId: step.id, leaseOwner: owner, output: .string("ok"), tenant: tenant)
        laps.lap("complete a step")
        _ = try await runs.completeRun(id: claimed[0].id, result: .string("done"), tenant: tenant)
        laps.lap("complete a run")
        _ = try await t.newRun("direct")
        laps.lap("create a run")
        return laps.steps
    }

    /// The steps of a save, a resume, and a replay of the first 100 checkpoints and of the last
    /// 100, on a workflow with `history` checkpoints already, saved in step order.
    private func checkpointSteps(history: Int) async throws -> [String: Int] {
        let t = try await TestStore()
        let checkpoints = CheckpointService(store: t.store)
        func save(_ step: Int) async throws {
            let state = try JSONParser.parse(#"{"step":\#(step)}"#)
            _ = try await checkpoints.save(.init(workflowId: "wf", step: step, state: state), tenant: .default)
        }
        for step in 0..<history { try await save(step) }
        var laps = WorkLaps(t.sqlite)
        try await save(history)
        laps.lap("save")
        _ = try await checkpoints.resume(workflowId: "wf", tenant: .default)
        laps.lap("resume")
        let page = try await checkpoints.replay(
            workflowId: "wf", fromStep: nil, toStep: nil, limit: 100, tenant: .default)
        try #require(page.checkpoints.count == 100)
        laps.lap("replay the first page")
        let later = try await checkpoints.replay(
            workflowId: "wf", fromStep: history - 99, toStep: nil, limit: 100, tenant: .default)
        try #require(later.checkpoints.first?.step == history - 99 && later.checkpoints.count == 100)
        laps.lap("replay a page from a later step")
        return laps.steps
    }
}
