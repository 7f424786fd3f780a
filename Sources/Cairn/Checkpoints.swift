import CairnCore
import Foundation

extension Cairn {
    /// Checkpointed workflows (the SnapState protocol): immutable step checkpoints with etags,
    /// resume, replay, agents and webhooks, over HTTP or on the embedded store.
    public var checkpoints: Checkpoints { Checkpoints(transport: checkpointTransport) }
}

/// Checkpoints of agent workflows, as the SnapState protocol keeps them: each step of a
/// workflow is saved once, with its state, and a crashed agent resumes from the latest one.
///
/// ```swift
/// let saved = try await cairn.checkpoints.save(workflowId: "wf_42", step: 1, state: progress, label: "fetched")
/// let point = try await cairn.checkpoints.resume(workflowId: "wf_42")
/// let restored = try point.latest.state(as: Progress.self)
/// ```
public struct Checkpoints: Sendable {
    let transport: any CheckpointTransport

    /// Saves step `step` of a workflow (creating the workflow on its first save) with `state`,
    /// which must encode as a JSON object.
    ///
    /// A step is immutable: saving it again throws
    /// ``CairnError/checkpointConflict(checkpointId:currentETag:)`` with the stored etag,
    /// unless `ifMatch` carries that etag, which makes the call an idempotent replay of the
    /// original save (the stored checkpoint is returned and nothing is written).
    ///
    /// - Parameters:
    ///   - workflowId: the workflow's id (1 to 128 characters).
    ///   - step: the step's number (0 or more), unique within the workflow.
    ///   - state: what the step leaves behind; it must encode as a JSON object (at most 1 MiB).
    ///   - label: a name for the step (at most 256 characters).
    ///   - metadata: anything that encodes as a JSON object; `status` (`completed`, `failed`)
    ///     and `error` feed the workflow's status and failure analytics.
    ///   - agentId: the agent that saved it (also recorded as `metadata.agent_id`).
    ///   - ttlSeconds: how long the whole workflow lives after this save (default: the
    ///     server's, 7 days).
    ///   - ifMatch: the etag of the step's stored checkpoint, for a retry of a save that may
    ///     have succeeded.
    @discardableResult
    public func save(
        workflowId: String, step: Int, state: some Encodable & Sendable, label: String? = nil,
        metadata: (any Encodable & Sendable)? = nil, agentId: String? = nil, ttlSeconds: Int64? = nil,
        ifMatch: String? = nil
    ) async throws -> SavedCheckpoint {
        let stateJSON = try CodableJSON.encode(state)
        guard stateJSON.objectValue != nil else {
            throw CairnError.invalidRequest(code: "VALIDATION_ERROR", message: "state must encode as a JSON object")
        }
        return try await transport.save(
            CheckpointService.SaveRequest(
                workflowId: workflowId, step: step, state: stateJSON, label: label, agentId: agentId,
                metadata: try Self.object(metadata, "metadata"), ttlSeconds: ttlSeconds, ifMatch: ifMatch))
    }

    /// A checkpoint by the id its save returned (`cp_<workflow>_<step>`).
    public func get(_ checkpointId: String) async throws -> WorkflowCheckpoint {
        try await transport.checkpoint(id: checkpointId)
    }

    /// The workflow's latest checkpoint, with its etag: where a restarted agent picks up.
    /// Throws ``CairnError/notFound(_:)`` for a workflow with no checkpoints (or past its TTL).
    public func resume(workflowId: String) async throws -> ResumePoint {
        try await transport.resume(workflowId: workflowId)
    }

    /// Forks the workflow at its save of `step` into a new workflow (`into`, else a generated
    /// `wf_…` id) and returns the new workflow's resume point: its history is the parent's up to
    /// that save, read through without copying, so a fork costs the same whatever the parent
    /// holds; saves on it continue after `step`. `ttlSeconds` is the fork's own TTL. Throws
    /// ``CairnError/notFound(_:)`` when the workflow has no save of `step`, and
    /// ``CairnError/workflowExists(_:)`` when `into` names a live workflow. Cairn's extension.
    public func fork(workflowId: String, atStep step: Int, into newWorkflowId: String? = nil, ttlSeconds: Int64? = nil)
        async throws -> ResumePoint
    {
        try await transport.fork(
            workflowId: workflowId, step: step, newWorkflowId: newWorkflowId, ttlSeconds: ttlSeconds)
    }

