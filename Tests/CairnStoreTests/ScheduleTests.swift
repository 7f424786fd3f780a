import CairnCore
import CairnStore
import Testing

@Suite struct ScheduleTests {
    let tenant = TenantID.default

    /// Makes the schedule due at `due` (as if its time came while nothing was watching).
    func makeDue(_ t: TestStore, _ name: String, at due: Timestamp) async throws {
        try await t.store.write { tx in
            var s = try #require(try await tx.schedule(tenant: self.tenant, name: name))
            s.nextRunAt = due
            try await tx.upsertSchedule(s, tenant: self.tenant)
        }
    }

    @Test(arguments: StoreEngine.available) func putListDeleteAndInvalidCron(engine: StoreEngine) async throws {
        let t = try await TestStore(engine)
        let s = try await t.runs.putSchedule(
            name: "nightly", ScheduleRequest(cron: "0 3 * * *", workflowName: "report", input: .int(1)), tenant: tenant)
        #expect(s.queue == "default" && s.enabled && s.input == "1")
        let next = try #require(s.nextRunAt)
        #expect(next > Timestamp.now() && next.iso8601.hasSuffix("T03:00:00.000Z"))
        _ = try await t.runs.putSchedule(
            name: "a", ScheduleRequest(cron: "*/5 * * * *", workflowName: "w"), tenant: tenant)
        #expect(try await t.runs.schedules(tenant: tenant).map(\.name) == ["a", "nightly"])
        do {
            _ = try await t.runs.putSchedule(
                name: "bad", ScheduleRequest(cron: "0 25 * * *", workflowName: "w"), tenant: tenant)
            Issue.record("an invalid cron must be refused")
        } catch RunError.invalidCron(let message, let field) {
            #expect(field == "hour" && message.contains("hour"))
        }
        try await t.runs.deleteSchedule(name: "a", tenant: tenant)
        await #expect(throws: RunError.scheduleNotFound) { try await t.runs.deleteSchedule(name: "a", tenant: tenant) }
    }

    @Test(arguments: StoreEngine.available) func aDueTimeFiresExactlyOnceWithRacingReconcilers(engine: StoreEngine)
        async throws
    {
        let t = try await TestStore(engine)
        _ = try await t.runs.putSchedule(
            name: "tick", ScheduleRequest(cron: "* * * * *", workflowName: "w"), tenant: tenant)
        try await makeDue(t, "tick", at: Timestamp.now().adding(milliseconds: -1_000))
        let firing = Timestamp.now()
        let fired = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 { group.addTask { try await t.runs.fireDueSchedules(limit: 10, policy: .once) } }
            var total = 0
            for try await n in group { total += n }
            return total
        }
        #expect(fired == 1)
        let stats = try await t.runs.queueStats(tenant: tenant)
        #expect(stats.first?.queued == 1)
        let claimed = try #require(
            try await t.runs.claim(queues: ["default"], owner: "w", limit: 5, tenant: tenant).first)
        #expect(claimed.dedupeKey?.hasPrefix("sched:tick:") == true)
        #expect(claimed.metadata.contains(#""schedule":"tick""#))
        let schedule = try #require(try await t.runs.schedules(tenant: tenant).first)
        let next = try #require(schedule.nextRunAt)
        // Past the moment it fired (not "now": a slow machine may reach the next minute first).
        #expect(schedule.lastEnqueuedAt != nil && next > firing)
    }

    @Test(arguments: StoreEngine.available) func missedFiresFollowThePolicy(engine: StoreEngine) async throws {
        for (policy, expected) in [(MissedFirePolicy.once, 1), (.skip, 0), (.all, 5)] {
            let t = try await TestStore(engine)
            _ = try await t.runs.putSchedule(
                name: "m", ScheduleRequest(cron: "* * * * *", workflowName: "w"), tenant: tenant)
            // Down for five minutes: due times at -5, -4, -3, -2 and -1 minutes (on whole minutes).
            let minute: Int64 = 60_000
            let lastWholeMinute = Timestamp.now().milliseconds / minute * minute
            try await makeDue(t, "m", at: Timestamp(milliseconds: lastWholeMinute - 4 * minute))
            #expect(try await t.runs.fireDueSchedules(limit: 10, policy: policy) == expected, "\(policy)")
            #expect(try await t.runs.fireDueSchedules(limit: 10, policy: policy) == 0)
        }
    }

    @Test(arguments: StoreEngine.available) func disabledSchedulesDoNotFire(engine: StoreEngine) async throws {
        let t = try await TestStore(engine)
        _ = try await t.runs.putSchedule(
            name: "off", ScheduleRequest(cron: "* * * * *", workflowName: "w", enabled: false), tenant: tenant)
        try await makeDue(t, "off", at: Timestamp.now().adding(milliseconds: -1_000))
        #expect(try await t.runs.fireDueSchedules(limit: 10, policy: .once) == 0)
    }
}
