/// Reads of checkpoint-protocol records inside one consistent snapshot. Every call names the
/// tenant; nothing crosses tenants.
public protocol CheckpointReadTransaction: Sendable {
    func checkpointWorkflow(tenant: TenantID, workflowId: String) async throws -> CheckpointWorkflow?
    /// Live (not expired at `now`) workflows, most recently active first, after `after`.
    func checkpointWorkflows(tenant: TenantID, now: Timestamp, after: ListCursor?, limit: Int) async throws
        -> [CheckpointWorkflow]
    func checkpoint(tenant: TenantID, workflowId: String, step: Int) async throws -> Checkpoint?
    func checkpointWebhooks(tenant: TenantID) async throws -> [CheckpointWebhook]
    /// A resume's whole read in one statement: the workflow, its latest checkpoint (nil when
    /// either is missing), and whether the tenant has a webhook subscribed to `webhookEvent`.
    func resumePoint(tenant: TenantID, workflowId: String, webhookEvent: CheckpointEvent) async throws
        -> (workflow: CheckpointWorkflow, latest: Checkpoint, webhookSubscribed: Bool)?
    func agent(tenant: TenantID, agentId: String) async throws -> Agent?
    /// Most recently seen first, never-seen last, then newest.
    func agents(tenant: TenantID) async throws -> [Agent]
    func agentCount(tenant: TenantID) async throws -> Int
    /// Workflows (of any tenant) whose expiry has passed, soonest first.
    func expiredCheckpointWorkflows(now: Timestamp, limit: Int) async throws -> [CheckpointWorkflow]
    /// Totals over the tenant's workflows last active in `[from, to]`.
    func workflowTotals(tenant: TenantID, from: Timestamp, to: Timestamp) async throws -> WorkflowTotals
    /// Per agent, over the tenant's workflows last active in `[from, to]`, most workflows first.
    func agentActivity(tenant: TenantID, from: Timestamp, to: Timestamp) async throws -> [AgentActivity]
    /// Agents that saved checkpoints of the workflow, in order of first appearance.
    func workflowAgents(tenant: TenantID, workflowId: String) async throws -> [String]
    /// Checkpoints reporting an error, created at or after `since`, newest first.
    func failedCheckpoints(tenant: TenantID, since: Timestamp, agentId: String?, limit: Int) async throws
        -> [Checkpoint]
    /// Failure counts since `since`: in total, by step and by agent (most first).
    func failureCounts(tenant: TenantID, since: Timestamp) async throws -> FailureCounts

    // Forks (`CheckpointFork`): a fork's history is segments of stored saves.

    func checkpointFork(tenant: TenantID, workflowId: String) async throws -> CheckpointFork?
    /// The forks that read through `parentWorkflowId` directly.
    func checkpointForks(tenant: TenantID, parentWorkflowId: String) async throws -> [CheckpointFork]
    /// Saves in the segments (sequences disjoint), in sequence order, steps within the
    /// inclusive range, at most `limit`; each as stored, under the workflow id that holds it.
    /// `stepsAscend` says the segments' saves ascend in step as in sequence (each segment's
    /// within its `firstStep...lastStep`), so the read may follow steps.
    func checkpoints(
        tenant: TenantID, segments: [CheckpointSegment], fromStep: Int?, toStep: Int?, limit: Int, stepsAscend: Bool
    ) async throws -> [Checkpoint]
    /// The workflow's size and error totals through the save of `step` (its own save).
    func checkpointRunningTotals(tenant: TenantID, workflowId: String, step: Int) async throws
        -> CheckpointRunningTotals?
    /// Agents that saved checkpoints in the segments, in order of first appearance.
    func segmentAgents(tenant: TenantID, segments: [CheckpointSegment]) async throws -> [String]
}

public protocol CheckpointWriteTransaction: CheckpointReadTransaction {
    /// Reads the workflow's head and locks it until commit.
    func checkpointWorkflowForUpdate(tenant: TenantID, workflowId: String) async throws -> CheckpointWorkflow?
    /// Stores a save with the workflow's totals through it (what a fork at it starts from).
    func insertCheckpoint(_ checkpoint: Checkpoint, runningTotals: CheckpointRunningTotals) async throws
    func upsertCheckpointWorkflow(_ workflow: CheckpointWorkflow) async throws
    /// Counts one more checkpoint of `agentId` in the workflow.
    func recordWorkflowAgent(tenant: TenantID, workflowId: String, agentId: String, at: Timestamp) async throws
    /// Deletes the workflow with all its checkpoints and its own fork record (forks of it
    /// must have been detached first: `copyCheckpoints`, `upsertCheckpointFork`).
    func deleteCheckpointWorkflow(tenant: TenantID, workflowId: String) async throws
    /// Records or replaces where a fork reads through.
    func upsertCheckpointFork(_ fork: CheckpointFork) async throws
    func deleteCheckpointFork(tenant: TenantID, workflowId: String) async throws
    /// Copies the saves of `segment` (and their agents' counts) to workflow `workflowId`,
    /// unchanged but for the id: what a fork keeps of a parent that goes.
    func copyCheckpoints(tenant: TenantID, segment: CheckpointSegment, to workflowId: String) async throws
    func insertCheckpointWebhook(_ webhook: CheckpointWebhook) async throws
    func deleteCheckpointWebhook(tenant: TenantID, id: String) async throws -> Bool
    /// Inserts or replaces by (tenant, agentId), keeping `serial`, `createdAt` and
    /// `lastSeenAt` of an existing row; returns the stored agent.
    func upsertAgent(_ agent: Agent) async throws -> Agent
    func updateAgent(_ agent: Agent) async throws
    func deleteAgent(tenant: TenantID, agentId: String) async throws -> Bool
    /// Sets `lastSeenAt` of a registered agent; unregistered ids are fine and change nothing.
    func touchAgent(tenant: TenantID, agentId: String, at: Timestamp) async throws
}

public struct WorkflowTotals: Sendable, Equatable {
    public var workflows = 0
    public var completed = 0
    public var failed = 0
    public var active = 0
    public var checkpoints = 0
    public var averageSteps = 0.0
    public var averageDurationSeconds = 0.0
    public init() {}
}

public struct AgentActivity: Sendable, Equatable {
    public var agentId: String
    public var workflows: Int
    public var activeWorkflows: Int
    public var failedWorkflows: Int
    public var checkpoints: Int
    public var averageSteps: Double
    public var averageDurationSeconds: Double
    public init(
        agentId: String, workflows: Int, activeWorkflows: Int, failedWorkflows: Int, checkpoints: Int,
        averageSteps: Double, averageDurationSeconds: Double
    ) {
        self.agentId = agentId
        self.workflows = workflows
        self.activeWorkflows = activeWorkflows
        self.failedWorkflows = failedWorkflows
        self.checkpoints = checkpoints
        self.averageSteps = averageSteps
        self.averageDurationSeconds = averageDurationSeconds
    }

    /// Share of the agent's workflows that have failed, two decimals.
    public var errorRate: Double {
        workflows == 0 ? 0 : (Double(failedWorkflows) / Double(workflows) * 100).rounded() / 100
    }
}

public struct FailureCounts: Sendable, Equatable {
    public var total = 0
    public var byStep: [(step: Int, count: Int)] = []
    public var byAgent: [(agentId: String, count: Int)] = []
    public init() {}

    public static func == (a: FailureCounts, b: FailureCounts) -> Bool {
        a.total == b.total && a.byStep.elementsEqual(b.byStep, by: { $0 == $1 })
            && a.byAgent.elementsEqual(b.byAgent, by: { $0 == $1 })
    }
}