    /// One page of the workflow's checkpoints in save order, with steps in
    /// `fromStep...toStep`, at most `limit` (1 to 1000); `hasMore` says whether more match.
    /// An unknown workflow is an empty page.
    public func replayPage(workflowId: String, fromStep: Int? = nil, toStep: Int? = nil, limit: Int = 100)
        async throws -> ReplayPage
    {
        try await transport.replay(workflowId: workflowId, fromStep: fromStep, toStep: toStep, limit: limit)
    }

    /// Every checkpoint of the workflow with steps in `fromStep...toStep`, fetched `pageSize`
    /// at a time as the sequence is iterated.
    ///
    /// The protocol pages by step: each page after the first starts past the highest step
    /// seen. When the workflow's steps were saved in ascending order (the usual case: the step
    /// counts up), that is every checkpoint, in save order. A step saved after a higher one
    /// may be left out of a walk that needs more than one page; read such a workflow with
    /// ``replayPage(workflowId:fromStep:toStep:limit:)`` and a limit that covers it.
    public func replay(workflowId: String, fromStep: Int? = nil, toStep: Int? = nil, pageSize: Int = 100)
        -> CheckpointReplay
    {
        CheckpointReplay(
            transport: transport, workflowId: workflowId, fromStep: fromStep, toStep: toStep, pageSize: pageSize)
    }

    /// One page of the tenant's live workflows, most recently active first; pass
    /// `page.nextCursor` as `cursor` for the next (a Cairn extension of the protocol).
    public func workflows(limit: Int = 100, cursor: String? = nil) async throws -> WorkflowPage {
        try await transport.workflows(limit: limit, cursor: cursor)
    }

    // MARK: Agents

    /// Registers an agent, or replaces the fields of one registered already (its creation
    /// and last-seen times stay).
    @discardableResult
    public func registerAgent(
        _ agentId: String, name: String? = nil, description: String? = nil, capabilities: [String] = [],
        metadata: (any Encodable & Sendable)? = nil
    ) async throws -> Agent {
        try await transport.upsertAgent(
            agentId: agentId,
            fields: .init(
                name: name, description: description, capabilities: Self.strings(capabilities),
                metadata: JSONValue.object(try Self.object(metadata, "metadata") ?? JSONObject()).jsonText))
    }

    /// The registered agents.
    public func agents() async throws -> [Agent] { try await transport.agents() }

    /// One registered agent; ``CairnError/notFound(_:)`` if there is none by that id.
    public func agent(_ agentId: String) async throws -> Agent { try await transport.agent(id: agentId) }

    /// Changes some of an agent's fields: `.keep` (the default) leaves one as it is, `.clear`
    /// removes it; `capabilities` and `metadata` replace the stored ones when given.
    @discardableResult
    public func updateAgent(
        _ agentId: String, name: FieldUpdate<String> = .keep, description: FieldUpdate<String> = .keep,
        capabilities: [String]? = nil, metadata: (any Encodable & Sendable)? = nil
    ) async throws -> Agent {
        var changes = CheckpointService.AgentChanges()
        changes.name = name
        changes.description = description
        changes.capabilities = capabilities.map(Self.strings)
        changes.metadata = try Self.object(metadata, "metadata").map { JSONValue.object($0).jsonText }
        return try await transport.updateAgent(id: agentId, changes: changes)
    }

    /// Removes a registered agent (its checkpoints stay).
    public func deleteAgent(_ agentId: String) async throws { try await transport.deleteAgent(id: agentId) }

    // MARK: Webhooks

    /// Registers `url` to receive `events` as signed POSTs (see
    /// ``verifyWebhookSignature(body:header:secret:)``). Webhooks are sent by a server: an
    /// embedded client refuses to register one (it makes no outbound calls).
    @discardableResult
    public func registerWebhook(url: String, events: [CheckpointEvent], secret: String? = nil) async throws
        -> CheckpointWebhook
    {
        try await transport.registerWebhook(url: url, events: events.map(\.rawValue), secret: secret)
    }

