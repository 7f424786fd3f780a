/// The run domain: lifecycle, leases, steps, gates, children, state and usage (Tidebase
/// §1.5–1.11). Every operation is one store transaction; events it appends reach live
/// subscribers only after that transaction commits.
public struct RunService: Sendable {
    public struct Configuration: Sendable {
        /// How long run and step leases last.
        public var leaseMilliseconds: Int64
        /// Prefix of the URLs at which gates are resolved (`resolveUrl`).
        public var publicURL: String
        public init(leaseMilliseconds: Int64 = 60_000, publicURL: String = "http://localhost:7373") {
            self.leaseMilliseconds = leaseMilliseconds
            self.publicURL = publicURL
        }
    }

    public let store: any RunStore
    public let configuration: Configuration
    /// What leases, delays, deadlines, schedules and sweeps measure time by.
    public let clock: any WallClock
    /// Which runs are forks (see `forkRun`), looked up once per run.
    let forks = RunForkCache()

    public init(store: any RunStore, configuration: Configuration, clock: any WallClock = SystemClock()) {
        self.store = store
        self.configuration = configuration
        self.clock = clock
    }

    private var leaseMs: Int64 { configuration.leaseMilliseconds }

    // MARK: Runs

    public func createRun(_ request: CreateRunRequest, tenant: TenantID) async throws -> Run {
        let run = try await store.write { tx in
            try await insertRun(request, metadata: request.metadata, tenant: tenant, tx: tx, extraEventFields: nil)
        }
        forks.rememberNotForked(run.id)
        return run
    }

    /// Inserts a pending run with its channels and its `run.created` event.
    private func insertRun(
        _ request: CreateRunRequest, metadata: JSONObject?, tenant: TenantID, tx: any RunWriteTransaction,
        extraEventFields: ((inout JSONWriter) -> Void)?
    ) async throws -> Run {
        let now = clock.now()
        let input = request.input.nonNull ?? .emptyObject
        let run = Run(
            id: Identifier.make("run_"), tenant: tenant, workflowName: request.workflowName,
            input: input.jsonText, metadata: JSONValue.object(metadata ?? JSONObject()).jsonText,
            status: .pending, recoveryWebhook: request.recoveryWebhook, now: now)
        try await tx.insertRun(run)
        for spec in request.channels {
            try await tx.insertChannel(
                Channel(
                    id: Identifier.make("chan_"), runId: run.id, type: spec.type, url: spec.url, secret: spec.secret,
                    events: spec.events, createdAt: now))
        }
        let payload = jsonObject { w in
            w.field("workflowName", run.workflowName)
            w.field("input", raw: run.input)
            extraEventFields?(&w)
            w.array("channels", request.channels) { w, c in
                w.beginObjectValue()
                w.field("type", c.type)
                w.field("url", c.url)
                w.key("events"); w.stringArray(c.events)
                w.endObject()
            }
        }
        _ = try await tx.appendEvent(runId: run.id, type: "run.created", payload: payload, at: now)
        return run
    }

    /// One page of the tenant's runs, newest first.
    public func listRuns(tenant: TenantID, _ query: RunListQuery = RunListQuery()) async throws -> RunPage {
        guard (1...RunListQuery.maxLimit).contains(query.limit) else {
            throw RunError.invalid("limit must be 1...\(RunListQuery.maxLimit)")
        }
        var oneMore = query
        oneMore.limit = query.limit + 1  // one more than asked tells whether another page exists
        let probe = oneMore
        let now = clock.now()
        let runs = try await store.read { tx in try await tx.runs(tenant: tenant, query: probe, now: now) }
        guard runs.count > query.limit else { return RunPage(runs: runs, next: nil) }
        let page = Array(runs.prefix(query.limit))
        return RunPage(runs: page, next: page.last.map { ListCursor(createdAt: $0.createdAt, id: $0.id) })
    }

    /// The run, if it exists in `tenant`.
    public func run(id: String, tenant: TenantID) async throws -> Run? {
        try await store.read { tx in try await tx.run(id: id, tenant: tenant) }
    }

