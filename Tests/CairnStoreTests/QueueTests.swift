import CairnCore
import Testing

/// Queues and the reconciler's sweeps over the embedded store (Tidebase §1.14, §1.16).
@Suite struct QueueTests {
    let tenant = TenantID.default

    func enqueue(
        _ t: TestStore, _ queue: String = "q", dedupe: String? = nil, delayMs: Int64? = nil, priority: Int = 0,
        maxAttempts: Int = 1, deadlineMs: Int64? = nil
    ) async throws -> (Run, Bool) {
        try await t.runs.enqueue(
            queue: queue,
            EnqueueRequest(
                run: CreateRunRequest(workflowName: "job"), dedupeKey: dedupe, delayMilliseconds: delayMs,
                maxAttempts: maxAttempts, priority: priority, deadlineMilliseconds: deadlineMs), tenant: tenant)
    }

    @Test(arguments: StoreEngine.available) func sixConcurrentEnqueuesWithOneDedupeKeyGiveOneRun(engine: StoreEngine)
        async throws
    {
        let t = try await TestStore(engine)
        let results = try await withThrowingTaskGroup(of: (String, Bool).self) { group in
            for _ in 0..<6 {
                group.addTask {
                    let (r, d) = try await self.enqueue(t, dedupe: "k"); return (r.id, d)
                }
            }
            var all: [(String, Bool)] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(Set(results.map(\.0)).count == 1)
        #expect(results.filter { !$0.1 }.count == 1)
        // A terminal run frees the key.
        let id = results[0].0
        _ = try await t.runs.cancelRun(id: id, reason: nil, actor: nil, tenant: tenant)
        let (again, deduplicated) = try await enqueue(t, dedupe: "k")
        #expect(!deduplicated && again.id != id)
    }

    @Test(arguments: StoreEngine.available) func claimsAreDisjointOrderedAndNeverEarly(engine: StoreEngine) async throws
    {
        let t = try await TestStore(engine)
        _ = try await enqueue(t, delayMs: 60_000)
        var ids: [String] = []
        for p in 0..<20 { ids.append(try await enqueue(t, priority: p % 3).0.id) }
        let claims = try await withThrowingTaskGroup(of: [Run].self) { group in
            for w in 0..<4 {
                group.addTask { try await t.runs.claim(queues: ["q"], owner: "w\(w)", limit: 10, tenant: self.tenant) }
            }
            var all: [[Run]] = []
            for try await c in group { all.append(c) }
            return all
        }
        let claimed = claims.flatMap { $0 }
        #expect(claimed.count == 20)
        #expect(Set(claimed.map(\.id)) == Set(ids))
        #expect(claimed.allSatisfy { $0.status == .running && $0.attempt == 1 && $0.claimedAt != nil })
        // Within one claim, higher priority first.
        for c in claims { #expect(c.map(\.priority) == c.map(\.priority).sorted(by: >)) }
        #expect(try await t.runs.claim(queues: ["q"], owner: "late", limit: 10, tenant: tenant).isEmpty)
    }

    /// A claim from one plain queue is one statement on Postgres: what it returns is what it
    /// stored, and each claimed run's event is stored and published alike.
    @Test(arguments: StoreEngine.available) func aClaimReturnsAndPublishesWhatItStored(engine: StoreEngine) async throws
    {
        let t = try await TestStore(engine)
        var ids: [String] = []
        for p in 0..<12 { ids.append(try await enqueue(t, priority: p % 4).0.id) }
        let watched = t.broker.subscribe(runId: ids[3])
        let other = try await t.runs.claim(queues: ["q"], owner: "w", limit: 5, tenant: TenantID(rawValue: "other"))
        #expect(other.isEmpty)
        let claimed = try await t.runs.claim(queues: ["q"], owner: "w", limit: 5, tenant: tenant)
        #expect(claimed.count == 5 && claimed.map(\.priority) == [3, 3, 3, 2, 2])
        let payload = RunService.claimedEventPayload(owner: "w", queue: "q")
        for run in claimed {
            let stored = try await t.store.read { tx in try await tx.run(id: run.id, tenant: self.tenant) }
            #expect(stored == run)
            #expect(run.status == .running && run.leaseOwner == "w" && run.attempt == 1 && run.claimedAt != nil)
            let events = try await t.runs.events(runId: run.id, after: 0, limit: 10, tenant: tenant)
            #expect(events.map(\.seq) == Array(1...Int64(events.count)))
            #expect(events.last?.type == "run.claimed" && events.last?.payload == payload)
            if run.id == ids[3] {
                var iterator = watched.events.makeAsyncIterator()
                #expect(await iterator.next() == events.last)
            }
        }
        #expect(claimed.contains { $0.id == ids[3] })
        let rest = try await t.runs.claim(queues: ["q"], owner: "v", limit: 50, tenant: tenant)
        #expect(rest.count == 7 && Set(rest.map(\.id)).isDisjoint(with: claimed.map(\.id)))
    }

    @Test(arguments: StoreEngine.available) func concurrencyAndRateCapsHold(engine: StoreEngine) async throws {
        let t = try await TestStore(engine)
        for _ in 0..<10 { _ = try await enqueue(t) }
        _ = try await t.runs.configureQueue(name: "q", QueueConfigUpdate(concurrency: .set(3)), tenant: tenant)
        #expect(try await t.runs.claim(queues: ["q"], owner: "a", limit: 10, tenant: tenant).count == 3)
        #expect(try await t.runs.claim(queues: ["q"], owner: "b", limit: 10, tenant: tenant).isEmpty)
        _ = try await t.runs.configureQueue(
            name: "q", QueueConfigUpdate(concurrency: .clear, ratePerMinute: .set(5)), tenant: tenant)
        #expect(try await t.runs.claim(queues: ["q"], owner: "c", limit: 10, tenant: tenant).count == 2)
        let stats = try await t.runs.queueStats(tenant: tenant)
        #expect(stats.map(\.name) == ["q"] && stats[0].running == 5 && stats[0].queued == 5)
        #expect(stats[0].config?.concurrency == nil && stats[0].config?.ratePerMinute == 5)
    }

    @Test(arguments: StoreEngine.available) func failRequeuesWithBackoffThenFailsWithMaxRetries(engine: StoreEngine)
        async throws
    {
        let t = try await TestStore(engine)
        let (run, _) = try await enqueue(t, maxAttempts: 2)
        _ = try await t.runs.claim(queues: ["q"], owner: "w", limit: 1, tenant: tenant)
        let (requeued, wasRequeued) = try await t.runs.failRun(
            id: run.id, error: .string("x"), failureClass: nil, tenant: tenant)
        #expect(wasRequeued && requeued.status == .queued)
        #expect(try #require(requeued.runAt).milliseconds - Timestamp.now().milliseconds > 4_000)
        _ = try await t.runs.beginRun(id: run.id, owner: "w2", tenant: tenant)
        let (failed, again) = try await t.runs.failRun(id: run.id, error: nil, failureClass: "crash", tenant: tenant)
        #expect(!again && failed.status == .failed && failed.failureClass == "max_retries")
    }

    @Test(arguments: StoreEngine.available) func expiredLeasesAreRequeuedThenFailedAndPlainRunsLeftAlone(
        engine: StoreEngine
    ) async throws {
        let clock = ManualClock()
        let t = try await TestStore(engine, leaseMilliseconds: 50, clock: clock)
        let (run, _) = try await enqueue(t, maxAttempts: 2)
        let plain = try await t.newRun()
        _ = try await t.runs.beginRun(id: plain.id, owner: "p", tenant: tenant)
        _ = try await t.runs.claim(queues: ["q"], owner: "w", limit: 1, tenant: tenant)
        clock.advance(milliseconds: 49)
        #expect(try await t.runs.sweepExpiredQueueLeases(limit: 100) == SweepReport())
        clock.advance(milliseconds: 31)
        var report = try await t.runs.sweepExpiredQueueLeases(limit: 100)
        #expect(report.requeued == 1 && report.failed == 0)
        let detail = try await t.runs.runDetail(id: run.id, tenant: tenant)
        #expect(detail.run.status == .queued && detail.run.leaseOwner == nil)
        #expect(detail.events.last?.type == "run.requeued")
        _ = try await t.runs.beginRun(id: run.id, owner: "w2", tenant: tenant)
        clock.advance(milliseconds: 80)
        report = try await t.runs.sweepExpiredQueueLeases(limit: 100)
        #expect(report.failed == 1)
        let failed = try await t.runs.runDetail(id: run.id, tenant: tenant).run
        #expect(failed.status == .failed && failed.failureClass == "max_retries")
        #expect(try await t.runs.runDetail(id: plain.id, tenant: tenant).run.status == .running)
    }

    @Test(arguments: StoreEngine.available) func deadlinesCancelOverdueRuns(engine: StoreEngine) async throws {
        let clock = ManualClock()
        let t = try await TestStore(engine, clock: clock)
        let (run, _) = try await enqueue(t, deadlineMs: 20)
        let (other, _) = try await enqueue(t, deadlineMs: 60_000)
        clock.advance(milliseconds: 19)
        #expect(try await t.runs.sweepDeadlines(limit: 100) == 0)
        clock.advance(milliseconds: 21)
        #expect(try await t.runs.sweepDeadlines(limit: 100) == 1)
        let cancelled = try await t.runs.runDetail(id: run.id, tenant: tenant)
        #expect(cancelled.run.status == .cancelled && cancelled.run.cancelReason == "deadline")
        #expect(cancelled.events.last?.payload == #"{"reason":"deadline","actor":"reconciler"}"#)
        #expect(try await t.runs.runDetail(id: other.id, tenant: tenant).run.status == .queued)
    }

    @Test(arguments: StoreEngine.available) func stalledWebhookRunsGetOneRecoveryCallPerMinute(engine: StoreEngine)
        async throws
    {
        let clock = ManualClock()
        let t = try await TestStore(engine, leaseMilliseconds: 50, clock: clock)
        let run = try await t.runs.createRun(
            CreateRunRequest(workflowName: "hooked", recoveryWebhook: "http://127.0.0.1:9/hook"), tenant: tenant)
        _ = try await t.runs.beginRun(id: run.id, owner: "w", tenant: tenant)
        // 120 plain runs with expired leases must not crowd it out.
        for _ in 0..<120 {
            let p = try await t.newRun()
            _ = try await t.runs.beginRun(id: p.id, owner: "p", tenant: tenant)
        }
        clock.advance(milliseconds: 80)
        let calls = try await t.runs.sweepStalledWebhookRuns(limit: 100)
        #expect(calls.map(\.attempt.runId) == [run.id])
        #expect(calls[0].body.contains(#""reason":"lease_expired""#))
        #expect(try await t.runs.sweepStalledWebhookRuns(limit: 100).isEmpty)
    }

    @Test(arguments: StoreEngine.available) func offsetsBeyondTenYearsAreRefusedBeforeAnythingIsWritten(
        engine: StoreEngine
    ) async throws {
        let t = try await TestStore(engine)
        let tooFar = EnqueueRequest.maxOffsetMilliseconds + 1
        let refused: [(delay: Int64?, deadline: Int64?)] = [
            (tooFar, nil), (-1, nil), (.max, nil), (nil, tooFar), (nil, .max),
        ]
        for (delay, deadline) in refused {
            await #expect(throws: RunError.self) { _ = try await enqueue(t, delayMs: delay, deadlineMs: deadline) }
        }
        #expect(try await t.runs.listRuns(tenant: tenant).runs.isEmpty)
        let (run, _) = try await enqueue(
            t, delayMs: EnqueueRequest.maxOffsetMilliseconds, deadlineMs: EnqueueRequest.maxOffsetMilliseconds)
        #expect(run.runAt == run.createdAt.adding(milliseconds: EnqueueRequest.maxOffsetMilliseconds))
    }

    @Test(arguments: StoreEngine.available) func aPausedQueueTakesEnqueuesButGivesNoRunOutUntilResumed(
        engine: StoreEngine
    ) async throws {
        let clock = ManualClock()
        let t = try await TestStore(engine, clock: clock)
        for _ in 0..<3 { _ = try await enqueue(t) }
        let other = try await enqueue(t, "r").0
        let paused = try await t.runs.setQueuePaused(name: "q", paused: true, tenant: tenant)
        #expect(paused.pausedAt == clock.now())
        #expect(try await t.runs.claim(queues: ["q"], owner: "w", limit: 10, tenant: tenant).isEmpty)
        // Enqueues still land, and other queues in the same claim are served.
        _ = try await enqueue(t)
        #expect(
            try await t.runs.claim(queues: ["q", "r"], owner: "w", limit: 10, tenant: tenant).map(\.id) == [other.id])
        // Pausing again keeps the first pause time; limits set meanwhile keep the pause.
        clock.advance(milliseconds: 1_000)
        #expect(try await t.runs.setQueuePaused(name: "q", paused: true, tenant: tenant).pausedAt == paused.pausedAt)
        _ = try await t.runs.configureQueue(name: "q", QueueConfigUpdate(concurrency: .set(2)), tenant: tenant)
        let stat = try await t.runs.queueStat(name: "q", tenant: tenant)
        #expect(stat.queued == 4 && stat.config?.pausedAt == paused.pausedAt && stat.config?.concurrency == 2)
        #expect(try await t.runs.claim(queues: ["q"], owner: "w", limit: 10, tenant: tenant).isEmpty)
        // Resumed, the queue's caps apply again.
        #expect(try await t.runs.setQueuePaused(name: "q", paused: false, tenant: tenant).pausedAt == nil)
        #expect(try await t.runs.claim(queues: ["q"], owner: "w", limit: 10, tenant: tenant).count == 2)
        _ = try await t.runs.configureQueue(name: "q", QueueConfigUpdate(concurrency: .clear), tenant: tenant)
        #expect(try await t.runs.claim(queues: ["q"], owner: "w", limit: 10, tenant: tenant).count == 2)
        await #expect(throws: RunError.queueNotFound) { _ = try await t.runs.queueStat(name: "nope", tenant: tenant) }
    }

    @Test(arguments: StoreEngine.available) func aPausedPushQueueAnnouncesNothing(engine: StoreEngine) async throws {
        let t = try await TestStore(engine)
        _ = try await t.runs.configureQueue(
            name: "q", QueueConfigUpdate(invokeURL: .set("http://127.0.0.1:9/invoke")), tenant: tenant)
        _ = try await t.runs.setQueuePaused(name: "q", paused: true, tenant: tenant)
        // A queue with a config and no runs is known, with zero counts.
        let configured = try await t.runs.queueStat(name: "q", tenant: tenant)
        #expect(configured.queued == 0 && configured.config?.invokeURL == "http://127.0.0.1:9/invoke")
        let run = try await enqueue(t).0
        #expect(try await t.runs.dispatchPushQueues(perQueue: 10).isEmpty)
        _ = try await t.runs.setQueuePaused(name: "q", paused: false, tenant: tenant)
        #expect(try await t.runs.dispatchPushQueues(perQueue: 10).map(\.attempt.runId) == [run.id])
    }

    @Test(arguments: StoreEngine.available) func activityCountsClaimsAndOutcomesPerWindow(engine: StoreEngine)
        async throws
    {
        let clock = ManualClock()
        let t = try await TestStore(engine, clock: clock)
        var ids: [String] = []
        for _ in 0..<4 { ids.append(try await enqueue(t).0.id) }
        _ = try await enqueue(t, "idle")
        #expect(try await t.runs.claim(queues: ["q"], owner: "w", limit: 3, tenant: tenant).count == 3)
        _ = try await t.runs.completeRun(id: ids[0], result: .string("ok"), tenant: tenant)
        _ = try await t.runs.failRun(id: ids[1], error: .string("x"), failureClass: nil, tenant: tenant)
        clock.advance(milliseconds: 120_000)
        #expect(try await t.runs.claim(queues: ["q"], owner: "w", limit: 3, tenant: tenant).count == 1)
        let stats = try await t.runs.queueStats(tenant: tenant, activity: true)
        let q = try #require(stats.first { $0.name == "q" })
        #expect(
            q.activity == [
                QueueActivity(windowMilliseconds: 60_000, claimed: 1, completed: 0, failed: 0),
                QueueActivity(windowMilliseconds: 900_000, claimed: 4, completed: 1, failed: 1),
            ])
        let idle = try #require(stats.first { $0.name == "idle" })
        #expect(idle.activity.map(\.claimed) == [0, 0])
        // One queue's stat is read on its own, and is its entry in the whole list.
        #expect(try await t.runs.queueStat(name: "q", tenant: tenant) == q)
        #expect(try await t.runs.queueStat(name: "idle", tenant: tenant) == idle)
        // Without asking, no activity is counted.
        #expect(try await t.runs.queueStats(tenant: tenant).allSatisfy { $0.activity.isEmpty })
        clock.advance(milliseconds: 900_000)
        #expect(try await t.runs.queueStat(name: "q", tenant: tenant).activity.map(\.claimed) == [0, 0])
    }
}
