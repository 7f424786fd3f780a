import CairnCore
import Foundation

/// Workflows a worker can run, by name.
public struct Workflows: Sendable {
    typealias Handler = @Sendable (Cairn, Run, _ leaseOwner: String) async throws -> Void
    var handlers: [String: Handler] = [:]

    public init() {}

    /// Registers `body` as the workflow called `name`.
    public mutating func register<Input: Codable & Sendable, Output: Codable & Sendable>(
        _ name: String, _ body: @escaping @Sendable (RunContext, Input) async throws -> Output
    ) {
        handlers[name] = { cairn, run, owner in _ = try await cairn.execute(run: run, leaseOwner: owner, body) }
    }
}

extension Cairn {
    /// Enqueues a run of `workflow` on `queue`; with a `dedupeKey`, an active run holding the
    /// key is returned instead of a new one. The options are the Python SDK's: `delay` or
    /// `runAt` (not before), `priority` (higher is claimed first), `maxAttempts` (retries with
    /// backoff after failures), `deadline` (cancelled if not finished within it, from now).
    @discardableResult
    public func enqueue<Input: Codable & Sendable>(
        _ workflow: String, queue: String = "default", input: Input, dedupeKey: String? = nil,
        delay: Duration? = nil, runAt: Date? = nil, priority: Int = 0, maxAttempts: Int = 1,
        deadline: Duration? = nil
    )
        async throws -> Run
    {
        try await transport.enqueue(
            queue: queue,
            EnqueueRequest(
                run: CreateRunRequest(workflowName: workflow, input: try CodableJSON.encode(input)),
                dedupeKey: dedupeKey, delayMilliseconds: delay.map(Self.milliseconds),
                runAt: try runAt.map(Self.timestamp),
                maxAttempts: maxAttempts, priority: priority, deadlineMilliseconds: deadline.map(Self.milliseconds)))
    }

    static func timestamp(_ date: Date) throws -> Timestamp {
        guard let ms = Int64(exactly: (date.timeIntervalSince1970 * 1000).rounded(.down)) else {
            throw CairnError.encoding("runAt \(date) is out of range")
        }
        return Timestamp(milliseconds: ms)
    }

    /// Whole milliseconds of a duration (the wire's unit), rounded down.
    static func milliseconds(_ d: Duration) -> Int64 {
        let (seconds, attoseconds) = d.components
        let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        return overflow ? (seconds < 0 ? .min : .max) : ms &+ attoseconds / 1_000_000_000_000_000
    }

    /// Claims runs from `queues` and executes their registered workflows until the task is
    /// cancelled (graceful shutdown: the run in progress finishes first, nothing new is claimed).
    /// A run of an unregistered workflow is failed. Errors of individual runs go to `onError`.
    public func work(
        queues: [String] = ["default"], workflows: Workflows, limit: Int = 1, pollInterval: Duration = .seconds(1),
        onError: (@Sendable (any Error, Run) -> Void)? = nil
    ) async throws {
        let owner = "worker-" + Identifier.randomHex().prefix(12)
        while !Task.isCancelled {
            let claimed: [Run]
            do {
                claimed = try await transport.claim(queues: queues, owner: owner, limit: limit)
            } catch {
                // Shutdown interrupted a claim; runs it may have claimed go back to the queue when
                // their lease expires.
                if Task.isCancelled { return }
                throw error
            }
            for run in claimed {
                guard let handler = workflows.handlers[run.workflowName] else {
                    _ = try? await transport.failRun(
                        id: run.id,
                        error: .object(
                            JSONObject([("message", .string("no workflow registered for \(run.workflowName)"))])))
                    continue
                }
                // The run in hand finishes even if shutdown was asked meanwhile.
                do { try await Task { try await handler(self, run, owner) }.value } catch { onError?(error, run) }
            }
            if claimed.isEmpty { try? await Task.sleep(for: pollInterval) }
        }
    }
}

extension Cairn {
    /// Queue limits and counts.
    public var queues: Queues { Queues(transport: transport) }
    /// Cron schedules that enqueue runs (fired by the server's reconciler).
    public var schedules: Schedules { Schedules(transport: transport) }
}

public struct Queues: Sendable {
    let transport: any RunTransport

    /// Changes a queue's limits: `.keep` leaves a field, `.clear` removes it.
    @discardableResult
    public func configure(
        _ name: String, concurrency: FieldUpdate<Int> = .keep, ratePerMinute: FieldUpdate<Int> = .keep,
        invokeURL: FieldUpdate<String> = .keep
    ) async throws -> QueueConfig {
        try await transport.configureQueue(
            name: name, QueueConfigUpdate(concurrency: concurrency, ratePerMinute: ratePerMinute, invokeURL: invokeURL))
    }

    public func stats() async throws -> [QueueStat] { try await transport.queueStats() }

    /// One queue's counts, limits, pause and what it did in the last minute and quarter hour.
    public func stat(_ name: String) async throws -> QueueStat { try await transport.queueStat(name: name) }

    /// Pauses a queue: it still takes enqueues and schedule fires, but no worker claims its runs
    /// (and a push queue announces none) until it is resumed.
    @discardableResult
    public func pause(_ name: String) async throws -> QueueStat {
        try await transport.setQueuePaused(name: name, paused: true)
    }

    @discardableResult
    public func resume(_ name: String) async throws -> QueueStat {
        try await transport.setQueuePaused(name: name, paused: false)
    }
}

public struct Schedules: Sendable {
    let transport: any RunTransport

    /// Creates or replaces the schedule `name`: a run of `workflow` on `queue` at every time
    /// matching the 5-field UTC `cron` expression.
    @discardableResult
    public func set<Input: Codable & Sendable>(
        _ name: String, cron: String, workflow: String, input: Input, queue: String = "default", maxAttempts: Int = 1,
        enabled: Bool = true
    ) async throws -> Schedule {
        try await transport.putSchedule(
            name: name,
            ScheduleRequest(
                cron: cron, workflowName: workflow, input: try CodableJSON.encode(input), queue: queue,
                maxAttempts: maxAttempts,
                enabled: enabled))
    }

    public func list() async throws -> [Schedule] { try await transport.schedules() }
    public func delete(_ name: String) async throws { try await transport.deleteSchedule(name: name) }
}