    /// The registered webhooks (never their secrets).
    public func webhooks() async throws -> [CheckpointWebhook] { try await transport.webhooks() }

    /// Removes a webhook; ``CairnError/notFound(_:)`` if there is none by that id.
    public func deleteWebhook(_ webhookId: String) async throws { try await transport.deleteWebhook(id: webhookId) }

    /// Checks a checkpoint webhook's `X-Checkpoint-Signature` header (`sha256=<hex>`, the
    /// HMAC-SHA256 of the raw body under the webhook's secret) in constant time. The scheme
    /// is the run protocol's, so this is ``Cairn/verifyWebhookSignature(body:header:secret:)``.
    public static func verifyWebhookSignature(body: some DataProtocol, header: String?, secret: String) -> Bool {
        Cairn.verifyWebhookSignature(body: body, header: header, secret: secret)
    }

    // MARK: Helpers

    /// An encodable value that must be a JSON object (metadata); nil stays nil.
    static func object(_ value: (any Encodable & Sendable)?, _ field: String) throws -> JSONObject? {
        guard let value else { return nil }
        guard let object = try CodableJSON.encode(AnyEncodable(value)).objectValue else {
            throw CairnError.invalidRequest(code: "VALIDATION_ERROR", message: "\(field) must encode as a JSON object")
        }
        return object
    }

    static func strings(_ list: [String]) -> RawJSON { JSONValue.array(list.map { .string($0) }).jsonText }
}

/// What a save returns: the new checkpoint's id and etag, and how its state differs from the
/// workflow's previous save.
public struct SavedCheckpoint: Sendable, Equatable {
    /// `cp_<workflow>_<step>`.
    public var id: String
    /// The workflow the checkpoint belongs to.
    public var workflowId: String
    /// The step it saved.
    public var step: Int
    /// Pass as `ifMatch` to make a retry of this save idempotent.
    public var etag: String
    /// When it was stored.
    public var createdAt: Timestamp
    /// What changed against the workflow's previous save.
    public var diff: CheckpointDiff
    /// Bytes of the state as compact JSON.
    public var sizeBytes: Int
}

/// The leaf paths (`a.b[2].c`) of a state that a save added, removed or changed against the
/// workflow's previous save. (A very large diff lists whole top-level keys instead.)
public struct CheckpointDiff: Sendable, Equatable {
    /// Paths present now and not before.
    public var added: [String]
    /// Paths present before and not now.
    public var removed: [String]
    /// Paths whose value changed.
    public var changed: [String]
}

/// A stored checkpoint.
public struct WorkflowCheckpoint: Sendable, Equatable {
    /// `cp_<workflow>_<step>`.
    public var id: String
    /// The workflow the checkpoint belongs to.
    public var workflowId: String
    /// The step it saved.
    public var step: Int
    /// The save's label, if it had one.
    public var label: String?
    /// The state as compact JSON text; ``state(as:)`` decodes it.
    public var state: RawJSON
    /// A JSON object (`{}` when the save carried none).
    public var metadata: RawJSON
    /// The first 16 hex digits of the state's SHA-256, in quotes: what `ifMatch` compares.
    public var etag: String
    /// Bytes of the state as compact JSON.
    public var sizeBytes: Int
    /// When it was stored.
    public var createdAt: Timestamp
    /// Against the previous save; given by ``Checkpoints/get(_:)``, nil in resume and replay.
    public var diff: CheckpointDiff?
    /// When the workflow expires; given by ``Checkpoints/get(_:)``, nil in resume and replay.
    public var expiresAt: Timestamp?

    /// The state, decoded.
    public func state<T: Decodable>(as type: T.Type) throws -> T { try CodableJSON.decode(T.self, from: state) }
    /// The metadata, decoded.
    public func metadata<T: Decodable>(as type: T.Type) throws -> T { try CodableJSON.decode(T.self, from: metadata) }
}

