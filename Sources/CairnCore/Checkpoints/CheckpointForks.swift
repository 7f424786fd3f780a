/// Where a forked checkpoint workflow came from: it sees workflow `parentWorkflowId`'s history
/// up to and including the save of `step` (sequence `parentSequence` there), read where it is
/// stored, and its own saves continue the sequence after it. Making a fork copies no saves.
public struct CheckpointFork: Sendable, Equatable {
    public var tenant: TenantID
    public var workflowId: String
    public var parentWorkflowId: String
    public var step: Int
    public var parentSequence: Int
    public var createdAt: Timestamp

    public init(
        tenant: TenantID, workflowId: String, parentWorkflowId: String, step: Int, parentSequence: Int,
        createdAt: Timestamp
    ) {
        self.tenant = tenant
        self.workflowId = workflowId
        self.parentWorkflowId = parentWorkflowId
        self.step = step
        self.parentSequence = parentSequence
        self.createdAt = createdAt
    }
}

/// The saves stored under `workflowId` with a sequence in `after <.. through`: one stretch of
/// a workflow's history. When the history's steps ascend, the stretch's steps are within
/// `firstStep...lastStep` (taken from the fork points that bound it).
public struct CheckpointSegment: Sendable, Equatable {
    public var workflowId: String
    public var after: Int
    public var through: Int
    public var firstStep: Int
    public var lastStep: Int

    public init(workflowId: String, after: Int, through: Int, firstStep: Int = 0, lastStep: Int = .max) {
        self.workflowId = workflowId
        self.after = after
        self.through = through
        self.firstStep = firstStep
        self.lastStep = lastStep
    }
}

/// A workflow's size and error totals through one of its saves.
public struct CheckpointRunningTotals: Sendable, Equatable {
    public var sizeBytes: Int
    public var errorCount: Int

    public init(sizeBytes: Int, errorCount: Int) {
        self.sizeBytes = sizeBytes
        self.errorCount = errorCount
    }
}

/// Where a workflow's saves are stored: its own, then, for a fork, the stretches of its
/// ancestors it reads through, newest first. Saves read through it are reported under the
/// workflow's own id (`cp_<workflow>_<step>`), as if it had made them.
struct CheckpointHistory {
    let tenant: TenantID
    let workflowId: String
    let segments: [CheckpointSegment]
    /// Fork records walked to reach a workflow that is no fork.
    let depth: Int
    /// Save order is step order throughout (`CheckpointWorkflow.unorderedFrom` is nil).
    let stepsAscend: Bool

    /// Reads no row for a workflow that is no fork, one fork record per level for a fork.
    static func of(_ head: CheckpointWorkflow, _ tx: any CheckpointReadTransaction) async throws
        -> CheckpointHistory
    {
        let stepsAscend = head.unorderedFrom == nil
        let own = CheckpointSegment(workflowId: head.workflowId, after: 0, through: Int.max)
        guard head.isFork, var fork = try await tx.checkpointFork(tenant: head.tenant, workflowId: head.workflowId)
        else {
            return CheckpointHistory(
                tenant: head.tenant, workflowId: head.workflowId, segments: [own], depth: 0, stepsAscend: stepsAscend)
        }
        var segments = [
            CheckpointSegment(
                workflowId: head.workflowId, after: fork.parentSequence, through: Int.max,
                firstStep: Self.step(after: fork.step))
        ]
        var through = fork.parentSequence
        var lastStep = fork.step
        var depth = 1
        while true {
            let parentFork = try await tx.checkpointFork(tenant: head.tenant, workflowId: fork.parentWorkflowId)
            let after = parentFork?.parentSequence ?? 0
            let firstStep = parentFork.map { Self.step(after: $0.step) } ?? 0
            // A fork of a fork at a save its parent inherited sees nothing of the parent's own.
            if after < through {
                segments.append(
                    CheckpointSegment(
                        workflowId: fork.parentWorkflowId, after: after, through: through, firstStep: firstStep,
                        lastStep: lastStep))
            }
            guard let parentFork, depth <= CheckpointService.maxForkDepth else { break }
            through = min(through, after)
            lastStep = min(lastStep, parentFork.step)
            fork = parentFork
            depth += 1
        }
        return CheckpointHistory(
            tenant: head.tenant, workflowId: head.workflowId, segments: segments, depth: depth,
            stepsAscend: stepsAscend)
    }

    /// The first step that can follow `step` in an ascending history (past the largest, none
    /// can: a save after it makes the history unordered).
    private static func step(after step: Int) -> Int { step < .max ? step + 1 : .max }

    /// The save of `step` this workflow sees, and the id of the workflow that stores it.
    func checkpoint(step: Int, _ tx: any CheckpointReadTransaction) async throws
        -> (checkpoint: Checkpoint, storedIn: String)?
    {
        for segment in segments {
            guard var found = try await tx.checkpoint(tenant: tenant, workflowId: segment.workflowId, step: step),
                found.sequence > segment.after, found.sequence <= segment.through
            else { continue }
            found.workflowId = workflowId
            return (found, segment.workflowId)
        }
        return nil
    }

    /// In save order, steps within the inclusive range, at most `limit`.
    func checkpoints(fromStep: Int?, toStep: Int?, limit: Int, _ tx: any CheckpointReadTransaction) async throws
        -> [Checkpoint]
    {
        try await tx.checkpoints(
            tenant: tenant, segments: segments, fromStep: fromStep, toStep: toStep, limit: limit,
            stepsAscend: stepsAscend
        )
        .map { c in
            var c = c
            c.workflowId = workflowId
            return c
        }
    }

