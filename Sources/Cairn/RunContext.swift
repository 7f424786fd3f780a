import CairnCore
import Foundation
import Synchronization

/// How a step may be replayed after an ambiguous failure (the resume contract).
public enum ReplayPolicy: String, Sendable {
    case auto, manual, never
}

/// A person's decision on a gate.
public struct GateDecision: Sendable {
    public let gateId: String
    public let name: String
    public let decision: GateStatus
    public let actor: String?
    let payload: RawJSON?

    public var approved: Bool { decision == .approved }

    /// The payload the decision came with, decoded.
    public func payload<T: Decodable>(as type: T.Type) throws -> T {
        try CodableJSON.decode(T.self, from: payload ?? "null")
    }
}

/// A running workflow's handle: steps, gates, children, state and usage of one run, valid
/// while this worker holds the run.
public struct RunContext: Sendable {
    public let runId: String
    let cairn: Cairn
    let leaseOwner: String
    let positions = RunPositions()

    var transport: any RunTransport { cairn.transport }

    /// Runs `body` as a checkpointed step. On a later run with the same id, a completed step
    /// returns its recorded output instead of running again; a changed `input` is refused.
    ///
    /// - Parameters:
    ///   - name: the step's name, unique within the run.
    ///   - input: what the step depends on; hashed (keys sorted) to detect drift on resume.
    ///   - retries: extra attempts after a failure.
    ///   - backoff: the pause before the first retry, doubling after each.
    ///   - sideEffects: the external systems the step writes to (the resume contract).
    ///   - idempotencyKey: the key those writes carry; unkeyed external writes are classified
    ///     for manual review when they fail.
    ///   - replay: whether an ambiguous failure may be replayed automatically.
    ///   - checkpointInvariant: a condition the step's output keeps, recorded with it.
    ///   - body: the step's work; its result is recorded and returned on later replays.
    public func step<T: Codable & Sendable>(
        _ name: String, input: (any Encodable & Sendable)? = nil, retries: Int = 0,
        backoff: Duration = .milliseconds(100),
        sideEffects: [String]? = nil, idempotencyKey: String? = nil, replay: ReplayPolicy? = nil,
        checkpointInvariant: String? = nil, _ body: @Sendable () async throws -> T
    ) async throws -> T {
        let inputJSON = try input.map { try CodableJSON.encode(AnyEncodable($0)) }
        var options = JSONObject()
        if let inputJSON { options["input"] = inputJSON }
        if retries > 0 { options["retries"] = .int(retries) }
        if let sideEffects { options["sideEffects"] = .array(sideEffects.map { .string($0) }) }
        if let idempotencyKey { options["idempotencyKey"] = .string(idempotencyKey) }
        if let replay { options["replay"] = .string(replay.rawValue) }
        if let checkpointInvariant { options["checkpointInvariant"] = .string(checkpointInvariant) }
        let request = BeginStepRequest(
            name: name, inputHash: CodableJSON.inputHash(inputJSON), input: inputJSON, options: options,
            leaseOwner: leaseOwner)
        let attempts = max(1, retries + 1)
        var delay = backoff
        positions.stepBegun(name)
        for attempt in 1...attempts {
            let (step, owner): (Step, String)
            switch try await transport.beginStep(runId: runId, request) {
            case .replay(let output): return try CodableJSON.decode(T.self, from: output ?? "null")
            case .cancelled: throw CairnError.runCancelled(runId: runId)
            case .locked: throw CairnError.stepLocked(step: name)
            case .inputMismatch(let expected, let actual):
                throw CairnError.inputMismatch(step: name, expected: expected, actual: actual)
            case .execute(let s, let o): (step, owner) = (s, o)
            }
            do {
                try Task.checkCancellation()
                let result = try await RunPositions.$currentStep.withValue(name) {
                    positions.attemptBegun(step: name)
                    return try await body()
                }
                try await transport.completeStep(
                    runId: runId, stepId: step.id, leaseOwner: owner, output: try CodableJSON.encode(result))
                return result
            } catch let error as CairnError where error == .runCancelled(runId: runId) {
                throw error
            } catch {
                let retryable = attempt < attempts
                let decision: ResumeDecision =
                    retryable
                    ? .autoRetry
                    : ResumeDecision(
                        rawValue: ResumeContract.defaultDecision(
                            contract: ResumeContract.normalize(options), retryable: false))
                        ?? .safeReplay
                try? await transport.failStep(
                    runId: runId, stepId: step.id,
                    FailStepRequest(
                        leaseOwner: owner, error: CodableJSON.describe(error), retryable: retryable,
                        resumeDecision: decision))
                if !retryable { throw error }
                try await Task.sleep(for: delay)
                delay *= 2
            }
        }
        throw CairnError.encoding("unreachable")
    }