    public func runDetail(id: String, tenant: TenantID) async throws -> RunDetail {
        try await store.read { tx in
            guard let run = try await tx.run(id: id, tenant: tenant) else { throw RunError.runNotFound }
            let edges = try await tx.edges(parentRunId: id)
            let children = try await tx.runs(ids: edges.map(\.childRunId))
            let childByID = Dictionary(children.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            return RunDetail(
                run: run,
                steps: try await tx.steps(runId: id),
                state: try await tx.state(runId: id),
                stateStreams: try await tx.stateStreams(runId: id),
                stateVersions: try await tx.stateVersions(runId: id, stream: nil, labeledOnly: false),
                runEdges: edges,
                childRuns: edges.compactMap { childByID[$0.childRunId] },
                recoveryAttempts: try await tx.recoveryAttempts(runId: id),
                channels: try await tx.channels(runId: id),
                channelDeliveries: try await tx.deliveries(runId: id, limit: 100),
                gates: try await tx.gates(runId: id),
                usage: try await tx.usage(runId: id),
                events: try await tx.events(runId: id, after: 0, limit: Int.max),
                fork: try await tx.runFork(runId: id))
        }
    }

    /// Acquires the run lease for `owner`. A completed run is returned unchanged, without a lease.
    public func beginRun(id: String, owner: String, tenant: TenantID) async throws -> Run {
        let leaseMs = self.leaseMs
        return try await store.write { tx in
            guard var run = try await tx.runForUpdate(id: id, tenant: tenant) else { throw RunError.runNotFound }
            let now = clock.now()
            switch run.status {
            case .completed: return run
            case .cancelled: throw RunError.runCancelled(run)
            default: break
            }
            if run.hasLiveLease(at: now), let holder = run.leaseOwner, holder != owner {
                throw RunError.runLeased(holder: holder)
            }
            run.status = .running
            run.leaseOwner = owner
            run.leaseExpiresAt = now.adding(milliseconds: leaseMs)
            run.attempt += 1
            run.updatedAt = now
            try await tx.updateRun(run)
            _ = try await tx.appendEvent(
                runId: id, type: "run.started", payload: jsonObject { $0.field("leaseOwner", owner) },
                at: now)
            return run
        }
    }

    /// Extends the run lease of its current holder.
    public func heartbeat(id: String, owner: String, tenant: TenantID) async throws -> Run {
        let leaseMs = self.leaseMs
        return try await store.write { tx in
            guard var run = try await tx.runForUpdate(id: id, tenant: tenant) else { throw RunError.runNotFound }
            guard run.status == .running, run.leaseOwner == owner else {
                throw RunError.leaseLost(run, cancelled: run.status == .cancelled)
            }
            let now = clock.now()
            run.leaseExpiresAt = now.adding(milliseconds: leaseMs)
            run.updatedAt = now
            try await tx.updateRun(run)
            return run
        }
    }

    /// Completes the run. A cancelled run stays cancelled and an already completed run keeps
    /// its first result; both are returned unchanged.
    public func completeRun(id: String, result: JSONValue?, tenant: TenantID) async throws -> Run {
        try await store.write { tx in
            guard var run = try await tx.runForUpdate(id: id, tenant: tenant) else { throw RunError.runNotFound }
            if run.status == .cancelled || run.status == .completed { return run }
            let now = clock.now()
            let resultText = result.nonNull?.jsonText
            run.status = .completed
            run.result = resultText
            run.error = nil
            run.leaseOwner = nil
            run.leaseExpiresAt = nil
            run.completedAt = now
            run.updatedAt = now
            try await tx.updateRun(run)
            _ = try await tx.appendEvent(
                runId: id, type: "run.completed",
                payload: jsonObject { $0.field("result", raw: resultText) }, at: now)
            try await Self.recordRunDeliveries(tx: tx, run: run, eventType: "run.completed", at: now)
            return run
        }
    }

    /// Fails the run, or requeues it with backoff when it is a queue run with attempts left.
    public func failRun(id: String, error: JSONValue?, failureClass: String?, tenant: TenantID) async throws -> (
        run: Run, requeued: Bool
    ) {
        try await store.write { tx in
            guard var run = try await tx.runForUpdate(id: id, tenant: tenant) else { throw RunError.runNotFound }
            if run.status == .cancelled { return (run, false) }
            if run.status == .completed { throw RunError.runAlreadyCompleted(run) }
            let now = clock.now()
            let errorText = error.textOrEmptyObject
            run.error = errorText
            run.leaseOwner = nil
            run.leaseExpiresAt = nil
            run.updatedAt = now
            if run.queue != nil, run.attempt < run.maxAttempts {
                let nextRunAt = now.adding(milliseconds: RetryPolicy.backoffMilliseconds(attempt: run.attempt))
                run.status = .queued
                run.runAt = nextRunAt
                try await tx.updateRun(run)
                _ = try await tx.appendEvent(
                    runId: id, type: "run.requeued",
                    payload: jsonObject { w in
                        w.field("error", raw: errorText)
                        w.field("attempt", run.attempt)
                        w.field("maxAttempts", run.maxAttempts)
                        w.field("nextRunAt", timestamp: nextRunAt)
                    }, at: now)
                return (run, true)
            }
            run.status = .failed
            run.failureClass = (run.queue != nil && run.maxAttempts > 1) ? "max_retries" : failureClass
            try await tx.updateRun(run)
            _ = try await tx.appendEvent(
                runId: id, type: "run.failed",
                payload: jsonObject { w in
                    w.field("error", raw: errorText)
                    w.field("failureClass", run.failureClass)
                }, at: now)
            try await Self.recordRunDeliveries(tx: tx, run: run, eventType: "run.failed", error: errorText, at: now)
            return (run, false)
        }
    }

    /// Cancels the run: one-way and idempotent; a completed run cannot be cancelled.
    public func cancelRun(id: String, reason: String?, actor: String?, tenant: TenantID) async throws -> Run {
        try await store.write { tx in
            guard var run = try await tx.runForUpdate(id: id, tenant: tenant) else { throw RunError.runNotFound }
            if run.status == .cancelled { return run }
            if run.status == .completed { throw RunError.runAlreadyCompleted(run) }
            let now = clock.now()
            run.markCancelled(reason: reason, actor: actor, at: now)
            try await tx.updateRun(run)
            _ = try await tx.appendEvent(
                runId: id, type: "run.cancelled",
                payload: jsonObject { w in
                    w.field("reason", reason)
                    w.field("actor", actor)
                }, at: now)
            try await Self.recordRunDeliveries(tx: tx, run: run, eventType: "run.cancelled", at: now)
            return run
        }
    }

    // MARK: Steps

    /// Decides what a worker does with a step (§1.6): replay its checkpoint, execute it under
    /// a fresh lease, or stop.
    public func beginStep(runId: String, _ request: BeginStepRequest, tenant: TenantID) async throws -> BeginStepOutcome
    {
        let leaseMs = self.leaseMs
        let owner = request.leaseOwner ?? Identifier.uuidString()
        let inputText = request.input.textOrEmptyObject
        let options = request.options ?? JSONObject()
        let optionsText = JSONValue.object(options).jsonText
        let contractText = JSONValue.object(ResumeContract.normalize(options)).jsonText
        @Sendable func freshStep(at now: Timestamp) -> Step {
            Step(
                id: Identifier.make("step_"), runId: runId, name: request.name, inputHash: request.inputHash,
                input: inputText, options: optionsText, resumeContract: contractText, status: .running, output: nil,
                error: nil, leaseOwner: owner, leaseExpiresAt: now.adding(milliseconds: leaseMs), attempt: 1,
                startedAt: now, completedAt: nil, createdAt: now, updatedAt: now)
        }
        // The common case in one statement: a step's first begin in a run known not to be a
        // fork (from an earlier begin on this replica). Anything else takes the transaction.
        if case .some(nil) = forks.known(runId) {
            let step = freshStep(at: clock.now())
            let payload = step.startedEventPayload
            let start = try await store.writeStatement { tx in
                try await tx.startStep(step, tenant: tenant, eventPayload: payload)
            }
            switch start {
            case .started: return .execute(step, leaseOwner: owner)
            case .runNotFound: throw RunError.runNotFound
            case .runCancelled: return .cancelled
            case .stepExists: break
            }
        }
        return try await store.write { tx in
            guard let run = try await tx.runForUpdate(id: runId, tenant: tenant) else { throw RunError.runNotFound }
            if run.status == .cancelled { return .cancelled }
            let now = clock.now()
            // A fork replays its parent's completed steps up to its point, read where they are.
            if let fork = try await forks.fork(of: runId, tx),
                try await tx.step(runId: runId, name: request.name) == nil,
                let inherited = try await Self.inheritedStep(tx, fork, name: request.name, inputHash: request.inputHash)
            {
                return .alreadyCompleted(inherited)
            }
            var step = freshStep(at: now)
            // A run's first begin of a step inserts it outright; a later one finds it taken.
            if try await !tx.insertStepIfNew(step) {
                // Under the run's lock the step can only have gone with its run.
                guard var existing = try await tx.step(runId: runId, name: request.name) else {
                    throw RunError.runNotFound
                }
                if existing.inputHash != request.inputHash {
                    return .inputMismatch(existing, expected: existing.inputHash, actual: request.inputHash)
                }
                if existing.status == .completed { return .alreadyCompleted(existing) }
                if existing.hasLiveLease(at: now), existing.leaseOwner != owner { return .locked(existing) }
                existing.status = .running
                existing.leaseOwner = owner
                existing.leaseExpiresAt = now.adding(milliseconds: leaseMs)
                existing.input = inputText
                existing.options = optionsText
                existing.resumeContract = contractText
                existing.attempt += 1
                existing.startedAt = existing.startedAt ?? now
                existing.updatedAt = now
                try await tx.updateStep(existing)
                step = existing
            }
            _ = try await tx.appendEvent(runId: runId, type: "step.started", payload: step.startedEventPayload, at: now)
            return .execute(step, leaseOwner: owner)
        }
    }

    /// Checkpoints a step's output; only the lease holder may.
    public func completeStep(runId: String, stepId: String, leaseOwner: String, output: JSONValue?, tenant: TenantID)
        async throws -> Step
    {
        let now = clock.now()
        let outputText = output.nonNull?.jsonText
        let completion = try await store.writeStatement { tx in
            try await tx.completeStep(
                runId: runId, tenant: tenant, stepId: stepId, leaseOwner: leaseOwner, output: outputText, at: now)
        }
        switch completion {
        case .completed(let step): return step
        case .runNotFound: throw RunError.runNotFound
        case .leaseLost: throw RunError.stepLeaseLost
        }
    }

    public func failStep(runId: String, stepId: String, _ request: FailStepRequest, tenant: TenantID) async throws
        -> Step
    {
        try await store.write { tx in
            guard try await tx.runForUpdate(id: runId, tenant: tenant) != nil else { throw RunError.runNotFound }
            guard var step = try await tx.step(runId: runId, id: stepId), step.leaseOwner == request.leaseOwner else {
                throw RunError.stepLeaseLost
            }
            let now = clock.now()
            let contract = (try? JSONParser.parse(step.resumeContract))?.objectValue ?? JSONObject()
            let decision =
                request.resumeDecision?.rawValue
                ?? ResumeContract.defaultDecision(contract: contract, retryable: request.retryable)
            if request.retryable || decision == ResumeDecision.autoRetry.rawValue {
                step.status = .failedRetryable
            } else if decision == ResumeDecision.manualReview.rawValue {
                step.status = .manualReview
            } else {
                step.status = .failed
            }
            let errorText = request.error.textOrEmptyObject
            step.error = errorText
            step.leaseOwner = nil
            step.leaseExpiresAt = nil
            step.updatedAt = now
            try await tx.updateStep(step)
            _ = try await tx.appendEvent(
                runId: runId, type: "step.failed",
                payload: jsonObject { w in
                    w.field("stepId", step.id)
                    w.field("name", step.name)
                    w.field("retryable", request.retryable)
                    w.field("resumeDecision", decision)
                    w.field("resumeContract", raw: step.resumeContract)
                    w.field("error", raw: errorText)
                }, at: now)
            let failedStep = step
            try await Self.recordDeliveries(
                tx: tx, runId: runId, eventType: "step.failed",
                payload: jsonObject { w in
                    w.key("step"); w.step(failedStep)
                    w.field("retryable", request.retryable)
                    w.field("resumeDecision", decision)
                    w.field("error", raw: errorText)
                }, at: now)
            return step
        }
    }

    // MARK: Gates

    /// Opens the named gate, or returns the existing one (idempotent per name).
    public func beginGate(runId: String, _ request: BeginGateRequest, tenant: TenantID) async throws -> Gate {
        let publicURL = configuration.publicURL
        return try await store.write { tx in
            guard let run = try await tx.runForUpdate(id: runId, tenant: tenant) else { throw RunError.runNotFound }
            if run.status == .cancelled { throw RunError.runCancelled(run) }
            if let existing = try await tx.gate(runId: runId, name: request.name) { return existing }
            let now = clock.now()
            let gate = Gate(
                id: Identifier.make("gate_"), runId: runId, name: request.name, prompt: request.prompt,
                data: request.data.textOrEmptyObject,
                status: .pending, decision: nil, actor: nil, decisionPayload: nil,
                capability: request.capability.nonNull?.jsonText,
                channels: (request.channels.nonNull ?? .array([])).jsonText,
                resolveToken: Identifier.randomHex(), createdAt: now, updatedAt: now, resolvedAt: nil)
            try await tx.insertGate(gate)
            let payload = jsonObject { w in
                w.key("gate"); w.publicGate(gate, publicURL: publicURL)
            }
            _ = try await tx.appendEvent(runId: runId, type: "gate.created", payload: payload, at: now)
            try await Self.recordDeliveries(
                tx: tx, runId: runId, eventType: "gate.created", payload: payload, gate: gate, at: now)
            return gate
        }
    }

    public func gate(runId: String, gateId: String, tenant: TenantID) async throws -> (gate: Gate, runStatus: RunStatus)
    {
        try await store.read { tx in
            guard let run = try await tx.run(id: runId, tenant: tenant) else { throw RunError.runNotFound }
            guard let gate = try await tx.gate(runId: runId, id: gateId) else { throw RunError.gateNotFound }
            return (gate, run.status)
        }
    }

    /// Resolves a pending gate exactly once; the first decision stands.
    public func resolveGate(runId: String, gateId: String, _ request: ResolveGateRequest, tenant: TenantID) async throws
        -> Gate
    {
        let publicURL = configuration.publicURL
        return try await store.write { tx in
            guard try await tx.runForUpdate(id: runId, tenant: tenant) != nil else { throw RunError.runNotFound }
            let now = clock.now()
            let decisionPayload = request.payload.textOrEmptyObject
            guard
                let gate = try await tx.resolveGate(
                    runId: runId, gateId: gateId, token: request.token, decision: request.decision,
                    actor: request.actor,
                    payload: decisionPayload, at: now)
            else { throw RunError.gateNotResolvable }
            let payload = jsonObject { w in
                w.key("gate"); w.publicGate(gate, publicURL: publicURL)
            }
            _ = try await tx.appendEvent(runId: runId, type: "gate.resolved", payload: payload, at: now)
            try await Self.recordDeliveries(
                tx: tx, runId: runId, eventType: "gate.resolved", payload: payload, gate: gate, at: now)
            return gate
        }
    }

    // MARK: Children

    /// Creates a child run under an edge name, or returns the existing child of that edge.
    public func createChild(parentId: String, _ request: CreateChildRequest, tenant: TenantID) async throws -> (
        run: Run, edge: RunEdge, created: Bool
    ) {
        try await store.write { tx in
            guard try await tx.runForUpdate(id: parentId, tenant: tenant) != nil else {
                throw RunError.parentRunNotFound
            }
            if let edge = try await tx.edge(parentRunId: parentId, name: request.name),
                let child = try await tx.run(id: edge.childRunId, tenant: tenant)
            {
                return (child, edge, false)
            }
            var metadata = request.run.metadata ?? JSONObject()
            metadata["parentRunId"] = .string(parentId)
            metadata["parentEdgeName"] = .string(request.name)
            let child = try await insertRun(request.run, metadata: metadata, tenant: tenant, tx: tx) { w in
                w.field("parentRunId", parentId)
                w.field("edgeName", request.name)
            }
            let now = clock.now()
            let edge = RunEdge(
                id: Identifier.make("edge_"), parentRunId: parentId, childRunId: child.id, name: request.name,
                edgeType: request.edgeType ?? "child",
                metadata: JSONValue.object(request.edgeMetadata ?? JSONObject()).jsonText, createdAt: now)
            try await tx.insertEdge(edge)
            _ = try await tx.appendEvent(
                runId: parentId, type: "run.child.created",
                payload: jsonObject { w in
                    w.key("childRun"); w.run(child)
                    w.key("edge"); w.edge(edge)
                }, at: now)
            return (child, edge, true)
        }
    }

    // MARK: State

    public enum StateWriteMode: Sendable { case replace, merge }

    /// Replaces (PUT) or shallow-merges (PATCH) the run's live state and records a version.
    public func writeState(
        runId: String, value: JSONValue?, mode: StateWriteMode, options: StateWriteOptions, tenant: TenantID
    )
        async throws -> RunState
    {
        // The sent value is checked and serialized before the single writer is entered; inside,
        // only the stored state is parsed and merged (both linear in their sizes).
        let sent = value.nonNull ?? .emptyObject
        let sentText = sent.jsonText
        let patch: JSONObject?
        switch (mode, sent) {
        case (.replace, _): patch = nil
        case (.merge, .object(let object)): patch = object
        case (.merge, _): throw RunError.invalid("PATCH value must be an object")
        }
        return try await store.write { tx in
            guard try await tx.runForUpdate(id: runId, tenant: tenant) != nil else { throw RunError.runNotFound }
            let now = clock.now()
            let current = try await tx.state(runId: runId)
            var valueText = sentText
            if let patch, let current, case .object(let base)? = try? JSONParser.parse(current.value) {
                valueText = JSONValue.object(base.merging(patch)).jsonText
            }
            let state = RunState(runId: runId, value: valueText, version: (current?.version ?? 0) + 1, updatedAt: now)
            try await tx.upsertState(state)
            let patchText = patch == nil ? nil : sentText
            let version = try await Self.recordVersion(
                tx: tx, runId: runId, stream: options.stream ?? "run", target: ("run", runId), value: valueText,
                patch: patchText, label: options.label, reason: options.reason,
                importance: options.importance ?? .normal,
                metadata: options.metadata, createdBy: options.createdBy, at: now)
            _ = try await tx.appendEvent(
                runId: runId, type: "state.updated",
                payload: jsonObject { w in
                    w.field("value", raw: valueText)
                    if let patchText { w.field("patch", raw: patchText) }
                    w.key("stateVersion"); w.publicStateVersion(version)
                }, at: now)
            try await Self.recordDeliveries(
                tx: tx, runId: runId, eventType: "state.updated",
                payload: jsonObject { w in
                    w.key("state"); w.state(state)
                    w.key("stateVersion"); w.publicStateVersion(version)
                }, at: now)
            return state
        }
    }

    /// Labels the current value of a stream as a new version without changing it.
    public func saveState(runId: String, label: String, options: StateWriteOptions, tenant: TenantID) async throws
        -> StateVersion
    {
        try await store.write { tx in
            guard try await tx.runForUpdate(id: runId, tenant: tenant) != nil else { throw RunError.runNotFound }
            let now = clock.now()
            let streamName = options.stream ?? "run"
            let value: RawJSON?
            if streamName == "run" {
                value = try await tx.state(runId: runId)?.value
            } else {
                value = try await tx.stateStream(runId: runId, name: streamName)?.currentValue
            }
            guard let value else { throw RunError.stateNotFound }
            let version = try await Self.recordVersion(
                tx: tx, runId: runId, stream: streamName, target: ("run", runId), value: value, patch: nil,
                label: label,
                reason: options.reason, importance: options.importance ?? .milestone, metadata: options.metadata,
                createdBy: options.createdBy, at: now)
            _ = try await tx.appendEvent(
                runId: runId, type: "state.saved",
                payload: jsonObject { w in
                    w.key("stateVersion"); w.publicStateVersion(version)
                }, at: now)
            return version
        }
    }

    /// Records a labeled milestone of a target's state.
    public func createSnapshot(runId: String, _ request: SnapshotRequest, tenant: TenantID) async throws -> StateVersion
    {
        try await store.write { tx in
            guard try await tx.runForUpdate(id: runId, tenant: tenant) != nil else { throw RunError.runNotFound }
            let now = clock.now()
            let target = request.target ?? (type: "run", id: runId)
            let value = request.state.textOrEmptyObject
            let version = try await Self.recordVersion(
                tx: tx, runId: runId, stream: "\(target.type):\(target.id)", target: target, value: value, patch: nil,
                label: request.label, reason: request.reason, importance: .milestone, metadata: request.metadata,
                createdBy: request.createdBy, at: now)
            _ = try await tx.appendEvent(
                runId: runId, type: "snapshot.created",
                payload: jsonObject { w in
                    w.key("stateVersion"); w.publicStateVersion(version)
                }, at: now)
            return version
        }
    }

    /// Appends the next version (gap-free per stream) and moves the stream's head to it.
    private static func recordVersion(
        tx: any RunWriteTransaction, runId: String, stream name: String, target: (type: String, id: String),
        value: RawJSON,
        patch: RawJSON?, label: String?, reason: String?, importance: StateImportance, metadata: JSONObject?,
        createdBy: String?, at now: Timestamp
    ) async throws -> StateVersion {
        var stream: StateStream
        if let existing = try await tx.stateStream(runId: runId, name: name) {
            stream = existing
        } else {
            stream = StateStream(
                id: Identifier.make("stream_"), runId: runId, name: name, targetType: target.type, targetId: target.id,
                currentVersion: 0, currentValue: "{}", metadata: "{}", createdAt: now, updatedAt: now)
            try await tx.insertStateStream(stream)
        }
        let version = StateVersion(
            id: Identifier.make("ver_"), streamId: stream.id, runId: runId, stepId: nil,
            version: stream.currentVersion + 1,
            value: value, patch: patch, label: label, reason: reason, importance: importance,
            metadata: JSONValue.object(metadata ?? JSONObject()).jsonText, createdBy: createdBy, createdAt: now)
        try await tx.insertStateVersion(version)
        stream.currentVersion = version.version
        stream.currentValue = value
        stream.targetType = target.type
        stream.targetId = target.id
        stream.updatedAt = now
        try await tx.updateStateStream(stream)
        return version
    }

    public func stateVersions(runId: String, stream: String?, labeledOnly: Bool, tenant: TenantID) async throws
        -> [StateVersion]
    {
        try await store.read { tx in
            guard try await tx.run(id: runId, tenant: tenant) != nil else { return [] }
            return try await tx.stateVersions(runId: runId, stream: stream, labeledOnly: labeledOnly)
        }
    }

    public func snapshots(runId: String, tenant: TenantID) async throws -> [StateVersion] {
        try await store.read { tx in
            guard try await tx.run(id: runId, tenant: tenant) != nil else { throw RunError.runNotFound }
            return try await tx.snapshots(runId: runId)
        }
    }

    // MARK: Usage

    public func recordUsage(runId: String, _ request: RecordUsageRequest, tenant: TenantID) async throws -> UsageRecord
    {
        try await store.write { tx in
            guard try await tx.runForUpdate(id: runId, tenant: tenant) != nil else { throw RunError.runNotFound }
            if let key = request.idempotencyKey, let earlier = try await tx.usage(runId: runId, idempotencyKey: key) {
                return earlier
            }
            if let stepId = request.stepId, try await tx.step(runId: runId, id: stepId) == nil {
                throw RunError.invalid("stepId \(stepId) is not a step of this run")
            }
            let now = clock.now()
            let total: Int?
            if let explicit = request.totalTokens {
                total = explicit
            } else if request.inputTokens == nil, request.outputTokens == nil {
                total = nil
            } else {
                total = (request.inputTokens ?? 0) + (request.outputTokens ?? 0)
            }
            let usage = UsageRecord(
                id: Identifier.make("use_"), runId: runId, stepId: request.stepId, kind: request.kind ?? "custom",
                provider: request.provider, model: request.model, label: request.label, quantity: request.quantity,
                unit: request.unit, inputTokens: request.inputTokens, outputTokens: request.outputTokens,
                totalTokens: total,
                costUsd: request.costUsd, metadata: JSONValue.object(request.metadata ?? JSONObject()).jsonText,
                createdAt: now)
            try await tx.insertUsage(usage, idempotencyKey: request.idempotencyKey)
            let payload = jsonObject { w in
                w.key("usage"); w.usage(usage)
            }
            _ = try await tx.appendEvent(runId: runId, type: "usage.recorded", payload: payload, at: now)
            try await Self.recordDeliveries(
                tx: tx, runId: runId, eventType: "usage.recorded", payload: payload, at: now)
            return usage
        }
    }

    // MARK: Events

    /// What a person looking at one run sees: a page of its steps (`stepLimit` before
    /// `stepsBefore`, newest first), its gates, children, newest usage and its totals, fork and newest events
    /// (`eventLimit` of them before `eventsBefore`), read in one snapshot. Steps and events are
    /// pages, so a run with a long history costs what one page costs.
    public func overview(
        id: String, eventsBefore: Int64 = .max, eventLimit: Int, stepsBefore: ListCursor? = nil, stepLimit: Int,
        forksAfter: ListCursor? = nil, forkLimit: Int = 20, tenant: TenantID
    ) async throws -> RunOverview {
        try await store.read { tx in
            guard let run = try await tx.run(id: id, tenant: tenant) else { throw RunError.runNotFound }
            // Descendants level by level (one query per parent), at most `maxDescendants` runs,
            // then ordered as a tree: each run right after its parent.
            var childrenOf: [String: [(RunEdge, Run)]] = [:]
            var found = 0
            var level = [id]
            while !level.isEmpty, found < RunOverview.maxDescendants {
                var next: [String] = []
                for parent in level where found < RunOverview.maxDescendants {
                    let edges = try await tx.edges(parentRunId: parent)
                    let byID = Dictionary(
                        try await tx.runs(ids: edges.map(\.childRunId)).map { ($0.id, $0) },
                        uniquingKeysWith: { a, _ in a })
                    for edge in edges where found < RunOverview.maxDescendants {
                        guard let child = byID[edge.childRunId] else { continue }
                        childrenOf[parent, default: []].append((edge, child))
                        found += 1
                        next.append(child.id)
                    }
                }
                level = next
            }
            let descendants = Self.treeOrder(root: id, childrenOf: childrenOf)
            return RunOverview(
                run: run,
                newestSteps: try await tx.steps(runId: id, before: stepsBefore, newestFirstLimit: stepLimit),
                gates: try await tx.gates(runId: id),
                descendants: descendants,
                newestUsage: try await tx.usage(runId: id, newestFirstLimit: RunOverview.maxUsage),
                usageTotals: try await tx.usageTotals(runId: id), fork: try await tx.runFork(runId: id),
                forks: try await Self.forkPage(tx, parentRunId: id, after: forksAfter, limit: forkLimit),
                stateVersions: try await tx.stateVersions(runId: id, newestFirstLimit: RunOverview.maxStateVersions),
                newestEvents: try await tx.events(runId: id, before: eventsBefore, newestFirstLimit: eventLimit))
        }
    }

    /// The runs under `root`, each right after its parent (depth first, children in order).
    private static func treeOrder(root: String, childrenOf: [String: [(RunEdge, Run)]]) -> [RunOverview.Descendant] {
        var rows: [RunOverview.Descendant] = []
        var stack: [(RunEdge, Run, Int, String)] = (childrenOf[root] ?? []).reversed().map { ($0.0, $0.1, 1, root) }
        while let (edge, run, depth, parent) = stack.popLast() {
            rows.append(.init(edge: edge, run: run, depth: depth, parentId: parent))
            stack.append(contentsOf: (childrenOf[run.id] ?? []).reversed().map { ($0.0, $0.1, depth + 1, run.id) })
        }
        return rows
    }

    /// Stored events after `after`, in order. An unknown run has none.
    public func events(runId: String, after: Int64, limit: Int, tenant: TenantID) async throws -> [RunEvent] {
        try await store.read { tx in
            guard try await tx.run(id: runId, tenant: tenant) != nil else { return [] }
            return try await tx.events(runId: runId, after: after, limit: limit)
        }
    }
}

/// Retry timing for queue runs (Tidebase §1.5): 5 s doubling per attempt, capped at 5 minutes.
public enum RetryPolicy {
    public static func backoffMilliseconds(attempt: Int) -> Int64 {
        let exponent = max(0, attempt - 1)
        if exponent >= 7 { return 300_000 }
        return min(300_000, 5_000 * (Int64(1) << Int64(exponent)))
    }
}

extension Step {
    /// The `step.started` event's payload.
    public var startedEventPayload: RawJSON {
        jsonObject { w in
            w.field("stepId", id)
            w.field("name", name)
            w.field("attempt", attempt)
            w.field("resumeContract", raw: resumeContract)
        }
    }

    /// The `step.completed` event's payload. The Postgres store builds the same text in SQL
    /// (`RunSQL.completeStep`), so a change here is a change there; a store test compares them.
    public var completedEventPayload: RawJSON {
        let contract = (try? JSONParser.parse(resumeContract))?.objectValue ?? JSONObject()
        return jsonObject { w in
            w.field("stepId", id)
            w.field("name", name)
            w.field("checkpointInvariant", json: contract["checkpointInvariant"] ?? .null)
            w.field("verifiedBy", json: contract["verifiedBy"] ?? .null)
        }
    }
}