    /// Agents that saved checkpoints of the history, in order of first appearance.
    func agents(_ tx: any CheckpointReadTransaction) async throws -> [String] {
        guard depth > 0 else { return try await tx.workflowAgents(tenant: tenant, workflowId: workflowId) }
        return try await tx.segmentAgents(tenant: tenant, segments: segments)
    }
}

extension CheckpointService {
    /// How deep forks of forks may nest (each level is one more lookup on a fork's reads).
    public static let maxForkDepth = 32

    public struct ForkedWorkflow: Sendable {
        public var workflow: CheckpointWorkflow
        public var fork: CheckpointFork
        /// The save forked at, as the new workflow reports it (its id and workflow id are the fork's).
        public var latest: Checkpoint
    }

    /// Creates workflow `newWorkflowId` (a fresh `wf_…` id when nil) whose history is workflow
    /// `id`'s up to and including its save of `step`: resume answers that save until the fork
    /// saves its own, and its saves continue after it. Nothing is copied, so a fork costs the
    /// same whatever the parent holds. Cairn's extension; SnapState has no fork.
    public func forkWorkflow(
        id parentId: String, atStep step: Int, newWorkflowId: String?, ttlSeconds: Int64?, tenant: TenantID
    ) async throws -> ForkedWorkflow {
        let forkId = newWorkflowId ?? Identifier.make("wf_")
        guard (1...128).contains(forkId.utf8.count) else {
            throw CheckpointError.invalid("workflow_id must be 1 to 128 bytes")
        }
        let ttlMs = try ttlMilliseconds(ttlSeconds)
        let (forked, recorded) = try await store.write { tx -> (ForkedWorkflow, Int) in
            let now = clock.now()
            guard let parent = try await tx.checkpointWorkflowForUpdate(tenant: tenant, workflowId: parentId),
                !parent.isExpired(at: now)
            else { throw CheckpointError.workflowNotFound(parentId) }
            // The new id may be one whose workflow has expired but not yet been swept.
            var recorded = 0
            if let existing = try await tx.checkpointWorkflowForUpdate(tenant: tenant, workflowId: forkId) {
                guard existing.isExpired(at: now) else { throw CheckpointError.workflowExists(forkId) }
                recorded += try await Self.expire(existing, tx: tx, at: now)
            }
            let history = try await CheckpointHistory.of(parent, tx)
            guard history.depth < Self.maxForkDepth else {
                throw CheckpointError.invalid("forks may be nested at most \(Self.maxForkDepth) deep")
            }
            guard let (point, storedIn) = try await history.checkpoint(step: step, tx),
                let totals = try await tx.checkpointRunningTotals(tenant: tenant, workflowId: storedIn, step: step)
            else { throw CheckpointError.checkpointNotFound(Checkpoint.id(workflowId: parentId, step: step)) }
            let fork = CheckpointFork(
                tenant: tenant, workflowId: forkId, parentWorkflowId: parentId, step: step,
                parentSequence: point.sequence, createdAt: now)
            try await tx.upsertCheckpointFork(fork)
            let metadata = point.metadata.flatMap { try? JSONParser.parse($0).objectValue }
            let workflow = CheckpointWorkflow(
                tenant: tenant, workflowId: forkId, latestStep: step, totalCheckpoints: point.sequence,
                totalSizeBytes: totals.sizeBytes, errorCount: totals.errorCount,
                status: Self.status(metadata: metadata, failed: point.errorType != nil), resumed: false,
                startedAt: now, lastActivityAt: now, expiresAt: now.adding(milliseconds: ttlMs),
                unorderedFrom: parent.unorderedFrom.flatMap { $0 <= point.sequence ? $0 : nil }, isFork: true)
            try await tx.upsertCheckpointWorkflow(workflow)
            var latest = point
            latest.workflowId = forkId
            return (ForkedWorkflow(workflow: workflow, fork: fork, latest: latest), recorded)
        }
        if recorded > 0 { deliveriesRecorded() }
        return forked
    }

    /// Before `workflow` is deleted, gives each fork that reads through it a copy of the saves
    /// it sees there, and points the fork past it (to its own parent when it is a fork too):
    /// what a fork holds never changes when a parent goes, and its TTL stays its own. Costs a
    /// copy of those saves per fork, once.
    static func detachForks(of workflow: CheckpointWorkflow, tx: any RunWriteTransaction) async throws {
        let forks = try await tx.checkpointForks(tenant: workflow.tenant, parentWorkflowId: workflow.workflowId)
        guard !forks.isEmpty else { return }
        let own = try await tx.checkpointFork(tenant: workflow.tenant, workflowId: workflow.workflowId)
        let after = own?.parentSequence ?? 0
        for fork in forks {
            // Holds off the fork's saves, which read through the rows about to move.
            guard try await tx.checkpointWorkflowForUpdate(tenant: fork.tenant, workflowId: fork.workflowId) != nil
            else { continue }
            if fork.parentSequence > after {
                try await tx.copyCheckpoints(
                    tenant: fork.tenant,
                    segment: CheckpointSegment(
                        workflowId: workflow.workflowId, after: after, through: fork.parentSequence),
                    to: fork.workflowId)
            }
            guard let own else {
                try await tx.deleteCheckpointFork(tenant: fork.tenant, workflowId: fork.workflowId)
                continue
            }
            var moved = fork
            moved.parentWorkflowId = own.parentWorkflowId
            if fork.parentSequence > own.parentSequence {
                moved.step = own.step
                moved.parentSequence = own.parentSequence
            }
            try await tx.upsertCheckpointFork(moved)
        }
    }
}

extension JSONWriter {
    /// `{workflow_id, step}`: where a forked workflow came from.
    public mutating func checkpointFork(_ fork: CheckpointFork) {
        beginObjectValue()
        field("workflow_id", fork.parentWorkflowId)
        field("step", fork.step)
        endObject()
    }
}