    /// Pauses on a durable gate until a person decides (or `timeout` passes). Resolved gates
    /// replay their decision on resume without waiting.
    public func gate(
        _ name: String, prompt: String, data: (any Encodable & Sendable)? = nil, pollInterval: Duration = .seconds(1),
        timeout: Duration? = nil
    ) async throws -> GateDecision {
        var gate = try await transport.beginGate(
            runId: runId,
            BeginGateRequest(
                name: name, prompt: prompt, data: try data.map { try CodableJSON.encode(AnyEncodable($0)) }))
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while gate.status == .pending {
            if let deadline, ContinuousClock.now > deadline { throw CairnError.gateTimedOut(gate: name) }
            try await Task.sleep(for: pollInterval)
            let (polled, runStatus) = try await transport.gate(runId: runId, gateId: gate.id)
            if runStatus == .cancelled { throw CairnError.runCancelled(runId: runId) }
            gate = polled
        }
        return GateDecision(
            gateId: gate.id, name: gate.name, decision: gate.status, actor: gate.actor, payload: gate.decisionPayload)
    }

    /// Runs a child workflow as its own run, linked to this one by `name`: a resumed parent
    /// reuses the existing child (and its completed result).
    public func child<Input: Codable & Sendable, Output: Codable & Sendable>(
        _ workflow: String, name: String? = nil, input: Input,
        _ body: @escaping @Sendable (RunContext, Input) async throws -> Output
    ) async throws -> Output {
        try await child(workflow, name: name, input: input, edgeType: nil, edgeMetadata: nil, body)
    }

    func child<Input: Codable & Sendable, Output: Codable & Sendable>(
        _ workflow: String, name: String?, input: Input, edgeType: String?, edgeMetadata: JSONObject?,
        _ body: @escaping @Sendable (RunContext, Input) async throws -> Output
    ) async throws -> Output {
        let child = try await transport.createChild(
            parentId: runId,
            CreateChildRequest(
                name: name ?? workflow,
                run: CreateRunRequest(workflowName: workflow, input: try CodableJSON.encode(input)),
                edgeType: edgeType, edgeMetadata: edgeMetadata))
        return try await cairn.execute(run: child, body)
    }

    /// Runs one child run of `workflow` per input, concurrently, and joins their results in a
    /// checkpointed `join:<name>` step: a resumed parent reuses the children (completed ones
    /// return their results) and replays the join. Results come in the order of `children`.
    public func fanout<Input: Codable & Sendable, Output: Codable & Sendable>(
        _ name: String, workflow: String, children: [(name: String, input: Input)],
        _ body: @escaping @Sendable (RunContext, Input) async throws -> Output
    ) async throws -> [Output] {
        let edgeMetadata = JSONObject([("fanout", .string(name))])
        let results = try await withThrowingTaskGroup(of: (Int, Output).self) { group in
            for (index, child) in children.enumerated() {
                group.addTask {
                    (
                        index,
                        try await self.child(
                            workflow, name: child.name, input: child.input, edgeType: "fanout",
                            edgeMetadata: edgeMetadata, body)
                    )
                }
            }
            var ordered = [Output?](repeating: nil, count: children.count)
            for try await (index, output) in group { ordered[index] = output }
            return ordered.compactMap { $0 }
        }
        return try await step(
            "join:\(name)", input: FanoutJoinInput(fanout: name, children: children.map(\.name)), replay: .auto,
            checkpointInvariant: "all child run results were collected"
        ) { results }
    }

    public var state: RunStateHandle { RunStateHandle(transport: transport, runId: runId) }
    public var usage: RunUsageHandle { RunUsageHandle(transport: transport, runId: runId, positions: positions) }
}

/// Where a workflow is, in terms that do not change when it replays: the step whose body is
/// running (or the last step begun, between steps) and how many usage entries were recorded
/// there. Usage entries are keyed by it, so a replay after a crash records each once.
final class RunPositions: Sendable {
    @TaskLocal static var currentStep: String?

    private struct Counts {
        var lastStep = ""
        var usage: [String: Int] = [:]
    }
    private let counts = Mutex(Counts())

    func stepBegun(_ name: String) { counts.withLock { $0.lastStep = name } }

