import CairnCore
import HTTPTypes
import Hummingbird
import NIOCore

/// The run protocol, wire-compatible with the Tidebase server 0.7 (contracts/tidebase.md
/// §1.3–1.11): decode, call `RunService`, encode.
struct TidebaseRoutes<Context: PrincipalContext>: Sendable {
    let runs: RunService
    let broker: EventBroker
    let recovery: RecoveryDispatcher
    let bodyLimit: Int
    var sseKeepalive: Duration = .seconds(15)
    /// Bytes queued for a slow event-stream reader before it is disconnected.
    var sseBufferBytes = 4 << 20
    /// How often an event stream opened with an API key checks that the key is still valid.
    var sseKeyCheck: Duration = .seconds(2)
    var keys: KeyService?

    func register(on router: Router<Context>) {
        let group = router.group().add(middleware: TidebaseErrorMiddleware<Context>())
        // The router needs one parameter name per position: here the segment is a workflow name.
        group.post("/runs/:runId", use: createRun)
        group.get("/runs", use: listRuns)
        group.get("/runs/:runId", use: runDetail)
        group.post("/runs/:runId/begin", use: beginRun)
        group.post("/runs/:runId/heartbeat", use: heartbeat)
        group.post("/runs/:runId/complete", use: completeRun)
        group.post("/runs/:runId/fail", use: failRun)
        group.post("/runs/:runId/cancel", use: cancelRun)
        group.post("/runs/:runId/recover", use: recoverRun)
        group.post("/runs/:runId/steps/begin", use: beginStep)
        group.post("/runs/:runId/steps/:stepId/complete", use: completeStep)
        group.post("/runs/:runId/steps/:stepId/fail", use: failStep)
        group.post("/runs/:runId/gates/begin", use: beginGate)
        group.get("/runs/:runId/gates/:gateId", use: getGate)
        group.post("/runs/:runId/gates/:gateId/resolve", use: resolveGate)
        group.post("/runs/:runId/children", use: createChild)
        group.post("/runs/:runId/fork", use: forkRun)
        group.get("/runs/:runId/forks", use: listForks)
        group.put("/runs/:runId/state", use: putState)
        group.patch("/runs/:runId/state", use: patchState)
        group.post("/runs/:runId/state/save", use: saveState)
        group.get("/runs/:runId/state/versions", use: stateVersions)
        group.post("/runs/:runId/snapshots", use: createSnapshot)
        group.get("/runs/:runId/snapshots", use: listSnapshots)
        group.post("/runs/:runId/usage", use: recordUsage)
        group.get("/runs/:runId/events", use: eventStream)
        registerQueues(on: group)
        registerSchedules(on: group)
    }

    // MARK: Runs

