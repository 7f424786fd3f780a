import Synchronization

/// Where a forked run came from: run `parentRunId` as of the completion of its step `stepName`.
/// The fork replays the parent's steps that had completed by `point` from the parent's own rows
/// (nothing is copied), so making a fork costs the same whatever the parent holds.
public struct RunFork: Sendable, Equatable {
    public var runId: String
    public var parentRunId: String
    public var stepName: String
    /// The completion time of the step forked at.
    public var point: Timestamp
    /// The same completion as a place in an event log: the parent's steps completed before it
    /// replay. Nil for a fork made before schema 22 or at a step completed before it; such a
    /// fork replays the steps completed by `point`, which a step completed in the same
    /// millisecond also is.
    public var pointEvent: EventPosition?
    public var createdAt: Timestamp

    public init(
        runId: String, parentRunId: String, stepName: String, point: Timestamp, pointEvent: EventPosition? = nil,
        createdAt: Timestamp
    ) {
        self.runId = runId
        self.parentRunId = parentRunId
        self.stepName = stepName
        self.point = point
        self.pointEvent = pointEvent
        self.createdAt = createdAt
    }
}

/// One event of one run's log: run `runId`'s event number `seq`.
public struct EventPosition: Sendable, Equatable {
    public var runId: String
    public var seq: Int64

    public init(runId: String, seq: Int64) {
        self.runId = runId
        self.seq = seq
    }
}

/// A fork made of a run, with the fork's own run.
public struct ForkedRun: Sendable, Equatable {
    public var fork: RunFork
    public var run: Run
}

/// A page of a run's forks, newest first.
public struct RunForkPage: Sendable, Equatable {
    public var forks: [ForkedRun]
    /// Where the next (older) page starts; nil on the last page.
    public var next: ListCursor?
}

/// Which runs are forks (and of what). A run is a fork from its creation or never, so answers,
/// negative ones included, are kept; the bound makes the cache start over rather than grow.
final class RunForkCache: Sendable {
    private let entries = Mutex<[String: RunFork?]>([:])
    static let limit = 100_000

    /// What is known without a read: `.some(nil)` for a run known not to be a fork, nil when
    /// this replica has not looked yet.
    func known(_ runId: String) -> RunFork?? { entries.withLock { $0[runId] } }

    func fork(of runId: String, _ tx: any RunReadTransaction) async throws -> RunFork? {
        if let known = known(runId) { return known }
        let found = try await tx.runFork(runId: runId)
        keep(found, for: runId)
        return found
    }

    func remember(_ fork: RunFork) { keep(fork, for: fork.runId) }
    /// A run this replica just created plainly, so its first begin needs no read for this.
    func rememberNotForked(_ runId: String) { keep(nil, for: runId) }

    private func keep(_ fork: RunFork?, for runId: String) {
        entries.withLock { e in
            if e.count >= Self.limit { e.removeAll(keepingCapacity: true) }
            e[runId] = .some(fork)
        }
    }
}

extension RunService {
    /// How deep forks of forks may nest (each level is one more lookup for a replayed step).
    public static let maxForkDepth = 32

    /// Creates a run that replays run `id`'s steps up to and including `stepName` (completed)
    /// and starts with the value of its state stream `run` as of that step. The new run is
    /// pending, with the parent's workflow, input, metadata and recovery webhook, and records
    /// where it came from (`RunDetail.fork`). Cairn's extension; Tidebase has no fork.
    public func forkRun(id: String, atStep stepName: String, tenant: TenantID) async throws -> (Run, RunFork) {
        guard !stepName.isEmpty, stepName.utf8.count <= 1024 else {
            throw RunError.invalid("step must be a step name of 1 to 1024 bytes")
        }
        let (run, fork) = try await store.write { tx in
            guard let parent = try await tx.runForUpdate(id: id, tenant: tenant) else { throw RunError.runNotFound }
            let now = clock.now()
            // The step may be the parent's own, or one it replays from its own parent.
            var step = try await tx.step(runId: id, name: stepName)
            var depth = 0
            if step == nil, let parentFork = try await forks.fork(of: id, tx) {
                step = try await Self.inheritedStep(tx, parentFork, name: stepName, inputHash: nil)
                depth = try await Self.forkDepth(tx, parentFork)
            }
            guard let step else { throw RunError.invalid("run \(id) has no step named \(stepName)") }
            guard step.status == .completed, let point = step.completedAt else {
                throw RunError.invalid(
                    "step \(stepName) of run \(id) has not completed; only a completed step can be forked at")
            }
            // The step's own run: the parent, or the ancestor whose step the parent replays.
            let pointEvent = step.completedSeq.map { EventPosition(runId: step.runId, seq: $0) }
            guard depth < Self.maxForkDepth else {
                throw RunError.invalid("forks may be nested at most \(Self.maxForkDepth) deep")
            }
            let run = Run(
                id: Identifier.make("run_"), tenant: tenant, workflowName: parent.workflowName, input: parent.input,
                metadata: parent.metadata, status: .pending, recoveryWebhook: parent.recoveryWebhook, now: now)
            try await tx.insertRun(run)
            let fork = RunFork(
                runId: run.id, parentRunId: id, stepName: stepName, point: point, pointEvent: pointEvent,
                createdAt: now)
            try await tx.insertRunFork(fork)
            if let value = try await tx.runStateValue(
                runId: pointEvent?.runId ?? id, stream: "run", at: point, through: pointEvent?.seq)
            {
                try await tx.upsertState(RunState(runId: run.id, value: value, version: 1, updatedAt: now))
            }
            _ = try await tx.appendEvent(
                runId: run.id, type: "run.created",
                payload: jsonObject { w in
                    w.field("workflowName", run.workflowName)
                    w.field("input", raw: run.input)
                    w.key("forkedFrom"); w.runFork(fork)
                    w.array("channels", [Int]()) { _, _ in }
                }, at: now)
            return (run, fork)
        }
        forks.remember(fork)
        return (run, fork)
    }

