import CairnCore

/// What a step's begin decided (the run protocol's §1.6 actions).
public enum StepDecision: Sendable {
    case execute(Step, leaseOwner: String)
    case replay(output: RawJSON?)
    case cancelled
    case locked
    case inputMismatch(expected: String, actual: String)
}

/// The run protocol operations the SDK needs; implemented over HTTP and in-process.
public protocol RunTransport: Sendable {
    func createRun(workflow: String, input: JSONValue, recoveryWebhook: String?) async throws -> Run
    func run(id: String) async throws -> RunDetail
    func listRuns(_ query: RunListQuery) async throws -> RunPage
    /// A new pending run that replays run `id`'s steps up to and including `atStep`.
    func forkRun(id: String, atStep: String) async throws -> Run
    func beginRun(id: String) async throws -> (run: Run, leaseOwner: String)
    func completeRun(id: String, result: JSONValue) async throws -> Run
    func failRun(id: String, error: JSONValue) async throws -> Run
    func cancelRun(id: String, reason: String?, actor: String?) async throws -> Run
    func beginStep(runId: String, _ request: BeginStepRequest) async throws -> StepDecision
    func completeStep(runId: String, stepId: String, leaseOwner: String, output: JSONValue) async throws
    func failStep(runId: String, stepId: String, _ request: FailStepRequest) async throws
    func beginGate(runId: String, _ request: BeginGateRequest) async throws -> Gate
    func gate(runId: String, gateId: String) async throws -> (gate: Gate, runStatus: RunStatus)
    func resolveGate(runId: String, gateId: String, _ request: ResolveGateRequest) async throws -> Gate
    func createChild(parentId: String, _ request: CreateChildRequest) async throws -> Run
    func writeState(runId: String, value: JSONValue, merge: Bool, options: StateWriteOptions) async throws -> RunState
    func saveState(runId: String, label: String, options: StateWriteOptions) async throws -> StateVersion
    func stateVersions(runId: String, stream: String?, labeledOnly: Bool) async throws -> [StateVersion]
    func recordUsage(runId: String, _ request: RecordUsageRequest) async throws -> UsageRecord
    func enqueue(queue: String, _ request: EnqueueRequest) async throws -> Run
    func claim(queues: [String], owner: String, limit: Int) async throws -> [Run]
    func configureQueue(name: String, _ update: QueueConfigUpdate) async throws -> QueueConfig
    func queueStats() async throws -> [QueueStat]
    func queueStat(name: String) async throws -> QueueStat
    func setQueuePaused(name: String, paused: Bool) async throws -> QueueStat
    func putSchedule(name: String, _ request: ScheduleRequest) async throws -> Schedule
    func schedules() async throws -> [Schedule]
    func deleteSchedule(name: String) async throws
    func recover(runId: String, reason: String) async throws -> RecoveryAttempt
    /// The run's events after `after`, then live ones as they commit, until the consumer stops.
    func events(runId: String, after: Int64) -> AsyncThrowingStream<RunEvent, any Error>
}

/// In-process transport: the same run domain as the server, on the embedded store, with no
/// HTTP in between.
struct EmbeddedTransport: RunTransport {
    let runs: RunService
    let broker: EventBroker
    /// Workspaces and credentials on the same store and data directory.
    let services: EmbeddedServices
    let tenant = TenantID.default
    /// The reconciler's work for this store, while any copy of this transport lives.
    var background: EmbeddedBackground?