    /// Reads `channels` as declared at run creation.
    private static func channels(_ body: inout BodyReader) -> [ChannelSpec] {
        guard let items = body.array("channels") else { return [] }
        var specs: [ChannelSpec] = []
        for (i, item) in items.enumerated() {
            guard let o = item.objectValue else {
                body.fail("channels", "item \(i) must be an object")
                continue
            }
            guard o["type"]?.stringValue == "webhook" else {
                body.fail("channels", "item \(i): type must be \"webhook\"")
                continue
            }
            guard let url = o["url"]?.stringValue, BodyReader.isHTTPURL(url) else {
                body.fail("channels", "item \(i): url must be an absolute http(s) URL")
                continue
            }
            var secret: String?
            if let s = o["secret"], !s.isNull {
                guard let str = s.stringValue else {
                    body.fail("channels", "item \(i): secret must be a string")
                    continue
                }
                secret = str
            }
            var events: [String] = []
            if let e = o["events"], !e.isNull {
                guard let list = e.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                    body.fail("channels", "item \(i): events must be an array of strings")
                    continue
                }
                events = list.compactMap(\.stringValue)
            }
            specs.append(ChannelSpec(type: "webhook", url: url, secret: secret, events: events))
        }
        return specs
    }

    static func createRunRequest(workflowName: String, _ body: inout BodyReader) -> CreateRunRequest {
        CreateRunRequest(
            workflowName: workflowName, input: body.any("input"), metadata: body.object("metadata"),
            recoveryWebhook: body.url("recoveryWebhook"), channels: channels(&body))
    }

    @Sendable func createRun(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let workflowName = try request.pathParameter("runId", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        let create = Self.createRunRequest(workflowName: workflowName, &body)
        try body.validate()
        let run = try await runs.createRun(create, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("run"); w.run(run)
        }
    }

    /// `GET /runs`: without parameters the newest 100, as the reference server answers; a
    /// Cairn extension adds `limit`, `status`, `workflow`, `createdSince`, `stalled=true`,
    /// `order=asc` (oldest first) and `cursor` (the `nextCursor` of the previous page, listed in
    /// the same order).
    @Sendable func listRuns(_ request: Request, context: Context) async throws -> Response {
        let page = try await runs.listRuns(tenant: context.principal.tenant, try Self.runListQuery(request))
        return JSONResponse.object { w in
            w.array("runs", page.runs) { $0.run($1) }
            w.field("nextCursor", page.next?.text)
        }
    }

    static func runListQuery(_ request: Request) throws -> RunListQuery {
        let parameters = request.uri.queryParameters
        var query = RunListQuery()
        var issues: [ValidationIssue] = []
        func fail(_ name: String, _ message: String) { issues.append(ValidationIssue(path: [name], message: message)) }
        if let raw = parameters["limit"] {
            if let limit = Int(raw), (1...RunListQuery.maxLimit).contains(limit) {
                query.limit = limit
            } else {
                fail("limit", "must be an integer 1...\(RunListQuery.maxLimit)")
            }
        }
        if let raw = parameters["status"] {
            query.status = RunStatus(rawValue: String(raw))
            if query.status == nil {
                fail("status", "must be one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        if let raw = parameters["workflow"] {
            if raw.isEmpty || raw.utf8.count > 200 { fail("workflow", "must be 1...200 bytes") }
            query.workflowName = String(raw)
        }
        if let raw = parameters["createdSince"] {
            query.createdSince = Timestamp(iso8601: String(raw))
            if query.createdSince == nil { fail("createdSince", "expected an ISO 8601 date-time") }
        }
        if let raw = parameters["stalled"] {
            switch raw {
            case "true": query.stalledOnly = true
            case "false": query.stalledOnly = false
            default: fail("stalled", "must be true or false")
            }
        }
        if let raw = parameters["order"] {
            switch raw {
            case "desc": query.oldestFirst = false
            case "asc": query.oldestFirst = true
            default: fail("order", "must be desc (newest first, the default) or asc (oldest first)")
            }
        }
        if let raw = parameters["cursor"] {
            query.after = ListCursor(text: String(raw))
            if query.after == nil { fail("cursor", "not a cursor this server gave (nextCursor)") }
        }
        if !issues.isEmpty { throw APIError.invalidBody(issues) }
        return query
    }

    @Sendable func runDetail(_ request: Request, context: Context) async throws -> Response {
        var detail = try await runs.runDetail(
            id: try request.pathParameter("runId", context), tenant: context.principal.tenant)
        // A reply recorded while an address class was allowed stays hidden once it is refused.
        let guardrail = recovery.guardrail
        for i in detail.recoveryAttempts.indices
        where guardrail.refusesWithoutLookup(detail.recoveryAttempts[i].webhookURL) {
            detail.recoveryAttempts[i].responseBody = nil
        }
        for i in detail.channelDeliveries.indices where guardrail.refusesWithoutLookup(detail.channelDeliveries[i].url)
        {
            detail.channelDeliveries[i].responseBody = nil
        }
        return JSONResponse.object { w in
            w.key("run"); w.run(detail.run)
            w.array("steps", detail.steps) { $0.step($1) }
            w.key("state")
            if let state = detail.state { w.state(state) } else { w.null() }
            w.array("stateStreams", detail.stateStreams) { $0.stateStream($1) }
            w.array("stateVersions", detail.stateVersions) { $0.stateVersion($1) }
            w.array("runEdges", detail.runEdges) { $0.edge($1) }
            w.array("childRuns", detail.childRuns) { $0.run($1) }
            w.array("recoveryAttempts", detail.recoveryAttempts) { $0.recoveryAttempt($1) }
            w.array("channels", detail.channels) { $0.channel($1) }
            w.array("channelDeliveries", detail.channelDeliveries) { $0.channelDelivery($1) }
            w.array("gates", detail.gates) { $0.gate($1) }
            w.array("usage", detail.usage) { $0.usage($1) }
            w.array("events", detail.events) { $0.event($1) }
            // Cairn extension: nothing will move this run on its own (Run.isStalled).
            w.field("stalled", detail.run.isStalled(at: runs.clock.now()))
            // Cairn extension: the run and step a fork was made from.
            if let fork = detail.fork {
                w.key("forkedFrom"); w.runFork(fork)
            }
        }
    }

    @Sendable func beginRun(_ request: Request, context: Context) async throws -> Response {
        let runId = try request.pathParameter("runId", context)
        let headerOwner = request.headers[HTTPField.Name("x-tidebase-worker")!].flatMap { $0.isEmpty ? nil : $0 }
        let owner = headerOwner ?? Identifier.uuidString()
        let run = try await runs.beginRun(id: runId, owner: owner, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("run"); w.run(run)
            w.field("leaseOwner", owner)
        }
    }

    @Sendable func heartbeat(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let runId = try request.pathParameter("runId", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit, allowEmpty: true)
        let owner = body.string("leaseOwner", minLength: 1)
        try body.validate()
        guard let owner else { throw APIError(.badRequest, "leaseOwner is required") }
        let run = try await runs.heartbeat(id: runId, owner: owner, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("run"); w.run(run)
        }
    }

    @Sendable func completeRun(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let runId = try request.pathParameter("runId", context)
        let body = try await BodyReader.read(&request, limit: bodyLimit)
        let run = try await runs.completeRun(id: runId, result: body.any("result"), tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("run"); w.run(run)
        }
    }

    @Sendable func failRun(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let runId = try request.pathParameter("runId", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        let failureClass = body.string("failureClass")
        try body.validate()
        let (run, requeued) = try await runs.failRun(
            id: runId, error: body.any("error"), failureClass: failureClass, tenant: context.principal.tenant)
        if !requeued, run.status == .failed, run.recoveryWebhook != nil {
            // Awaited before answering, as the reference does: the application's webhook handler
            // may resume this run right away. The failure is committed and no lock is held.
            _ = try await recovery.recover(runId: runId, reason: "run_failed", tenant: context.principal.tenant)
        }
        return JSONResponse.object { w in
            w.key("run"); w.run(run)
            w.field("requeued", requeued)
        }
    }

    @Sendable func cancelRun(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let runId = try request.pathParameter("runId", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit, allowEmpty: true)
        let reason = body.string("reason")
        let actor = body.string("actor")
        try body.validate()
        let run = try await runs.cancelRun(id: runId, reason: reason, actor: actor, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("run"); w.run(run)
        }
    }

    @Sendable func recoverRun(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let runId = try request.pathParameter("runId", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit, allowEmpty: true)
        let reason = body.string("reason", minLength: 1) ?? "manual"
        try body.validate()
        let attempt = try await recovery.recover(runId: runId, reason: reason, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("recoveryAttempt"); w.recoveryAttempt(attempt)
        }
    }

    // MARK: Steps

    @Sendable func beginStep(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let runId = try request.pathParameter("runId", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        let begin = BeginStepRequest(
            name: body.requiredString("name"), inputHash: body.requiredString("inputHash"), input: body.any("input"),
            options: body.object("options"), leaseOwner: body.string("leaseOwner"))
        try body.validate()
        let outcome = try await runs.beginStep(runId: runId, begin, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            switch outcome {
            case .cancelled:
                w.field("action", "cancelled")
            case .inputMismatch(let step, let expected, let actual):
                w.field("action", "input_mismatch")
                w.key("step"); w.step(step)
                w.field("expectedInputHash", expected)
                w.field("actualInputHash", actual)
            case .alreadyCompleted(let step):
                w.field("action", "return")
                w.key("step"); w.step(step)
                w.field("output", raw: step.output)
            case .locked(let step):
                w.field("action", "locked")
                w.key("step"); w.step(step)
            case .execute(let step, let owner):
                w.field("action", "execute")
                w.key("step"); w.step(step)
                w.field("leaseOwner", owner)
            }
        }
    }

    @Sendable func completeStep(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let runId = try request.pathParameter("runId", context)
        let stepId = try request.pathParameter("stepId", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        let owner = body.requiredString("leaseOwner", minLength: 0)
        try body.validate()
        let step = try await runs.completeStep(
            runId: runId, stepId: stepId, leaseOwner: owner, output: body.any("output"),
            tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("step"); w.step(step)
        }
    }

    @Sendable func failStep(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let runId = try request.pathParameter("runId", context)
        let stepId = try request.pathParameter("stepId", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        let fail = FailStepRequest(
            leaseOwner: body.requiredString("leaseOwner", minLength: 0), error: body.any("error"),
            retryable: body.bool("retryable") ?? false,
            resumeDecision: body.enumValue(
                "resumeDecision", ResumeDecision.self, allowed: ResumeDecision.allCases.map(\.rawValue)))
        try body.validate()
        let step = try await runs.failStep(runId: runId, stepId: stepId, fail, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("step"); w.step(step)
        }
    }

    // MARK: Gates

    @Sendable func beginGate(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let runId = try request.pathParameter("runId", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        let begin = BeginGateRequest(
            name: body.requiredString("name"), prompt: body.requiredString("prompt"), data: body.any("data"),
            channels: body.array("channels").map { .array($0) }, capability: body.any("capability"))
        _ = body.int("timeoutMs", min: 1)
        try body.validate()
        let gate = try await runs.beginGate(runId: runId, begin, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.field("action", gate.status == .pending ? "wait" : "return")
            w.key("gate"); w.gate(gate)
        }
    }

    @Sendable func getGate(_ request: Request, context: Context) async throws -> Response {
        let (gate, status) = try await runs.gate(
            runId: try request.pathParameter("runId", context), gateId: try request.pathParameter("gateId", context),
            tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("gate"); w.gate(gate)
            w.field("runStatus", status.rawValue)
        }
    }

    @Sendable func resolveGate(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let runId = try request.pathParameter("runId", context)
        let gateId = try request.pathParameter("gateId", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        let token = body.requiredString("token")
        let decision = body.enumValue("decision", GateStatus.self, allowed: ["approved", "rejected", "canceled"])
        if body.object["decision"] == nil { body.fail("decision", "required") }
        if decision == .pending { body.fail("decision", "must be one of approved, rejected, canceled") }
        let actor = body.string("actor")
        try body.validate()
        guard let decision else { throw APIError.invalidBody(body.issues) }
        let gate = try await runs.resolveGate(
            runId: runId, gateId: gateId,
            ResolveGateRequest(token: token, decision: decision, actor: actor, payload: body.any("payload")),
            tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("gate"); w.gate(gate)
        }
    }

    // MARK: Children

    @Sendable func createChild(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let parentId = try request.pathParameter("runId", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        let name = body.requiredString("name")
        let workflowName = body.requiredString("workflowName")
        let child = CreateChildRequest(
            name: name, run: Self.createRunRequest(workflowName: workflowName, &body),
            edgeType: body.string("edgeType"),
            edgeMetadata: body.object("edgeMetadata"))
        try body.validate()
        let (run, edge, created) = try await runs.createChild(
            parentId: parentId, child, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("run"); w.run(run)
            w.key("edge"); w.edge(edge)
            w.field("created", created)
        }
    }

    /// `POST /runs/:runId/fork` `{"step": NAME}`: a new run that replays this run's steps up to
    /// NAME (Cairn's extension, see `RunService.forkRun`).
    @Sendable func forkRun(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let runId = try request.pathParameter("runId", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        let step = body.requiredString("step")
        try body.validate()
        let (run, fork) = try await runs.forkRun(id: runId, atStep: step, tenant: context.principal.tenant)
        return JSONResponse.object(.created) { w in
            w.key("run"); w.run(run)
            w.key("forkedFrom"); w.runFork(fork)
        }
    }

    /// `GET /runs/:runId/forks?limit=&cursor=`: the forks made of the run, newest first, each
    /// with its run and where it was forked (Cairn's extension).
    @Sendable func listForks(_ request: Request, context: Context) async throws -> Response {
        let runId = try request.pathParameter("runId", context)
        let parameters = request.uri.queryParameters
        var issues: [ValidationIssue] = []
        var limit = 100
        if let raw = parameters["limit"] {
            if let value = Int(raw), (1...RunListQuery.maxLimit).contains(value) {
                limit = value
            } else {
                issues.append(
                    ValidationIssue(path: ["limit"], message: "must be an integer 1...\(RunListQuery.maxLimit)"))
            }
        }
        var after: ListCursor?
        if let raw = parameters["cursor"] {
            after = ListCursor(text: String(raw))
            if after == nil {
                issues.append(ValidationIssue(path: ["cursor"], message: "not a cursor this server gave (nextCursor)"))
            }
        }
        if !issues.isEmpty { throw APIError.invalidBody(issues) }
        let page = try await runs.runForks(of: runId, after: after, limit: limit, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.array("forks", page.forks) { w, forked in
                w.beginObjectValue()
                w.key("run"); w.run(forked.run)
                w.key("forkedFrom"); w.runFork(forked.fork)
                w.endObject()
            }
            w.field("nextCursor", page.next?.text)
        }
    }

    // MARK: State

    private static func stateOptions(_ body: inout BodyReader) -> StateWriteOptions {
        StateWriteOptions(
            stream: body.string("stream", minLength: 1), label: body.string("label"), reason: body.string("reason"),
            importance: body.enumValue(
                "importance", StateImportance.self, allowed: StateImportance.allCases.map(\.rawValue)),
            metadata: body.object("metadata"), createdBy: body.string("createdBy"))
    }

    private func writeState(_ request: Request, context: Context, mode: RunService.StateWriteMode) async throws
        -> Response
    {
        var request = request
        let runId = try request.pathParameter("runId", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        let options = Self.stateOptions(&body)
        if mode == .merge, let v = body.any("value"), !v.isNull, v.objectValue == nil {
            body.fail("value", "expected an object to merge")
        }
        try body.validate()
        let state = try await runs.writeState(
            runId: runId, value: body.any("value"), mode: mode, options: options, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("state"); w.state(state)
        }
    }

    @Sendable func putState(_ request: Request, context: Context) async throws -> Response {
        try await writeState(request, context: context, mode: .replace)
    }

    @Sendable func patchState(_ request: Request, context: Context) async throws -> Response {
        try await writeState(request, context: context, mode: .merge)
    }

    @Sendable func saveState(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let runId = try request.pathParameter("runId", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        let label = body.requiredString("label")
        let options = Self.stateOptions(&body)
        try body.validate()
        let version = try await runs.saveState(
            runId: runId, label: label, options: options, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("stateVersion"); w.stateVersion(version)
        }
    }

    @Sendable func stateVersions(_ request: Request, context: Context) async throws -> Response {
        let runId = try request.pathParameter("runId", context)
        let query = request.uri.queryParameters
        let stream = query["stream"].map(String.init)
        let labeled = query["labeled"] == "true"
        let versions = try await runs.stateVersions(
            runId: runId, stream: stream, labeledOnly: labeled, tenant: context.principal.tenant)
        return JSONResponse.object { w in w.array("stateVersions", versions) { $0.stateVersion($1) } }
    }

    @Sendable func createSnapshot(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let runId = try request.pathParameter("runId", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        let label = body.requiredString("label")
        var target: (type: String, id: String)?
        if let t = body.object("target") {
            if let type = t["type"]?.stringValue, let id = t["id"]?.stringValue {
                target = (type, id)
            } else {
                body.fail("target", "expected {type: string, id: string}")
            }
        }
        let snapshot = SnapshotRequest(
            label: label, target: target, state: body.any("state"), reason: body.string("reason"),
            metadata: body.object("metadata"), createdBy: body.string("createdBy"))
        try body.validate()
        let version = try await runs.createSnapshot(runId: runId, snapshot, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("snapshot"); w.stateVersion(version)
        }
    }

    @Sendable func listSnapshots(_ request: Request, context: Context) async throws -> Response {
        let list = try await runs.snapshots(
            runId: try request.pathParameter("runId", context), tenant: context.principal.tenant)
        return JSONResponse.object { w in w.array("snapshots", list) { $0.stateVersion($1) } }
    }

    // MARK: Usage

    @Sendable func recordUsage(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let runId = try request.pathParameter("runId", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        var usage = RecordUsageRequest()
        usage.stepId = body.string("stepId")
        usage.kind = body.string("kind")
        usage.provider = body.string("provider")
        usage.model = body.string("model")
        usage.label = body.string("label")
        usage.quantity = body.number("quantity")
        usage.unit = body.string("unit")
        usage.inputTokens = body.int("inputTokens", min: 0)
        usage.outputTokens = body.int("outputTokens", min: 0)
        usage.totalTokens = body.int("totalTokens", min: 0)
        usage.costUsd = body.number("costUsd", min: 0)
        usage.metadata = body.object("metadata")
        usage.idempotencyKey = body.string("idempotencyKey", minLength: 1, maxLength: 200)
        try body.validate()
        let record = try await runs.recordUsage(runId: runId, usage, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("usage"); w.usage(record)
        }
    }
}