/// Where a workflow stands: its latest checkpoint and totals.
public struct ResumePoint: Sendable, Equatable {
    /// The workflow resumed.
    public var workflowId: String
    /// Its most recent save.
    public var latest: WorkflowCheckpoint
    /// Saves so far.
    public var totalCheckpoints: Int
    /// When its first save was made.
    public var startedAt: Timestamp
    /// When its latest save was made.
    public var lastActivityAt: Timestamp
    /// The latest checkpoint's etag.
    public var etag: String { latest.etag }
}

/// One page of a replay.
public struct ReplayPage: Sendable, Equatable {
    /// The page's checkpoints, in save order.
    public var checkpoints: [WorkflowCheckpoint]
    /// More checkpoints match than the page holds.
    public var hasMore: Bool
}

/// A live workflow, as the listing shows it.
public struct WorkflowSummary: Sendable, Equatable {
    /// The workflow's id.
    public var workflowId: String
    /// The step of its latest save.
    public var latestStep: Int
    /// Saves so far.
    public var totalCheckpoints: Int
    /// Bytes of all its states.
    public var totalSizeBytes: Int
    /// As its latest save's metadata says (`completed`, `failed`), else `active`.
    public var status: WorkflowStatus
    /// When its first save was made.
    public var startedAt: Timestamp
    /// When its latest save was made.
    public var lastActivityAt: Timestamp
    /// When the whole workflow goes, unless another save extends it.
    public var expiresAt: Timestamp
}

/// One page of workflows.
public struct WorkflowPage: Sendable, Equatable {
    /// Most recently active first.
    public var workflows: [WorkflowSummary]
    /// Pass as `cursor` for the next page; nil on the last.
    public var nextCursor: String?
}

/// A workflow's checkpoints, fetched a page at a time as they are iterated (see
/// ``Checkpoints/replay(workflowId:fromStep:toStep:pageSize:)``).
public struct CheckpointReplay: AsyncSequence, Sendable {
    /// Each checkpoint in turn.
    public typealias Element = WorkflowCheckpoint
    let transport: any CheckpointTransport
    let workflowId: String
    let fromStep: Int?
    let toStep: Int?
    let pageSize: Int

    /// Holds one page and fetches the next when it runs out.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let replay: CheckpointReplay
        var nextFrom: Int?
        var buffered: [WorkflowCheckpoint] = []
        var more = true

        /// The next checkpoint, fetching a page when needed; nil after the last.
        public mutating func next() async throws -> WorkflowCheckpoint? {
            while buffered.isEmpty {
                guard more else { return nil }
                let page = try await replay.transport.replay(
                    workflowId: replay.workflowId, fromStep: nextFrom, toStep: replay.toStep, limit: replay.pageSize)
                buffered = page.checkpoints.reversed()
                let highest = page.checkpoints.map(\.step).max()
                // An empty page with `hasMore` cannot move on: end rather than loop.
                more = page.hasMore && highest != nil
                if let highest { nextFrom = highest + 1 }
            }
            return buffered.popLast()
        }
    }

    /// Starts at the first page.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(replay: self, nextFrom: fromStep) }
}

/// The checkpoint protocol operations the SDK needs; implemented over HTTP and in-process.
protocol CheckpointTransport: Sendable {
    func save(_ request: CheckpointService.SaveRequest) async throws -> SavedCheckpoint
    func checkpoint(id: String) async throws -> WorkflowCheckpoint
    func resume(workflowId: String) async throws -> ResumePoint
    func fork(workflowId: String, step: Int, newWorkflowId: String?, ttlSeconds: Int64?) async throws -> ResumePoint
    func replay(workflowId: String, fromStep: Int?, toStep: Int?, limit: Int) async throws -> ReplayPage
    func workflows(limit: Int, cursor: String?) async throws -> WorkflowPage
    func upsertAgent(agentId: String, fields: CheckpointService.AgentFields) async throws -> Agent
    func agents() async throws -> [Agent]
    func agent(id: String) async throws -> Agent
    func updateAgent(id: String, changes: CheckpointService.AgentChanges) async throws -> Agent
    func deleteAgent(id: String) async throws
    func registerWebhook(url: String, events: [String], secret: String?) async throws -> CheckpointWebhook
    func webhooks() async throws -> [CheckpointWebhook]
    func deleteWebhook(id: String) async throws
}
