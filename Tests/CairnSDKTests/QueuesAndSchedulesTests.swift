import Cairn
import Testing

@Suite struct QueuesAndSchedulesTests {
    @Test(arguments: TransportKind.allCases)
    func queueConfigurationAndStats(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            try await cairn.enqueue("job", queue: "mail", input: 1)
            try await cairn.enqueue("job", queue: "mail", input: 2)
            var config = try await cairn.queues.configure("mail", concurrency: .set(1), ratePerMinute: .set(60))
            #expect(config.concurrency == 1 && config.ratePerMinute == 60)
            config = try await cairn.queues.configure("mail", concurrency: .clear)
            #expect(config.concurrency == nil && config.ratePerMinute == 60)
            let stats = try await cairn.queues.stats()
            #expect(stats.map(\.name) == ["mail"] && stats[0].queued == 2 && stats[0].config?.ratePerMinute == 60)
        }
    }

    @Test(arguments: TransportKind.allCases)
    func aPausedQueueKeepsItsRunsUntilResumed(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            try await cairn.enqueue("job", queue: "mail", input: 1)
            let paused = try await cairn.queues.pause("mail")
            #expect(paused.config?.pausedAt != nil && paused.queued == 1)
            #expect(try await cairn.queues.stat("mail").activity.map(\.windowMilliseconds) == [60_000, 900_000])
            let resumed = try await cairn.queues.resume("mail")
            #expect(resumed.config?.pausedAt == nil && resumed.queued == 1)
            await #expect(throws: CairnError.self) { _ = try await cairn.queues.stat("never") }
        }
    }

    @Test(arguments: TransportKind.allCases)
    func schedulesSetListDeleteAndRefuseBadCron(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let schedule = try await cairn.schedules.set(
                "nightly", cron: "30 2 * * *", workflow: "report", input: ["full": true])
            #expect(schedule.nextRunAt?.iso8601.hasSuffix("T02:30:00.000Z") == true)
            try await cairn.schedules.set("hourly", cron: "0 * * * *", workflow: "tick", input: 0, queue: "ticks")
            #expect(try await cairn.schedules.list().map(\.name) == ["hourly", "nightly"])
            try await cairn.schedules.delete("hourly")
            #expect(try await cairn.schedules.list().map(\.name) == ["nightly"])
            await #expect(throws: CairnError.self) { try await cairn.schedules.delete("hourly") }
            do {
                try await cairn.schedules.set("bad", cron: "61 * * * *", workflow: "w", input: 0)
                Issue.record("an invalid cron must be refused")
            } catch CairnError.invalidCron(_, let field) {
                #expect(field == "minute")
            }
        }
    }
}
