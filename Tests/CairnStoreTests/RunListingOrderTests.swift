import CairnCore
import Testing

/// The runs list in both orders, its filters, and a run's forks, paged with cursors, on both
/// engines: every run is listed exactly once, in order, whatever the page size.
@Suite struct RunListingOrderTests {
    let tenant = TenantID.default

    /// Every page of `query`, followed by cursor.
    func allPages(_ t: TestStore, _ query: RunListQuery) async throws -> [Run] {
        var query = query
        var all: [Run] = []
        while true {
            let page = try await t.runs.listRuns(tenant: tenant, query)
            all += page.runs
            guard let next = page.next else { return all }
            query.after = next
        }
    }

    @Test(arguments: StoreEngine.available) func bothOrdersListEveryRunOnceWithFiltersAndTies(engine: StoreEngine)
        async throws
    {
        let clock = ManualClock()
        let t = try await TestStore(engine, clock: clock)
        var created: [Run] = []
        for i in 0..<11 {
            // Pairs share a creation time, so the id decides between them.
            if i % 2 == 0 { clock.advance(milliseconds: 10) }
            created.append(try await t.newRun(i % 3 == 0 ? "a" : "b"))
        }
        _ = try await t.runs.cancelRun(id: created[4].id, reason: nil, actor: nil, tenant: tenant)
        let oldestFirst = created.sorted { ($0.createdAt.milliseconds, $0.id) < ($1.createdAt.milliseconds, $1.id) }
        for limit in [1, 3, 100] {
            let ascending = try await allPages(t, RunListQuery(limit: limit, oldestFirst: true))
            #expect(ascending.map(\.id) == oldestFirst.map(\.id))
            let descending = try await allPages(t, RunListQuery(limit: limit))
            #expect(descending.map(\.id) == oldestFirst.reversed().map(\.id))
            let workflowA = try await allPages(t, RunListQuery(limit: limit, workflowName: "a", oldestFirst: true))
            #expect(workflowA.map(\.id) == oldestFirst.filter { $0.workflowName == "a" }.map(\.id))
            let cancelled = try await allPages(t, RunListQuery(limit: limit, status: .cancelled))
            #expect(cancelled.map(\.id) == [created[4].id])
            let pending = try await allPages(t, RunListQuery(limit: limit, status: .pending, workflowName: "b"))
            #expect(
                pending.map(\.id)
                    == oldestFirst.reversed().filter { $0.workflowName == "b" && $0.id != created[4].id }.map(\.id))
        }
        #expect(try await t.runs.listRuns(tenant: tenant, RunListQuery(status: .queued)).runs.isEmpty)
    }

    @Test(arguments: StoreEngine.available) func aRunsForksAreListedNewestFirstInPages(engine: StoreEngine) async throws
    {
        let clock = ManualClock()
        let t = try await TestStore(engine, clock: clock)
        let parent = try await t.newRun()
        guard
            case .execute(let step, let owner) = try await t.runs.beginStep(
                runId: parent.id, BeginStepRequest(name: "s", inputHash: "h", leaseOwner: "w"), tenant: tenant)
        else { throw RunError.invalid("the step did not execute") }
        _ = try await t.runs.completeStep(
            runId: parent.id, stepId: step.id, leaseOwner: owner, output: .string("o"), tenant: tenant)
        var forks: [Run] = []
        for i in 0..<5 {
            if i != 2 { clock.advance(milliseconds: 10) }  // two forks share a time
            forks.append(try await t.runs.forkRun(id: parent.id, atStep: "s", tenant: tenant).0)
        }
        // A fork of a fork is its own parent's fork, not this run's.
        let grandchild = try await t.runs.forkRun(id: forks[0].id, atStep: "s", tenant: tenant).0
        let newestFirst = forks.sorted { ($0.createdAt.milliseconds, $0.id) > ($1.createdAt.milliseconds, $1.id) }
        var listed: [ForkedRun] = []
        var after: ListCursor?
        repeat {
            let page = try await t.runs.runForks(of: parent.id, after: after, limit: 2, tenant: tenant)
            #expect(page.forks.count <= 2)
            listed += page.forks
            after = page.next
        } while after != nil
        #expect(listed.map(\.run.id) == newestFirst.map(\.id))
        #expect(listed.allSatisfy { $0.fork.parentRunId == parent.id && $0.fork.stepName == "s" })
        let ofFork = try await t.runs.runForks(of: forks[0].id, after: nil, limit: 10, tenant: tenant)
        #expect(ofFork.forks.map(\.run.id) == [grandchild.id] && ofFork.next == nil)
        let overview = try await t.runs.overview(
            id: parent.id, eventLimit: 10, stepLimit: 10, forkLimit: 3, tenant: tenant)
        #expect(overview.forks.forks.map(\.run.id) == Array(newestFirst.prefix(3).map(\.id)))
        #expect(overview.forks.next != nil)
        await #expect(throws: RunError.runNotFound) {
            _ = try await t.runs.runForks(of: parent.id, after: nil, limit: 10, tenant: TenantID(rawValue: "other"))
        }
        await #expect(throws: RunError.self) {
            _ = try await t.runs.runForks(of: parent.id, after: nil, limit: 0, tenant: tenant)
        }
    }

    /// A run's overview shows the newest usage entries and the whole ledger's totals, summed by
    /// the database: entries sharing a time keep their recording order, an entry without a total
    /// counts input plus output, and one with no figures counts nothing.
    @Test(arguments: StoreEngine.available) func anOverviewShowsTheNewestUsageAndTheWholeLedgersTotals(
        engine: StoreEngine
    ) async throws {
        let clock = ManualClock()
        let t = try await TestStore(engine, clock: clock)
        let run = try await t.newRun("ledger")
        var recorded: [UsageRecord] = []
        var tokens = 0
        var cost = 0.0
        for i in 0..<(RunOverview.maxUsage + 13) {
            if i % 3 == 0 { clock.advance(milliseconds: 1) }
            var request = RecordUsageRequest()
            switch i % 3 {
            case 0:
                request.totalTokens = i
                tokens += i
            case 1:
                request.inputTokens = i
                request.outputTokens = 2
                tokens += i + 2
            default: break
            }
            if i % 2 == 0 {
                request.costUsd = 0.25
                cost += 0.25
            }
            recorded.append(try await t.runs.recordUsage(runId: run.id, request, tenant: tenant))
        }
        let overview = try await t.runs.overview(id: run.id, eventLimit: 1, stepLimit: 1, tenant: tenant)
        #expect(overview.newestUsage.map(\.id) == recorded.reversed().prefix(RunOverview.maxUsage).map(\.id))
        #expect(overview.usageTotals == UsageTotals(records: recorded.count, tokens: tokens, costUsd: cost))
        let idle = try await t.newRun("idle")
        let empty = try await t.runs.overview(id: idle.id, eventLimit: 1, stepLimit: 1, tenant: tenant)
        #expect(empty.newestUsage.isEmpty && empty.usageTotals == UsageTotals(records: 0, tokens: 0, costUsd: 0))
    }
}