    /// The forks made of run `id` (not forks of its forks), newest first, `limit` (1...1,000)
    /// to a page.
    public func runForks(of id: String, after: ListCursor?, limit: Int, tenant: TenantID) async throws -> RunForkPage {
        guard (1...RunListQuery.maxLimit).contains(limit) else {
            throw RunError.invalid("limit must be 1...\(RunListQuery.maxLimit)")
        }
        return try await store.read { tx in
            guard try await tx.run(id: id, tenant: tenant) != nil else { throw RunError.runNotFound }
            return try await Self.forkPage(tx, parentRunId: id, after: after, limit: limit)
        }
    }

    static func forkPage(_ tx: any RunReadTransaction, parentRunId: String, after: ListCursor?, limit: Int)
        async throws -> RunForkPage
    {
        // One more than asked tells whether another page exists.
        let found = try await tx.runForks(parentRunId: parentRunId, before: after, newestFirstLimit: limit + 1)
        let page = found.prefix(limit)
        let runs = Dictionary(
            try await tx.runs(ids: page.map(\.runId)).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return RunForkPage(
            forks: page.compactMap { fork in runs[fork.runId].map { ForkedRun(fork: fork, run: $0) } },
            next: found.count > limit ? page.last.map { ListCursor(createdAt: $0.createdAt, id: $0.runId) } : nil)
    }

    /// The completed step `name` a fork replays from its ancestors: the nearest ancestor that has
    /// the step decides; it must have completed by the fork's point and, when `inputHash` is
    /// given, with that input.
    ///
    /// The point is a place in one run's event log. An ancestor's own steps all completed after
    /// it was created, so after any point in a run further up; in the point's own run, the
    /// completions numbered up to the point's are before it. Climbing past the point's run, the
    /// point becomes that run's own fork point (what it replays is before it). Forks from before
    /// schema 22 compare times instead: the smallest point along the chain.
    static func inheritedStep(_ tx: any RunReadTransaction, _ fork: RunFork, name: String, inputHash: String?)
        async throws -> Step?
    {
        var current: RunFork? = fork
        var point = fork.point
        var pointEvent = fork.pointEvent
        var depth = 0
        while let f = current, depth <= maxForkDepth {
            if let step = try await tx.step(runId: f.parentRunId, name: name) {
                guard step.status == .completed, let done = step.completedAt else { return nil }
                if let pointEvent, let seq = step.completedSeq {
                    guard pointEvent.runId == f.parentRunId, seq <= pointEvent.seq else { return nil }
                } else {
                    guard done <= point else { return nil }
                }
                if let inputHash, step.inputHash != inputHash { return nil }
                return step
            }
            current = try await tx.runFork(runId: f.parentRunId)
            if let next = current {
                point = min(point, next.point)
                if pointEvent?.runId == f.parentRunId { pointEvent = next.pointEvent }
            }
            depth += 1
        }
        return nil
    }

    static func forkDepth(_ tx: any RunReadTransaction, _ fork: RunFork) async throws -> Int {
        var depth = 1
        var current = try await tx.runFork(runId: fork.parentRunId)
        while let f = current, depth <= maxForkDepth {
            depth += 1
            current = try await tx.runFork(runId: f.parentRunId)
        }
        return depth
    }
}

extension JSONWriter {
    /// `{runId, step, at}`: where a forked run came from.
    public mutating func runFork(_ fork: RunFork) {
        beginObjectValue()
        field("runId", fork.parentRunId)
        field("step", fork.stepName)
        field("at", timestamp: fork.point)
        endObject()
    }
}
