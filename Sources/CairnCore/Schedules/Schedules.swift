/// A cron schedule that enqueues a run of a workflow at each due time (Tidebase §1.15).
public struct Schedule: Sendable, Equatable {
    public var name: String
    public var cron: String
    public var workflowName: String
    public var input: RawJSON
    public var queue: String
    public var maxAttempts: Int
    public var enabled: Bool
    public var nextRunAt: Timestamp?
    public var lastEnqueuedAt: Timestamp?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        name: String, cron: String, workflowName: String, input: RawJSON, queue: String, maxAttempts: Int,
        enabled: Bool,
        nextRunAt: Timestamp?, lastEnqueuedAt: Timestamp?, createdAt: Timestamp, updatedAt: Timestamp
    ) {
        self.name = name
        self.cron = cron
        self.workflowName = workflowName
        self.input = input
        self.queue = queue
        self.maxAttempts = maxAttempts
        self.enabled = enabled
        self.nextRunAt = nextRunAt
        self.lastEnqueuedAt = lastEnqueuedAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// What to do with due times that passed while no reconciler ran (the server was down).
public enum MissedFirePolicy: String, Sendable, CaseIterable {
    /// Fire once for all of them, then continue with the next future time (the default).
    case once
    /// Fire none of them; continue with the next future time.
    case skip
    /// Fire once per missed time, oldest first (at most 1,000 per schedule per pass).
    case all
}

public struct ScheduleRequest: Sendable {
    public var cron: String
    public var workflowName: String
    public var input: JSONValue?
    public var queue: String
    public var maxAttempts: Int
    public var enabled: Bool
    public init(
        cron: String, workflowName: String, input: JSONValue? = nil, queue: String = "default", maxAttempts: Int = 1,
        enabled: Bool = true
    ) {
        self.cron = cron
        self.workflowName = workflowName
        self.input = input
        self.queue = queue
        self.maxAttempts = maxAttempts
        self.enabled = enabled
    }
}

public protocol ScheduleReadTransaction: Sendable {
    func schedules(tenant: TenantID) async throws -> [Schedule]
    func schedule(tenant: TenantID, name: String) async throws -> Schedule?
    /// Enabled schedules due at `now`, across tenants.
    func dueSchedules(now: Timestamp, limit: Int) async throws -> [(tenant: TenantID, schedule: Schedule)]
}

public protocol ScheduleWriteTransaction: ScheduleReadTransaction {
    func upsertSchedule(_ schedule: Schedule, tenant: TenantID) async throws
    func deleteSchedule(tenant: TenantID, name: String) async throws -> Bool
}

/// A moment the schedule was due within a minute of counts as on time, not missed.
private let onTimeToleranceMs: Int64 = 60_000

extension RunService {
    /// Creates or replaces a schedule. An invalid cron expression is refused with the field it
    /// is wrong in.
    public func putSchedule(name: String, _ request: ScheduleRequest, tenant: TenantID) async throws -> Schedule {
        let cron: CronExpression
        do {
            cron = try CronExpression(parsing: request.cron)
        } catch {
            throw RunError.invalidCron(error.message, field: error.field)
        }
        return try await store.write { tx in
            let now = clock.now()
            let existing = try await tx.schedule(tenant: tenant, name: name)
            let schedule = Schedule(
                name: name, cron: request.cron, workflowName: request.workflowName,
                input: request.input.textOrEmptyObject,
                queue: request.queue, maxAttempts: request.maxAttempts, enabled: request.enabled,
                nextRunAt: cron.nextFire(afterMilliseconds: now.milliseconds).map(Timestamp.init(milliseconds:)),
                lastEnqueuedAt: existing?.lastEnqueuedAt, createdAt: existing?.createdAt ?? now, updatedAt: now)
            try await tx.upsertSchedule(schedule, tenant: tenant)
            return schedule
        }
    }

    public func schedules(tenant: TenantID) async throws -> [Schedule] {
        try await store.read { tx in try await tx.schedules(tenant: tenant) }
    }

    public func deleteSchedule(name: String, tenant: TenantID) async throws {
        try await store.write { tx in
            guard try await tx.deleteSchedule(tenant: tenant, name: name) else { throw RunError.scheduleNotFound }
        }
    }

    /// Enqueues a run for every due schedule and moves each to its next due time, in one
    /// transaction. The run's dedupe key names the schedule and the due time, so a due time can
    /// only ever produce one run, however many reconcilers race for it.
    public func fireDueSchedules(limit: Int, policy: MissedFirePolicy) async throws -> Int {
        try await store.write { tx in
            let now = clock.now()
            var fired = 0
            for (tenant, var schedule) in try await tx.dueSchedules(now: now, limit: limit) {
                guard let due = schedule.nextRunAt, let cron = try? CronExpression(parsing: schedule.cron) else {
                    continue
                }
                var fireTimes: [Timestamp] = []
                let missed = now.milliseconds - due.milliseconds > onTimeToleranceMs
                switch (missed, policy) {
                case (false, _), (true, .once): fireTimes = [due]
                case (true, .skip): fireTimes = []
                case (true, .all):
                    var t: Timestamp? = due
                    while let time = t, time <= now, fireTimes.count < 1_000 {
                        fireTimes.append(time)
                        t = cron.nextFire(afterMilliseconds: time.milliseconds).map(Timestamp.init(milliseconds:))
                    }
                }
                for fireTime in fireTimes {
                    let key = "sched:\(schedule.name):\(fireTime.iso8601)"
                    if try await tx.activeRun(tenant: tenant, queue: schedule.queue, dedupeKey: key) != nil { continue }
                    var run = Run(
                        id: Identifier.make("run_"), tenant: tenant, workflowName: schedule.workflowName,
                        input: schedule.input,
                        metadata: jsonObject { w in
                            w.field("schedule", schedule.name)
                            w.field("fireTime", fireTime.iso8601)
                        }, status: .queued, recoveryWebhook: nil, now: now)
                    run.queue = schedule.queue
                    run.dedupeKey = key
                    run.runAt = now
                    run.maxAttempts = schedule.maxAttempts
                    try await tx.insertRun(run)
                    _ = try await tx.appendEvent(
                        runId: run.id, type: "run.enqueued",
                        payload: jsonObject { w in
                            w.field("queue", schedule.queue)
                            w.field("runAt", timestamp: now)
                            w.field("schedule", schedule.name)
                            w.field("fireTime", fireTime.iso8601)
                        }, at: now)
                    fired += 1
                }
                schedule.lastEnqueuedAt = fireTimes.isEmpty ? schedule.lastEnqueuedAt : now
                schedule.nextRunAt = cron.nextFire(afterMilliseconds: now.milliseconds).map(
                    Timestamp.init(milliseconds:))
                schedule.updatedAt = now
                try await tx.upsertSchedule(schedule, tenant: tenant)
            }
            return fired
        }
    }
}
