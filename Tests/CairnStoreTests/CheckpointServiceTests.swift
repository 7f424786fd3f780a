import CairnCore
import CairnStore
import Testing

/// The checkpoint service over the SQLite store: immutability, replay paging, TTL, webhook
/// deliveries, tenant isolation and diffs under concurrent saves.
@Suite struct CheckpointServiceTests {
    /// The store of the running test, per engine (`on(_:_:)` sets it).
    @TaskLocal static var current: TestStore?
    var t: TestStore { Self.current! }
    var service: CheckpointService { CheckpointService(store: t.store) }

    func on(_ engine: StoreEngine, _ body: () async throws -> Void) async throws {
        try await Self.$current.withValue(try await TestStore(engine), operation: body)
    }

    func save(
        _ workflow: String, _ step: Int, _ state: String, tenant: TenantID = .default, ttl: Int64? = nil,
        ifMatch: String? = nil, metadata: String? = nil, agent: String? = nil, in service: CheckpointService? = nil
    ) async throws -> CheckpointService.SavedCheckpoint {
        try await (service ?? self.service).save(
            .init(
                workflowId: workflow, step: step, state: try JSONParser.parse(state), agentId: agent,
                metadata: try metadata.map { try JSONParser.parse($0).objectValue! }, ttlSeconds: ttl,
                ifMatch: ifMatch), tenant: tenant)
    }

