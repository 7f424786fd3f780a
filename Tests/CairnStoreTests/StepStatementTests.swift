import CairnCore
import Testing

@testable import CairnStore

/// A step's begin and complete as one statement each (`RunStore.writeStatement`; on Postgres
/// the step's write and its event are one SQL statement, with the `step.completed` payload built
/// in SQL): the same records and events as the transaction they replace, on both engines.
@Suite struct StepStatementTests {
    let tenant = TenantID.default

    /// Names and contracts that exercise every escape either side could write differently.
    static let awkwardNames = [
        "plain", #"quote " and back\slash"#, "controls \u{01}\u{1f}\n\t\r\u{08}\u{0c} end",
        "unicode é 漢字 🚀 \u{2028}\u{2029}", "</script> / slash", "del \u{7f}", "",
    ]
    static let contract = #"""
        {"sideEffects":["write"],"idempotencyKey":"k","checkpointInvariant":{"k":[1,2.50,-3e-7,true,null,"é\u0001\"x"],"n":{"deep":{}}},"verifiedBy":"a \"b\" \\ c"}
        """#

    @Test(arguments: StoreEngine.available) func stepsRecordTheSameEventsTheTransactionWould(engine: StoreEngine)
        async throws
    {
        let t = try await TestStore(engine)
        let run = try await t.newRun()
        let subscription = t.broker.subscribe(runId: run.id)
        let options = try JSONParser.parse(Self.contract).objectValue
        var steps: [Step] = []
        for (i, name) in Self.awkwardNames.enumerated() {
            let request = BeginStepRequest(
                name: name, inputHash: "h\(i)", input: .object(JSONObject([("i", .int(i))])),
                options: i % 2 == 0 ? options : nil, leaseOwner: "w")
            guard
                case .execute(let step, let owner) = try await t.runs.beginStep(runId: run.id, request, tenant: tenant)
            else {
                Issue.record("expected execute for \(name)")
                return
            }
            #expect(owner == "w")
            let done = try await t.runs.completeStep(
                runId: run.id, stepId: step.id, leaseOwner: owner, output: .object(JSONObject([("ok", .int(i))])),
                tenant: tenant)
            #expect(done.status == .completed && done.output == #"{"ok":\#(i)}"# && done.leaseOwner == nil)
            #expect(done.name == name && done.resumeContract == step.resumeContract)
            steps.append(done)
        }
        let stored = try await t.store.read { tx in try await tx.steps(runId: run.id) }
        #expect(stored == steps)
        let events = try await t.runs.events(runId: run.id, after: 0, limit: 100, tenant: tenant)
        #expect(events.map(\.seq) == Array(1...Int64(1 + 2 * steps.count)))
        for (i, step) in steps.enumerated() {
            let started = events[1 + 2 * i], completed = events[2 + 2 * i]
            #expect(started.type == "step.started" && completed.type == "step.completed")
            #expect(started.payload == step.startedEventPayload)
            // On Postgres this payload was written by SQL; it must be the Swift builder's text.
            #expect(completed.payload == step.completedEventPayload, "step \(i)")
        }
        #expect(events[2].payload.contains(#""checkpointInvariant":{"k":[1,2.50,-3e-7,true,null,"é\u0001\"x"]"#))
        // Subscribers get what was stored: the same ids, numbers and payloads.
        var published: [RunEvent] = []
        for await event in subscription.events {
            published.append(event)
            if published.count == events.count - 1 { break }
        }
        #expect(published == Array(events.dropFirst()))
    }

    @Test(arguments: StoreEngine.available) func concurrentStepsOfOneRunKeepItsEventsGapFree(engine: StoreEngine)
        async throws
    {
        let t = try await TestStore(engine)
        let run = try await t.newRun()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for i in 0..<5 {
                        let request = BeginStepRequest(
                            name: "w\(worker)-\(i)", inputHash: "h", leaseOwner: "w\(worker)")
                        guard
                            case .execute(let step, let owner) = try await t.runs.beginStep(
                                runId: run.id, request, tenant: self.tenant)
                        else { throw Boom() }
                        _ = try await t.runs.completeStep(
                            runId: run.id, stepId: step.id, leaseOwner: owner, output: nil, tenant: self.tenant)
                    }
                }
            }
            try await group.waitForAll()
        }
        let events = try await t.runs.events(runId: run.id, after: 0, limit: 1000, tenant: tenant)
        #expect(events.map(\.seq) == Array(1...81))
        let steps = try await t.store.read { tx in try await tx.steps(runId: run.id) }
        #expect(steps.count == 40 && steps.allSatisfy { $0.status == .completed })
    }

    @Test(arguments: StoreEngine.available) func aStepTheRunCannotTakeWritesNothing(engine: StoreEngine) async throws {
        let t = try await TestStore(engine)
        let run = try await t.newRun()
        let stranger = TenantID(rawValue: "stranger")
        let request = BeginStepRequest(name: "s", inputHash: "h", leaseOwner: "w")
        await #expect(throws: RunError.runNotFound) {
            _ = try await t.runs.beginStep(runId: run.id, request, tenant: stranger)
        }
        await #expect(throws: RunError.runNotFound) {
            _ = try await t.runs.beginStep(runId: "run_missing", request, tenant: self.tenant)
        }
        guard case .execute(let step, _) = try await t.runs.beginStep(runId: run.id, request, tenant: tenant) else {
            Issue.record("expected execute")
            return
        }
        let before = try await t.runs.events(runId: run.id, after: 0, limit: 100, tenant: tenant)
        await #expect(throws: RunError.runNotFound) {
            _ = try await t.runs.completeStep(
                runId: run.id, stepId: step.id, leaseOwner: "w", output: nil, tenant: stranger)
        }
        await #expect(throws: RunError.stepLeaseLost) {
            _ = try await t.runs.completeStep(
                runId: run.id, stepId: step.id, leaseOwner: "intruder", output: nil, tenant: self.tenant)
        }
        await #expect(throws: RunError.stepLeaseLost) {
            _ = try await t.runs.completeStep(
                runId: run.id, stepId: "step_missing", leaseOwner: "w", output: nil, tenant: self.tenant)
        }
        #expect(try await t.runs.events(runId: run.id, after: 0, limit: 100, tenant: tenant) == before)
        #expect(try await t.store.read { tx in try await tx.step(runId: run.id, id: step.id) } == step)

        _ = try await t.runs.cancelRun(id: run.id, reason: nil, actor: nil, tenant: tenant)
        let cancelled = try await t.runs.events(runId: run.id, after: 0, limit: 100, tenant: tenant)
        guard
            case .cancelled = try await t.runs.beginStep(
                runId: run.id, BeginStepRequest(name: "after", inputHash: "h"), tenant: tenant)
        else {
            Issue.record("expected cancelled")
            return
        }
        #expect(try await t.runs.events(runId: run.id, after: 0, limit: 100, tenant: tenant) == cancelled)
        #expect(try await t.store.read { tx in try await tx.step(runId: run.id, name: "after") } == nil)
    }

    @Test(arguments: StoreEngine.multiWriter) func aOneStatementWriteRefusesASecond(engine: StoreEngine) async throws {
        let t = try await TestStore(engine)
        let run = try await t.newRun()
        await #expect(throws: OneStatementError.self) {
            try await t.store.writeStatement { tx in
                _ = try await tx.appendEvent(runId: run.id, type: "first", payload: "{}", at: .now())
                _ = try await tx.appendEvent(runId: run.id, type: "second", payload: "{}", at: .now())
            }
        }
        // The first statement had committed on its own; nothing of the second was written.
        let events = try await t.runs.events(runId: run.id, after: 0, limit: 100, tenant: tenant)
        #expect(events.map(\.type) == ["run.created", "first"])
    }
}