    /// A new attempt of a step body records its usage again from the first position.
    func attemptBegun(step name: String) { counts.withLock { $0.usage["step:" + name] = 0 } }

    /// The key of the next usage entry at the current position.
    func nextUsageKey() -> String {
        counts.withLock { c in
            let scope = Self.currentStep.map { "step:" + $0 } ?? "after:" + c.lastStep
            let n = c.usage[scope, default: 0] + 1
            c.usage[scope] = n
            return "cairn-usage:\(scope):\(n)"
        }
    }
}

/// The run's live state and its versioned history.
public struct RunStateHandle: Sendable {
    let transport: any RunTransport
    let runId: String

    /// Replaces the state and records a version.
    @discardableResult
    public func set(_ value: some Encodable & Sendable, stream: String? = nil, label: String? = nil) async throws
        -> RunState
    {
        try await transport.writeState(
            runId: runId, value: try CodableJSON.encode(value), merge: false,
            options: StateWriteOptions(stream: stream, label: label))
    }

    /// The current value (of `stream`, default the run's main state) decoded as `T`, or nil
    /// when nothing was set yet. Any JSON value works: objects, arrays, strings, numbers.
    public func get<T: Decodable>(_ type: T.Type = T.self, stream: String? = nil) async throws -> T? {
        let detail = try await transport.run(id: runId)
        let value: RawJSON?
        if let stream {
            value = detail.stateStreams.first { $0.name == stream }?.currentValue
        } else {
            value = detail.state?.value
        }
        guard let value else { return nil }
        return try CodableJSON.decode(T.self, from: value)
    }

    /// Merges the top-level fields of `value` into the state and records a version.
    @discardableResult
    public func patch(_ value: some Encodable & Sendable, stream: String? = nil) async throws -> RunState {
        try await transport.writeState(
            runId: runId, value: try CodableJSON.encode(value), merge: true, options: StateWriteOptions(stream: stream))
    }

    /// Labels the current value as a milestone without changing it.
    @discardableResult
    public func save(_ label: String, stream: String? = nil) async throws -> StateVersion {
        try await transport.saveState(runId: runId, label: label, options: StateWriteOptions(stream: stream))
    }

    public func versions(stream: String? = nil, labeledOnly: Bool = false) async throws -> [StateVersion] {
        try await transport.stateVersions(runId: runId, stream: stream, labeledOnly: labeledOnly)
    }
}

/// The run's usage ledger.
public struct RunUsageHandle: Sendable {
    let transport: any RunTransport
    let runId: String
    let positions: RunPositions

    /// Adds an entry to the ledger. `step` is the id of the run's step it belongs to
    /// (`RunDetail.steps`), `label` free text, `metadata` any JSON object.
    ///
    /// Each entry is recorded once per position in the workflow, however often the workflow
    /// replays: its idempotency key is derived from the step it is recorded in (or the last
    /// step begun, between steps) and its order there, and the server keeps one entry per key.
    /// Pass `idempotencyKey` to choose the key yourself. Entries recorded from concurrently
    /// running steps of one run are keyed in the order their calls arrive.
    @discardableResult
    public func record(
        kind: String? = nil, provider: String? = nil, model: String? = nil, inputTokens: Int? = nil,
        outputTokens: Int? = nil,
        totalTokens: Int? = nil, costUsd: Double? = nil, quantity: Double? = nil, unit: String? = nil,
        step: String? = nil, label: String? = nil, metadata: (any Encodable & Sendable)? = nil,
        idempotencyKey: String? = nil
    ) async throws -> UsageRecord {
        var r = RecordUsageRequest()
        r.idempotencyKey = idempotencyKey ?? positions.nextUsageKey()
        r.stepId = step
        r.label = label
        if let metadata {
            guard case .object(let object) = try CodableJSON.encode(AnyEncodable(metadata)) else {
                throw CairnError.encoding("usage metadata must encode as a JSON object")
            }
            r.metadata = object
        }
        r.kind = kind
        r.provider = provider
        r.model = model
        r.inputTokens = inputTokens
        r.outputTokens = outputTokens
        r.totalTokens = totalTokens
        r.costUsd = costUsd
        r.quantity = quantity
        r.unit = unit
        return try await transport.recordUsage(runId: runId, r)
    }
}

/// The join step's input, the same as the Python SDK's, so both hash it alike.
private struct FanoutJoinInput: Encodable, Sendable {
    let fanout: String
    let join = "all"
    let children: [String]
}

/// Lets an existential `Encodable` be encoded.
struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