    func events(runId: String, after: Int64) -> AsyncThrowingStream<RunEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<RunEvent, any Error>.makeStream()
        // Subscribe before replaying, so nothing committed in between is missed.
        let subscription = broker.subscribe(runId: runId)
        let runs = self.runs, tenant = self.tenant
        let task = Task {
            do {
                var last = after
                while true {
                    let page = try await runs.events(runId: runId, after: last, limit: 500, tenant: tenant)
                    for event in page {
                        continuation.yield(event)
                        last = event.seq
                    }
                    if page.count < 500 { break }
                }
                for await event in subscription.events where event.seq > last {
                    continuation.yield(event)
                    last = event.seq
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        let broker = self.broker
        continuation.onTermination = { _ in
            task.cancel()
            broker.unsubscribe(runId: runId, id: subscription.id)
        }
        return stream
    }

    func createRun(workflow: String, input: JSONValue, recoveryWebhook: String?) async throws -> Run {
        try await runs.createRun(
            CreateRunRequest(workflowName: workflow, input: input, recoveryWebhook: recoveryWebhook), tenant: tenant)
    }

    func run(id: String) async throws -> RunDetail {
        try await mapped { try await runs.runDetail(id: id, tenant: tenant) }
    }
    func listRuns(_ query: RunListQuery) async throws -> RunPage {
        try await mapped { try await runs.listRuns(tenant: tenant, query) }
    }

    func forkRun(id: String, atStep step: String) async throws -> Run {
        try await mapped { try await runs.forkRun(id: id, atStep: step, tenant: tenant).0 }
    }

    func beginRun(id: String) async throws -> (run: Run, leaseOwner: String) {
        let owner = Identifier.uuidString()
        return (try await mapped { try await runs.beginRun(id: id, owner: owner, tenant: tenant) }, owner)
    }

    func completeRun(id: String, result: JSONValue) async throws -> Run {
        try await mapped { try await runs.completeRun(id: id, result: result, tenant: tenant) }
    }

    func failRun(id: String, error: JSONValue) async throws -> Run {
        try await mapped { try await runs.failRun(id: id, error: error, failureClass: nil, tenant: tenant).run }
    }

    func cancelRun(id: String, reason: String?, actor: String?) async throws -> Run {
        try await mapped { try await runs.cancelRun(id: id, reason: reason, actor: actor, tenant: tenant) }
    }

    func beginStep(runId: String, _ request: BeginStepRequest) async throws -> StepDecision {
        switch try await mapped({ try await runs.beginStep(runId: runId, request, tenant: tenant) }) {
        case .cancelled: return .cancelled
        case .inputMismatch(_, let expected, let actual): return .inputMismatch(expected: expected, actual: actual)
        case .alreadyCompleted(let step): return .replay(output: step.output)
        case .locked: return .locked
        case .execute(let step, let owner): return .execute(step, leaseOwner: owner)
        }
    }

    func completeStep(runId: String, stepId: String, leaseOwner: String, output: JSONValue) async throws {
        _ = try await mapped {
            try await runs.completeStep(
                runId: runId, stepId: stepId, leaseOwner: leaseOwner, output: output, tenant: tenant)
        }
    }

    func failStep(runId: String, stepId: String, _ request: FailStepRequest) async throws {
        _ = try await mapped { try await runs.failStep(runId: runId, stepId: stepId, request, tenant: tenant) }
    }

    func beginGate(runId: String, _ request: BeginGateRequest) async throws -> Gate {
        try await mapped { try await runs.beginGate(runId: runId, request, tenant: tenant) }
    }

    func gate(runId: String, gateId: String) async throws -> (gate: Gate, runStatus: RunStatus) {
        try await mapped { try await runs.gate(runId: runId, gateId: gateId, tenant: tenant) }
    }

    func resolveGate(runId: String, gateId: String, _ request: ResolveGateRequest) async throws -> Gate {
        try await mapped { try await runs.resolveGate(runId: runId, gateId: gateId, request, tenant: tenant) }
    }

    func createChild(parentId: String, _ request: CreateChildRequest) async throws -> Run {
        try await mapped { try await runs.createChild(parentId: parentId, request, tenant: tenant).run }
    }

    func writeState(runId: String, value: JSONValue, merge: Bool, options: StateWriteOptions) async throws -> RunState {
        try await mapped {
            try await runs.writeState(
                runId: runId, value: value, mode: merge ? .merge : .replace, options: options, tenant: tenant)
        }
    }

    func saveState(runId: String, label: String, options: StateWriteOptions) async throws -> StateVersion {
        try await mapped { try await runs.saveState(runId: runId, label: label, options: options, tenant: tenant) }
    }

    func stateVersions(runId: String, stream: String?, labeledOnly: Bool) async throws -> [StateVersion] {
        try await runs.stateVersions(runId: runId, stream: stream, labeledOnly: labeledOnly, tenant: tenant)
    }

    func recordUsage(runId: String, _ request: RecordUsageRequest) async throws -> UsageRecord {
        try await mapped { try await runs.recordUsage(runId: runId, request, tenant: tenant) }
    }

    func enqueue(queue: String, _ request: EnqueueRequest) async throws -> Run {
        try await mapped { try await runs.enqueue(queue: queue, request, tenant: tenant).run }
    }

    func claim(queues: [String], owner: String, limit: Int) async throws -> [Run] {
        try await runs.claim(queues: queues, owner: owner, limit: limit, tenant: tenant)
    }

    func configureQueue(name: String, _ update: QueueConfigUpdate) async throws -> QueueConfig {
        try await runs.configureQueue(name: name, update, tenant: tenant)
    }

    func queueStats() async throws -> [QueueStat] { try await runs.queueStats(tenant: tenant) }

    func queueStat(name: String) async throws -> QueueStat {
        try await mapped { try await runs.queueStat(name: name, tenant: tenant) }
    }

    func setQueuePaused(name: String, paused: Bool) async throws -> QueueStat {
        try await mapped {
            _ = try await runs.setQueuePaused(name: name, paused: paused, tenant: tenant)
            return try await runs.queueStat(name: name, tenant: tenant)
        }
    }

    func putSchedule(name: String, _ request: ScheduleRequest) async throws -> Schedule {
        try await mapped { try await runs.putSchedule(name: name, request, tenant: tenant) }
    }

    func schedules() async throws -> [Schedule] { try await runs.schedules(tenant: tenant) }

    func deleteSchedule(name: String) async throws {
        try await mapped { try await runs.deleteSchedule(name: name, tenant: tenant) }
    }

    /// Embedded mode makes no outbound calls (no server, no webhooks): recovery is refused.
    func recover(runId: String, reason: String) async throws -> RecoveryAttempt {
        throw CairnError.server(status: 501, body: "recovery calls need a server; embedded mode sends no webhooks")
    }

    /// Core refusals become the SDK's typed errors, as the HTTP transport's statuses do.
    private func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RunError {
            throw CairnError(error)
        }
    }
}
