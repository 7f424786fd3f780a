import CairnCore
import Testing

/// Channel notifications: recorded with the change, filtered per channel, retried, logged.
@Suite struct DeliveryTests {
    let tenant = TenantID.default

    @Test(arguments: StoreEngine.available) func deliveriesFollowChannelFiltersAndGateInlineChannels(
        engine: StoreEngine
    ) async throws {
        let t = try await TestStore(engine)
        let run = try await t.runs.createRun(
            CreateRunRequest(
                workflowName: "w",
                channels: [
                    ChannelSpec(url: "http://a.test/all", secret: "s1"),
                    ChannelSpec(url: "http://b.test/done", events: ["run.completed"]),
                ]), tenant: tenant)
        _ = try await t.runs.writeState(runId: run.id, value: .int(1), mode: .replace, options: .init(), tenant: tenant)
        let gate = try await t.runs.beginGate(
            runId: run.id,
            BeginGateRequest(
                name: "g", prompt: "ok?",
                channels: .array([
                    .object(JSONObject([("type", .string("webhook")), ("url", .string("http://c.test/gate"))]))
                ])),
            tenant: tenant)
        _ = try await t.runs.completeRun(id: run.id, result: .int(2), tenant: tenant)
        let due = try await t.runs.dueDeliveries(limit: 100)
        let pairs = Set(due.map { "\($0.eventType) \($0.url)" })
        #expect(
            pairs == [
                "state.updated http://a.test/all", "gate.created http://a.test/all", "gate.created http://c.test/gate",
                "run.completed http://a.test/all", "run.completed http://b.test/done",
            ])
        let gateDelivery = try #require(due.first { $0.url == "http://c.test/gate" })
        #expect(gateDelivery.gateId == gate.id && gateDelivery.channelId == nil)
        #expect(due.first { $0.url == "http://a.test/all" }?.secret == "s1")
        let completed = try #require(due.first { $0.eventType == "run.completed" })
        #expect(
            completed.body.hasPrefix(#"{"type":"run.completed","runId":"\#(run.id)","gateId":null,"deliveryId":"del_"#))
        // Nothing was recorded for events that are not delivered (run.created, run.started).
        #expect(!due.contains { $0.eventType == "run.created" })
    }

    @Test(arguments: StoreEngine.available) func attemptsAreRetriedWithBackoffThenGiveUp(engine: StoreEngine)
        async throws
    {
        let t = try await TestStore(engine)
        let run = try await t.runs.createRun(
            CreateRunRequest(workflowName: "w", channels: [ChannelSpec(url: "http://a.test/x")]), tenant: tenant)
        _ = try await t.runs.completeRun(id: run.id, result: nil, tenant: tenant)
        var delivery = try #require(try await t.runs.dueDeliveries(limit: 10).first)
        delivery = try await t.runs.recordDeliveryAttempt(delivery, outcome: .responded(status: 500, body: "nope"))
        #expect(delivery.status == "pending" && delivery.attempts == 1 && delivery.httpStatus == 500)
        #expect(try #require(delivery.nextAttemptAt) > Timestamp.now())
        #expect(try await t.runs.dueDeliveries(limit: 10).isEmpty)
        for _ in 2...DeliveryPolicy.maxAttempts {
            delivery = try await t.runs.recordDeliveryAttempt(delivery, outcome: .unreachable("refused"))
        }
        #expect(
            delivery.status == "failed" && delivery.attempts == DeliveryPolicy.maxAttempts
                && delivery.completedAt != nil)
        let log = try await t.runs.runDetail(id: run.id, tenant: tenant).channelDeliveries
        #expect(log.map(\.status) == ["failed"])
    }

    @Test(arguments: StoreEngine.available) func successIsFinalAndBlockedIsNotRetried(engine: StoreEngine) async throws
    {
        let t = try await TestStore(engine)
        let run = try await t.runs.createRun(
            CreateRunRequest(workflowName: "w", channels: [ChannelSpec(url: "http://a.test/x")]), tenant: tenant)
        var u = RecordUsageRequest()
        u.inputTokens = 1
        _ = try await t.runs.recordUsage(runId: run.id, u, tenant: tenant)
        _ = try await t.runs.recordUsage(runId: run.id, u, tenant: tenant)
        let due = try await t.runs.dueDeliveries(limit: 10)
        #expect(due.count == 2)
        let ok = try await t.runs.recordDeliveryAttempt(due[0], outcome: .responded(status: 204, body: ""))
        #expect(ok.status == "delivered" && ok.attempts == 1)
        let blocked = try await t.runs.recordDeliveryAttempt(due[1], outcome: .blocked("ssrf_blocked: private"))
        #expect(blocked.status == "failed" && blocked.errorText == "ssrf_blocked: private")
        #expect(try await t.runs.dueDeliveries(limit: 10).isEmpty)
    }
}