    @Test(arguments: StoreEngine.available) func aStepIsImmutableAndIfMatchReplaysTheOriginalWithoutWriting(
        engine: StoreEngine
    ) async throws {
        try await on(engine) {
            let first = try await save("wf", 1, #"{"a":1}"#)
            await #expect(throws: CheckpointError.checkpointExists(id: "cp_wf_001", etag: first.checkpoint.etag)) {
                _ = try await save("wf", 1, #"{"a":2}"#)
            }
            await #expect(throws: CheckpointError.etagMismatch) {
                _ = try await save("wf", 1, #"{"a":2}"#, ifMatch: "\"0000000000000000\"")
            }
            let replayed = try await save("wf", 1, #"{"a":3}"#, ifMatch: first.checkpoint.etag)
            #expect(replayed.replayed)
            #expect(replayed.checkpoint == first.checkpoint)
            let (head, latest) = try await service.resume(workflowId: "wf", tenant: .default)
            #expect(head.totalCheckpoints == 1)
            #expect(latest.state == #"{"a":1}"#)
            // If-Match on a step not yet saved is ignored.
            #expect(try await !save("wf", 2, #"{"a":4}"#, ifMatch: "\"nope\"").replayed)
        }
    }

    @Test(arguments: StoreEngine.available) func resumeIsTheMostRecentSaveNotTheHighestStep(engine: StoreEngine)
        async throws
    {
        try await on(engine) {
            _ = try await save("wf", 5, #"{"s":5}"#)
            _ = try await save("wf", 2, #"{"s":2}"#)
            let (head, latest) = try await service.resume(workflowId: "wf", tenant: .default)
            #expect(latest.step == 2 && head.totalCheckpoints == 2)
            // The diff is against the previous save, whatever its step.
            #expect(latest.diff == #"{"added":[],"removed":[],"changed":["s"]}"#)
        }
    }

    @Test(arguments: StoreEngine.available) func replayFiltersBeforeTheLimitAndKnowsWhetherMoreRemain(
        engine: StoreEngine
    ) async throws {
        try await on(engine) {
            for step in 1...10 { _ = try await save("wf", step, #"{"n":\#(step)}"#) }
            let page = try await service.replay(workflowId: "wf", fromStep: 3, toStep: 7, limit: 2, tenant: .default)
            #expect(page.checkpoints.map(\.step) == [3, 4] && page.hasMore)
            let rest = try await service.replay(workflowId: "wf", fromStep: 5, toStep: 7, limit: 3, tenant: .default)
            #expect(rest.checkpoints.map(\.step) == [5, 6, 7] && !rest.hasMore)
            let all = try await service.replay(
                workflowId: "wf", fromStep: nil, toStep: nil, limit: 100, tenant: .default)
            #expect(all.checkpoints.count == 10 && !all.hasMore)
            let none = try await service.replay(
                workflowId: "other", fromStep: nil, toStep: nil, limit: 5, tenant: .default)
            #expect(none.checkpoints.isEmpty && !none.hasMore)
        }
    }

    @Test(arguments: StoreEngine.available) func tenantsHaveSeparateWorkflowsUnderTheSameIds(engine: StoreEngine)
        async throws
    {
        try await on(engine) {
            let acme = TenantID(rawValue: "acme")
            _ = try await save("wf", 1, #"{"who":"default"}"#)
            _ = try await save("wf", 1, #"{"who":"acme"}"#, tenant: acme)
            #expect(try await service.resume(workflowId: "wf", tenant: acme).1.state == #"{"who":"acme"}"#)
            await #expect(throws: CheckpointError.workflowNotFound("wf")) {
                _ = try await service.resume(workflowId: "wf", tenant: TenantID(rawValue: "globex"))
            }
            await #expect(throws: CheckpointError.checkpointNotFound("cp_wf_001")) {
                _ = try await service.checkpoint(id: "cp_wf_001", tenant: TenantID(rawValue: "globex"))
            }
            let hook = try await service.registerWebhook(
                url: "http://127.0.0.1:1/x", events: ["checkpoint.saved"], secret: nil, tenant: acme)
            await #expect(throws: CheckpointError.webhookNotFound(hook.id)) {
                try await service.deleteWebhook(id: hook.id, tenant: .default)
            }
            #expect(try await service.webhooks(tenant: .default).isEmpty)
        }
    }

    @Test(arguments: StoreEngine.available) func expiredWorkflowsAreGoneAtOnceAndSweptWithAnExpiredEvent(
        engine: StoreEngine
    ) async throws {
        try await on(engine) {
            let clock = ManualClock()
            let t = try await TestStore(engine, clock: clock)
            let service = CheckpointService(store: t.store, clock: clock)
            _ = try await service.registerWebhook(
                url: "http://127.0.0.1:1/hook", events: ["workflow.expired"], secret: "k", tenant: .default)
            _ = try await save("short", 1, #"{"a":1}"#, ttl: 1, in: service)
            _ = try await save("long", 1, #"{"a":1}"#, in: service)
            clock.advance(milliseconds: 999)
            #expect(try await service.resume(workflowId: "short", tenant: .default).0.totalCheckpoints == 1)
            #expect(try await service.expireWorkflows(limit: 10).isEmpty)
            clock.advance(milliseconds: 1)
            await #expect(throws: CheckpointError.workflowNotFound("short")) {
                _ = try await service.resume(workflowId: "short", tenant: .default)
            }
            let swept = try await service.expireWorkflows(limit: 10)
            #expect(swept.map(\.workflowId) == ["short"])
            let deliveries = try await t.runs.dueDeliveries(limit: 10)
            #expect(deliveries.count == 1)
            let body = try JSONParser.parse(try #require(deliveries.first).body)
            #expect(body["event"] == .string("workflow.expired"))
            #expect(body["data"] == .object(JSONObject([("workflow_id", .string("short"))])))
            #expect(deliveries.first?.kind == .checkpointWebhook && deliveries.first?.runId == nil)
            // The expired workflow's id starts afresh.
            let again = try await save("short", 1, #"{"b":2}"#, in: service)
            #expect(again.checkpoint.sequence == 1)
            #expect(again.checkpoint.diff == #"{"added":["b"],"removed":[],"changed":[]}"#)
            #expect(try await service.resume(workflowId: "long", tenant: .default).0.totalCheckpoints == 1)
        }
    }

    @Test(arguments: StoreEngine.available) func savesRecordSignedDeliveriesOnlyForSubscribedWebhooks(
        engine: StoreEngine
    ) async throws {
        try await on(engine) {
            let saved = try await service.registerWebhook(
                url: "http://127.0.0.1:1/saved", events: ["checkpoint.saved"], secret: "s", tenant: .default)
            _ = try await service.registerWebhook(
                url: "http://127.0.0.1:1/resumed", events: ["workflow.resumed"], secret: nil, tenant: .default)
            _ = try await save("wf", 7, #"{"a":1}"#)
            var due = try await t.runs.dueDeliveries(limit: 10)
            #expect(due.map(\.url) == ["http://127.0.0.1:1/saved"])
            let body = try JSONParser.parse(due[0].body)
            #expect(body.objectValue?.keys == ["event", "webhook_id", "timestamp", "data"])
            #expect(body["webhook_id"] == .string(saved.id))
            #expect(body["data"]?.objectValue?.keys == ["workflow_id", "checkpoint_id", "step"])
            #expect(due[0].secret == "s")
            _ = try await service.resume(workflowId: "wf", tenant: .default)
            due = try await t.runs.dueDeliveries(limit: 10)
            let resumed = try #require(due.first { $0.url.hasSuffix("/resumed") })
            #expect(try JSONParser.parse(resumed.body)["data"]?["step"] == .number("7"))
        }
    }

    @Test(arguments: StoreEngine.available) func concurrentSavesEachDiffAgainstTheirPredecessorInSaveOrder(
        engine: StoreEngine
    ) async throws {
        try await on(engine) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for step in 0..<24 {
                    group.addTask { _ = try await save("race", step, #"{"v":\#(step),"k\#(step)":true}"#) }
                }
                try await group.waitForAll()
            }
            let all = try await service.replay(
                workflowId: "race", fromStep: nil, toStep: nil, limit: 100, tenant: .default)
            #expect(all.checkpoints.map(\.sequence) == Array(1...24))
            var previous: JSONValue?
            for c in all.checkpoints {
                let state = try JSONParser.parse(c.state)
                #expect(c.diff == StateDiff(previous: previous, next: state).json)
                previous = state
            }
        }
    }

    /// Leaves under a 4 KB path: a leaf diff of the second save would list each of them twice
    /// (removed and added) at 4 KB apiece, some 400 MB for this 100 KB state.
    @Test(arguments: StoreEngine.available) func hostileStatesStoreAndReturnADiffWithinTwiceTheirSize(
        engine: StoreEngine
    ) async throws {
        try await on(engine) {
            func state(_ root: String) -> String {
                let path = (0..<100).map { "level_\($0)_" + String(repeating: "p", count: 32) }
                let list = "[" + Array(repeating: #"{"n":0}"#, count: 12_000).joined(separator: ",") + "]"
                let nested = path.reversed().reduce(list) { inner, key in #"{"\#(key)":\#(inner)}"# }
                return #"{"\#(root)":\#(nested)}"#
            }
            let first = state("a")
            let second = state("b")
            for (step, text) in [first, second].enumerated() {
                let saved = try await save("hostile", step, text)
                let budget = 2 * text.utf8.count
                #expect(saved.checkpoint.diff.utf8.count <= budget)
                let (stored, _) = try await service.checkpoint(id: saved.checkpoint.id, tenant: .default)
                #expect(stored.diff == saved.checkpoint.diff)
            }
            let (_, latest) = try await service.resume(workflowId: "hostile", tenant: .default)
            #expect(latest.diff == #"{"added":["b"],"removed":["a"],"changed":[]}"#)
        }
    }

    @Test(arguments: StoreEngine.available) func oversizedStateIsRefusedAndNothingIsStored(engine: StoreEngine)
        async throws
    {
        try await on(engine) {
            let big = #"{"blob":""# + String(repeating: "x", count: 1_048_576) + #""}"#
            await #expect(throws: CheckpointError.stateTooLarge(limit: 1_048_576)) { _ = try await save("big", 1, big) }
            await #expect(throws: CheckpointError.workflowNotFound("big")) {
                _ = try await service.resume(workflowId: "big", tenant: .default)
            }
        }
    }

    @Test(arguments: StoreEngine.available) func agentsAreCappedPerTenantAndUpsertsKeepIdentity(engine: StoreEngine)
        async throws
    {
        try await on(engine) {
            var config = CheckpointService.Configuration()
            config.maxAgentsPerTenant = 2
            let limited = CheckpointService(store: t.store, configuration: config)
            let fields = CheckpointService.AgentFields(name: "A", description: nil, capabilities: "[]", metadata: "{}")
            let a = try await limited.upsertAgent(agentId: "a", fields: fields, tenant: .default)
            _ = try await limited.upsertAgent(agentId: "b", fields: fields, tenant: .default)
            await #expect(throws: CheckpointError.maxAgentsReached(2)) {
                _ = try await limited.upsertAgent(agentId: "c", fields: fields, tenant: .default)
            }
            // Updating an existing agent is not a new one; other tenants have their own allowance.
            let renamed = try await limited.upsertAgent(
                agentId: "a", fields: .init(name: "A2", description: "d", capabilities: #"["x"]"#, metadata: "{}"),
                tenant: .default)
            #expect(renamed.serial == a.serial && renamed.createdAt == a.createdAt && renamed.name == "A2")
            _ = try await limited.upsertAgent(agentId: "c", fields: fields, tenant: TenantID(rawValue: "other"))
            // A save naming a registered agent marks it seen.
            _ = try await save("wf", 1, "{}", agent: "a")
            #expect(try await limited.agent(agentId: "a", tenant: .default).lastSeenAt != nil)
        }
    }

    @Test(arguments: StoreEngine.available) func analyticsCountStatusesFailuresAndAgents(engine: StoreEngine)
        async throws
    {
        try await on(engine) {
            _ = try await save("ok", 1, "{}", agent: "bot")
            _ = try await save("ok", 2, "{}", metadata: #"{"status":"completed"}"#, agent: "bot")
            _ = try await save(
                "bad", 1, "{}", metadata: #"{"error":{"type":"Timeout","message":"slow"}}"#, agent: "bot")
            _ = try await save("open", 1, "{}")
            let now = Timestamp.now()
            let (totals, top) = try await service.overview(
                from: now.adding(milliseconds: -60_000), to: now.adding(milliseconds: 1_000), tenant: .default)
            #expect(totals.workflows == 3 && totals.completed == 1 && totals.failed == 1 && totals.active == 1)
            #expect(totals.checkpoints == 4)
            #expect(top.map(\.agentId) == ["bot"] && top[0].workflows == 2 && top[0].errorRate == 0.5)
            let failures = try await service.failures(
                since: now.adding(milliseconds: -60_000), agentId: nil, tenant: .default)
            #expect(failures.counts.total == 1)
            #expect(failures.recent.map(\.errorType) == ["Timeout"] && failures.recent[0].errorMessage == "slow")
        }
    }

    @Test(arguments: StoreEngine.available) func aTTLOutsideItsRangeIsRefusedBeforeAnythingIsWritten(
        engine: StoreEngine
    ) async throws {
        try await on(engine) {
            for ttl in [0, -1, CheckpointService.Configuration.maxTTLSeconds + 1, .max] as [Int64] {
                await #expect(throws: CheckpointError.self) { _ = try await save("w", 1, "{}", ttl: ttl) }
            }
            await #expect(throws: CheckpointError.workflowNotFound("w")) {
                _ = try await service.resume(workflowId: "w", tenant: .default)
            }
        }
    }
}
