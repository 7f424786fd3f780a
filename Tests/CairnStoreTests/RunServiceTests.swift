import CairnCore
import Testing

/// The run domain over the embedded store: the semantics of Tidebase §1.5–1.10.
@Suite struct RunServiceTests {
    let tenant = TenantID.default

    func begin(_ t: TestStore, _ run: Run, name: String = "s1", hash: String = "h", owner: String = "w1") async throws
        -> BeginStepOutcome
    {
        try await t.runs.beginStep(
            runId: run.id, BeginStepRequest(name: name, inputHash: hash, leaseOwner: owner), tenant: tenant)
    }

    @Test(arguments: StoreEngine.available) func sixConcurrentFirstBeginsGiveExactlyOneExecute(engine: StoreEngine)
        async throws
    {
        let t = try await TestStore(engine)
        let run = try await t.newRun()
        let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<6 {
                group.addTask {
                    switch try await self.begin(t, run, owner: "worker-\(i)") {
                    case .execute: return "execute"
                    case .locked: return "locked"
                    default: return "other"
                    }
                }
            }
            var all: [String] = []
            for try await o in group { all.append(o) }
            return all
        }
        #expect(outcomes.filter { $0 == "execute" }.count == 1)
        #expect(outcomes.filter { $0 == "locked" }.count == 5)
    }

    @Test(arguments: StoreEngine.available) func concurrentStateAndUsageWritesGiveGapFreeSequenceNumbers(
        engine: StoreEngine
    ) async throws {
        let t = try await TestStore(engine)
        let run = try await t.newRun()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<40 {
                group.addTask {
                    if i % 2 == 0 {
                        _ = try await t.runs.writeState(
                            runId: run.id, value: .object(JSONObject([("i", .int(i))])), mode: .merge, options: .init(),
                            tenant: self.tenant)
                    } else {
                        var usage = RecordUsageRequest()
                        usage.inputTokens = i
                        _ = try await t.runs.recordUsage(runId: run.id, usage, tenant: self.tenant)
                    }
                }
            }
            try await group.waitForAll()
        }
        let events = try await t.runs.events(runId: run.id, after: 0, limit: 1000, tenant: tenant)
        #expect(events.map(\.seq) == Array(1...41))
        let versions = try await t.runs.stateVersions(runId: run.id, stream: nil, labeledOnly: false, tenant: tenant)
        #expect(versions.map(\.version) == Array(1...20))
    }

    @Test(arguments: StoreEngine.available) func completedStepReplaysAndInputMismatchComesFirst(engine: StoreEngine)
        async throws
    {
        let t = try await TestStore(engine)
        let run = try await t.newRun()
        guard case .execute(let step, let owner) = try await begin(t, run) else {
            Issue.record("expected execute"); return
        }
        _ = try await t.runs.completeStep(
            runId: run.id, stepId: step.id, leaseOwner: owner, output: try JSONParser.parse(#"{"plan":[1,2]}"#),
            tenant: tenant)
        guard case .alreadyCompleted(let done) = try await begin(t, run, owner: "w2") else {
            Issue.record("expected return")
            return
        }
        #expect(done.output == #"{"plan":[1,2]}"#)
        #expect(done.attempt == 1)
        guard case .inputMismatch(_, let expected, let actual) = try await begin(t, run, hash: "other") else {
            Issue.record("expected input_mismatch")
            return
        }
        #expect(expected == "h" && actual == "other")
    }

    @Test(arguments: StoreEngine.available) func onlyTheLeaseHolderCompletesAStepAndOnlyOnce(engine: StoreEngine)
        async throws
    {
        let t = try await TestStore(engine)
        let run = try await t.newRun()
        guard case .execute(let step, _) = try await begin(t, run) else { Issue.record("expected execute"); return }
        await #expect(throws: RunError.stepLeaseLost) {
            _ = try await t.runs.completeStep(
                runId: run.id, stepId: step.id, leaseOwner: "intruder", output: nil, tenant: tenant)
        }
        _ = try await t.runs.completeStep(runId: run.id, stepId: step.id, leaseOwner: "w1", output: nil, tenant: tenant)
        await #expect(throws: RunError.stepLeaseLost) {
            _ = try await t.runs.completeStep(
                runId: run.id, stepId: step.id, leaseOwner: "w1", output: nil, tenant: tenant)
        }
    }

    @Test(arguments: StoreEngine.available) func retryableFailureReleasesTheLeaseAndCountsAttempts(engine: StoreEngine)
        async throws
    {
        let t = try await TestStore(engine)
        let run = try await t.newRun()
        for attempt in 1...3 {
            guard case .execute(let step, let owner) = try await begin(t, run) else {
                Issue.record("expected execute"); return
            }
            #expect(step.attempt == attempt)
            if attempt < 3 {
                let failed = try await t.runs.failStep(
                    runId: run.id, stepId: step.id,
                    FailStepRequest(
                        leaseOwner: owner, error: .string("x"), retryable: true, resumeDecision: .autoRetry),
                    tenant: tenant)
                #expect(failed.status == .failedRetryable)
                #expect(failed.leaseOwner == nil)
            } else {
                let done = try await t.runs.completeStep(
                    runId: run.id, stepId: step.id, leaseOwner: owner, output: nil, tenant: tenant)
                #expect(done.attempt == 3)
            }
        }
        // A final failure classified from the contract: unkeyed external writes need review.
        let s2 = try await t.runs.beginStep(
            runId: run.id,
            BeginStepRequest(
                name: "send", inputHash: "h", options: JSONObject([("sideEffects", .array([.string("email")]))]),
                leaseOwner: "w1"), tenant: tenant)
        guard case .execute(let send, _) = s2 else { Issue.record("expected execute"); return }
        let failed = try await t.runs.failStep(
            runId: run.id, stepId: send.id, FailStepRequest(leaseOwner: "w1"), tenant: tenant)
        #expect(failed.status == .manualReview)
    }

    @Test(arguments: StoreEngine.available) func runLeaseFencesOtherOwnersUntilItExpires(engine: StoreEngine)
        async throws
    {
        let clock = ManualClock()
        let t = try await TestStore(engine, leaseMilliseconds: 150, clock: clock)
        let run = try await t.newRun()
        let first = try await t.runs.beginRun(id: run.id, owner: "a", tenant: tenant)
        #expect(first.status == .running && first.attempt == 1)
        await #expect(throws: RunError.runLeased(holder: "a")) {
            _ = try await t.runs.beginRun(id: run.id, owner: "b", tenant: tenant)
        }
        await #expect(throws: RunError.self) { _ = try await t.runs.heartbeat(id: run.id, owner: "b", tenant: tenant) }
        clock.advance(milliseconds: 100)
        _ = try await t.runs.heartbeat(id: run.id, owner: "a", tenant: tenant)
        // The heartbeat renewed the lease: 149 ms later it still fences others out.
        clock.advance(milliseconds: 149)
        await #expect(throws: RunError.runLeased(holder: "a")) {
            _ = try await t.runs.beginRun(id: run.id, owner: "b", tenant: tenant)
        }
        clock.advance(milliseconds: 1)
        let takeover = try await t.runs.beginRun(id: run.id, owner: "b", tenant: tenant)
        #expect(takeover.leaseOwner == "b" && takeover.attempt == 2)
        do {
            _ = try await t.runs.heartbeat(id: run.id, owner: "a", tenant: tenant)
            Issue.record("old owner's heartbeat must fail")
        } catch RunError.leaseLost(_, let cancelled) {
            #expect(!cancelled)
        }
    }

    @Test(arguments: StoreEngine.available) func lifecycleTransitions(engine: StoreEngine) async throws {
        let t = try await TestStore(engine)
        let run = try await t.newRun()
        _ = try await t.runs.beginRun(id: run.id, owner: "a", tenant: tenant)
        let completed = try await t.runs.completeRun(id: run.id, result: .int(42), tenant: tenant)
        #expect(completed.status == .completed && completed.result == "42" && completed.leaseOwner == nil)
        // Completing again keeps the first result; begin returns it unchanged without a lease.
        #expect(try await t.runs.completeRun(id: run.id, result: .int(7), tenant: tenant).result == "42")
        let again = try await t.runs.beginRun(id: run.id, owner: "b", tenant: tenant)
        #expect(again.status == .completed && again.leaseOwner == nil && again.attempt == 1)
        do {
            _ = try await t.runs.heartbeat(id: run.id, owner: "a", tenant: tenant)
            Issue.record("heartbeat after complete must fail")
        } catch RunError.leaseLost(_, let cancelled) {
            #expect(!cancelled)
        }
        await #expect(throws: RunError.self) {
            _ = try await t.runs.cancelRun(id: run.id, reason: nil, actor: nil, tenant: tenant)
        }
        await #expect(throws: RunError.self) {
            _ = try await t.runs.failRun(id: run.id, error: nil, failureClass: nil, tenant: tenant)
        }
    }

    @Test(arguments: StoreEngine.available) func cancelIsOneWayAndSeenAtEveryBoundary(engine: StoreEngine) async throws
    {
        let t = try await TestStore(engine)
        let run = try await t.newRun()
        _ = try await t.runs.beginRun(id: run.id, owner: "a", tenant: tenant)
        let cancelled = try await t.runs.cancelRun(id: run.id, reason: "user", actor: "ann", tenant: tenant)
        #expect(cancelled.status == .cancelled && cancelled.cancelReason == "user" && cancelled.completedAt != nil)
        let again = try await t.runs.cancelRun(id: run.id, reason: "other", actor: nil, tenant: tenant)
        #expect(again.cancelReason == "user")
        guard case .cancelled = try await begin(t, run) else { Issue.record("expected cancelled"); return }
        await #expect(throws: RunError.self) { _ = try await t.runs.beginRun(id: run.id, owner: "a", tenant: tenant) }
        await #expect(throws: RunError.self) {
            _ = try await t.runs.beginGate(runId: run.id, BeginGateRequest(name: "g", prompt: "p"), tenant: tenant)
        }
        #expect(try await t.runs.completeRun(id: run.id, result: nil, tenant: tenant).status == .cancelled)
        #expect(
            try await t.runs.failRun(id: run.id, error: nil, failureClass: nil, tenant: tenant).run.status == .cancelled
        )
    }

    @Test(arguments: StoreEngine.available) func failedRunsReopenOnBegin(engine: StoreEngine) async throws {
        let t = try await TestStore(engine)
        let run = try await t.newRun()
        _ = try await t.runs.beginRun(id: run.id, owner: "a", tenant: tenant)
        let (failed, requeued) = try await t.runs.failRun(
            id: run.id, error: .string("crash"), failureClass: "crash", tenant: tenant)
        #expect(failed.status == .failed && !requeued && failed.failureClass == "crash" && failed.error == #""crash""#)
        let resumed = try await t.runs.beginRun(id: run.id, owner: "b", tenant: tenant)
        #expect(resumed.status == .running && resumed.attempt == 2)
    }

    @Test(arguments: StoreEngine.available) func gatesResolveExactlyOnceUnderConcurrency(engine: StoreEngine)
        async throws
    {
        let t = try await TestStore(engine)
        let run = try await t.newRun()
        let gate = try await t.runs.beginGate(
            runId: run.id, BeginGateRequest(name: "approve", prompt: "Ship it?", data: .int(1)), tenant: tenant)
        #expect(gate.status == .pending && gate.resolveToken.count == 32)
        let same = try await t.runs.beginGate(
            runId: run.id, BeginGateRequest(name: "approve", prompt: "changed"), tenant: tenant)
        #expect(same.id == gate.id && same.prompt == "Ship it?")
        await #expect(throws: RunError.gateNotResolvable) {
            _ = try await t.runs.resolveGate(
                runId: run.id, gateId: gate.id, ResolveGateRequest(token: "wrong", decision: .approved), tenant: tenant)
        }
        let decisions: [GateStatus] = [
            .approved, .rejected, .canceled, .approved, .rejected, .approved, .rejected, .canceled,
        ]
        let winners = try await withThrowingTaskGroup(of: GateStatus?.self) { group in
            for d in decisions {
                group.addTask {
                    do {
                        return try await t.runs.resolveGate(
                            runId: run.id, gateId: gate.id, ResolveGateRequest(token: gate.resolveToken, decision: d),
                            tenant: self.tenant
                        ).status
                    } catch RunError.gateNotResolvable { return nil }
                }
            }
            var all: [GateStatus] = []
            for try await w in group { if let w { all.append(w) } }
            return all
        }
        #expect(winners.count == 1)
        let (stored, runStatus) = try await t.runs.gate(runId: run.id, gateId: gate.id, tenant: tenant)
        #expect(stored.status == winners.first && stored.decision == winners.first?.rawValue && runStatus == .pending)
        #expect(stored.decisionPayload == "{}")
    }

    @Test(arguments: StoreEngine.available) func childrenAreIdempotentByEdgeName(engine: StoreEngine) async throws {
        let t = try await TestStore(engine)
        let parent = try await t.newRun("parent")
        let results = try await withThrowingTaskGroup(of: (String, Bool).self) { group in
            for _ in 0..<6 {
                group.addTask {
                    let r = try await t.runs.createChild(
                        parentId: parent.id,
                        CreateChildRequest(
                            name: "child-a", run: CreateRunRequest(workflowName: "child"), edgeType: "fanout",
                            edgeMetadata: JSONObject([("fanout", .string("f"))])), tenant: self.tenant)
                    return (r.run.id, r.created)
                }
            }
            var all: [(String, Bool)] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(Set(results.map(\.0)).count == 1)
        #expect(results.filter(\.1).count == 1)
        let detail = try await t.runs.runDetail(id: parent.id, tenant: tenant)
        #expect(detail.runEdges.count == 1 && detail.runEdges[0].edgeType == "fanout")
        #expect(detail.childRuns.map(\.id) == [results[0].0])
        let child = detail.childRuns[0]
        #expect(child.metadata.contains(#""parentRunId":"\#(parent.id)""#))
        #expect(detail.events.map(\.type) == ["run.created", "run.child.created"])
        await #expect(throws: RunError.parentRunNotFound) {
            _ = try await t.runs.createChild(
                parentId: "run_missing", CreateChildRequest(name: "x", run: CreateRunRequest(workflowName: "c")),
                tenant: tenant)
        }
    }

    /// A PATCH of 120,000 keys onto a state of 120,000 keys held the single writer for minutes
    /// when each key was found by a linear scan; the merge is now linear. The bound is generous:
    /// it only separates linear from quadratic on a busy machine.
    @Test(arguments: StoreEngine.available) func patchingAStateOfManyKeysMergesInLinearTime(engine: StoreEngine)
        async throws
    {
        let t = try await TestStore(engine)
        let run = try await t.newRun()
        let count = 120_000
        let base = JSONObject((0..<count).map { ("k\($0)", JSONValue.int($0)) })
        let patch = JSONObject((0..<count).map { ("k\($0 + count / 2)", JSONValue.bool(true)) })
        _ = try await t.runs.writeState(
            runId: run.id, value: .object(base), mode: .replace, options: .init(), tenant: tenant)
        var merged: RunState?
        let elapsed = try await ContinuousClock().measure {
            merged = try await t.runs.writeState(
                runId: run.id, value: .object(patch), mode: .merge, options: .init(), tenant: tenant)
        }
        let text = try #require(merged).value
        let value = try #require(try JSONParser.parse(text).objectValue)
        #expect(value.count == count + count / 2)
        #expect(value.keys.first == "k0" && value.keys.last == "k\(count + count / 2 - 1)")
        #expect(value["k0"] == .int(0) && value["k\(count - 1)"] == .bool(true))
        print("PATCH of \(count) keys onto \(count) keys: \(elapsed)")
        #expect(elapsed < .seconds(20))
    }

    @Test(arguments: StoreEngine.available) func stateVersionsSavesAndSnapshots(engine: StoreEngine) async throws {
        let t = try await TestStore(engine)
        let run = try await t.newRun()
        await #expect(throws: RunError.stateNotFound) {
            _ = try await t.runs.saveState(runId: run.id, label: "empty", options: .init(), tenant: tenant)
        }
        _ = try await t.runs.writeState(
            runId: run.id, value: try JSONParser.parse(#"{"a":1}"#), mode: .replace, options: .init(), tenant: tenant)
        let merged = try await t.runs.writeState(
            runId: run.id, value: try JSONParser.parse(#"{"b":2}"#), mode: .merge, options: .init(), tenant: tenant)
        #expect(merged.value == #"{"a":1,"b":2}"# && merged.version == 2)
        let saved = try await t.runs.saveState(runId: run.id, label: "milestone-1", options: .init(), tenant: tenant)
        #expect(saved.version == 3 && saved.importance == .milestone && saved.value == #"{"a":1,"b":2}"#)
        _ = try await t.runs.writeState(
            runId: run.id, value: .int(9), mode: .replace, options: .init(stream: "scratch"), tenant: tenant)
        let snapshot = try await t.runs.createSnapshot(
            runId: run.id, SnapshotRequest(label: "snap", state: .string("s")), tenant: tenant)
        #expect(snapshot.importance == .milestone && snapshot.version == 1)

        let all = try await t.runs.stateVersions(runId: run.id, stream: nil, labeledOnly: false, tenant: tenant)
        #expect(all.count == 5)
        let runStream = try await t.runs.stateVersions(runId: run.id, stream: "run", labeledOnly: false, tenant: tenant)
        #expect(runStream.map(\.version) == [1, 2, 3])
        #expect(runStream[1].patch == #"{"b":2}"#)
        let labeled = try await t.runs.stateVersions(runId: run.id, stream: nil, labeledOnly: true, tenant: tenant)
        #expect(Set(labeled.compactMap(\.label)) == ["milestone-1", "snap"])
        let snapshots = try await t.runs.snapshots(runId: run.id, tenant: tenant)
        #expect(snapshots.first?.label == "snap")
        let detail = try await t.runs.runDetail(id: run.id, tenant: tenant)
        #expect(Set(detail.stateStreams.map(\.name)) == ["run", "scratch", "run:\(run.id)"])
        // PUT with another stream still replaces the run's live state (reference behaviour).
        #expect(detail.state?.value == "9" && detail.state?.version == 3)
    }

    @Test(arguments: StoreEngine.available) func usageTotals(engine: StoreEngine) async throws {
        let t = try await TestStore(engine)
        let run = try await t.newRun()
        var u = RecordUsageRequest()
        u.inputTokens = 100
        u.outputTokens = 50
        #expect(try await t.runs.recordUsage(runId: run.id, u, tenant: tenant).totalTokens == 150)
        u.totalTokens = 999
        #expect(try await t.runs.recordUsage(runId: run.id, u, tenant: tenant).totalTokens == 999)
        let none = try await t.runs.recordUsage(runId: run.id, RecordUsageRequest(), tenant: tenant)
        #expect(none.totalTokens == nil && none.kind == "custom")
        var bad = RecordUsageRequest()
        bad.stepId = "step_missing"
        await #expect(throws: RunError.self) { _ = try await t.runs.recordUsage(runId: run.id, bad, tenant: tenant) }
    }

    @Test(arguments: StoreEngine.available) func unknownRunsAreNotFoundAndChangeNothing(engine: StoreEngine)
        async throws
    {
        let t = try await TestStore(engine)
        await #expect(throws: RunError.runNotFound) {
            _ = try await begin(
                t,
                Run(
                    id: "run_x", tenant: tenant, workflowName: "w", input: "{}", metadata: "{}", status: .pending,
                    recoveryWebhook: nil, now: .now()))
        }
        await #expect(throws: RunError.runNotFound) {
            _ = try await t.runs.writeState(
                runId: "run_x", value: nil, mode: .replace, options: .init(), tenant: tenant)
        }
        await #expect(throws: RunError.runNotFound) {
            _ = try await t.runs.recordUsage(runId: "run_x", RecordUsageRequest(), tenant: tenant)
        }
        await #expect(throws: RunError.runNotFound) { _ = try await t.runs.runDetail(id: "run_x", tenant: tenant) }
        #expect(try await t.runs.listRuns(tenant: tenant).runs.isEmpty)
    }
}
