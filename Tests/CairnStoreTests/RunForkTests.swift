import CairnCore
import Testing

/// Forks of runs on both engines: a fork replays its parent's steps completed up to its point
/// from the parent's rows, starts with the parent's state as of that point, and runs the rest
/// itself; forks of forks read through the chain.
@Suite struct RunForkTests {
    let tenant = TenantID.default

    /// Begins and completes steps `names` of `run` in order, `milliseconds` apart; each writes
    /// state `{"after": name}` before it completes.
    func complete(_ t: TestStore, _ run: Run, _ names: [String], clock: ManualClock, milliseconds: Int64 = 5)
        async throws
    {
        for name in names {
            clock.advance(milliseconds: milliseconds)
            guard
                case .execute(let step, let owner) = try await t.runs.beginStep(
                    runId: run.id, BeginStepRequest(name: name, inputHash: "h-\(name)", leaseOwner: "w"),
                    tenant: tenant)
            else { throw RunError.invalid("step \(name) did not execute") }
            _ = try await t.runs.writeState(
                runId: run.id, value: .object(JSONObject([("after", .string(name))])), mode: .replace,
                options: .init(), tenant: tenant)
            _ = try await t.runs.completeStep(
                runId: run.id, stepId: step.id, leaseOwner: owner, output: .string("out-\(name)"), tenant: tenant)
        }
    }

    func begin(_ t: TestStore, _ run: Run, _ name: String, hash: String? = nil) async throws -> String {
        switch try await t.runs.beginStep(
            runId: run.id, BeginStepRequest(name: name, inputHash: hash ?? "h-\(name)", leaseOwner: "w2"),
            tenant: tenant)
        {
        case .alreadyCompleted(let step): return "replayed \(step.output ?? "")"
        case .execute: return "execute"
        default: return "other"
        }
    }

    @Test(arguments: StoreEngine.available) func aForkReplaysUpToItsStepAndRunsTheRest(engine: StoreEngine)
        async throws
    {
        let clock = ManualClock()
        let t = try await TestStore(engine, clock: clock)
        let parent = try await t.newRun()
        try await complete(t, parent, ["a", "b", "c"], clock: clock)
        let (fork, provenance) = try await t.runs.forkRun(id: parent.id, atStep: "b", tenant: tenant)
        #expect(fork.id != parent.id && fork.status == .pending && fork.workflowName == parent.workflowName)
        #expect(provenance.parentRunId == parent.id && provenance.stepName == "b")
        #expect(try await begin(t, fork, "a") == "replayed \"out-a\"")
        #expect(try await begin(t, fork, "b") == "replayed \"out-b\"")
        // c completed after the fork point: the fork runs it itself.
        #expect(try await begin(t, fork, "c") == "execute")
        // A different input is a different step: run, not replayed.
        let other = try await t.runs.forkRun(id: parent.id, atStep: "b", tenant: tenant).0
        #expect(try await begin(t, other, "a", hash: "changed") == "execute")
        // The fork starts with the parent's state as of b, and shows where it came from.
        let detail = try await t.runs.runDetail(id: fork.id, tenant: tenant)
        #expect(detail.state?.value == #"{"after":"b"}"#)
        #expect(detail.fork == provenance)
        #expect(detail.steps.map(\.name) == ["c"])  // nothing was copied
        // The parent is untouched.
        #expect(try await t.runs.runDetail(id: parent.id, tenant: tenant).steps.count == 3)
    }

    @Test(arguments: StoreEngine.available) func forksOfForksReadThroughTheChain(engine: StoreEngine) async throws {
        let clock = ManualClock()
        let t = try await TestStore(engine, clock: clock)
        let root = try await t.newRun()
        try await complete(t, root, ["a", "b", "c"], clock: clock)
        let first = try await t.runs.forkRun(id: root.id, atStep: "b", tenant: tenant).0
        #expect(try await begin(t, first, "a") == "replayed \"out-a\"")
        try await complete(t, first, ["x"], clock: clock)
        // Forked at a step the first fork replays from the root: the root's a, b replay; x does not.
        let second = try await t.runs.forkRun(id: first.id, atStep: "a", tenant: tenant).0
        #expect(try await begin(t, second, "a") == "replayed \"out-a\"")
        #expect(try await begin(t, second, "b") == "execute")
        let third = try await t.runs.forkRun(id: first.id, atStep: "x", tenant: tenant).0
        #expect(try await begin(t, third, "b") == "replayed \"out-b\"")
        #expect(try await begin(t, third, "x") == "replayed \"out-x\"")
        #expect(try await begin(t, third, "c") == "execute")
    }

    /// Steps and state written in the millisecond of the step forked at are before or after it
    /// by their order in the run's log, not by time (a fork once replayed a later step of the
    /// same millisecond instead of running it).
    @Test(arguments: StoreEngine.available) func completionsInOneMillisecondAreOrderedByTheLog(engine: StoreEngine)
        async throws
    {
        let clock = ManualClock()
        let t = try await TestStore(engine, clock: clock)
        let root = try await t.newRun()
        try await complete(t, root, ["a", "b", "c"], clock: clock, milliseconds: 0)
        let fork = try await t.runs.forkRun(id: root.id, atStep: "b", tenant: tenant).0
        #expect(try await begin(t, fork, "a") == "replayed \"out-a\"")
        #expect(try await begin(t, fork, "b") == "replayed \"out-b\"")
        #expect(try await begin(t, fork, "c") == "execute")
        #expect(try await t.runs.runDetail(id: fork.id, tenant: tenant).state?.value == #"{"after":"b"}"#)

        // Through a chain, all in the same millisecond.
        let first = try await t.runs.forkRun(id: root.id, atStep: "b", tenant: tenant).0
        try await complete(t, first, ["x"], clock: clock, milliseconds: 0)
        let atInherited = try await t.runs.forkRun(id: first.id, atStep: "a", tenant: tenant).0
        #expect(try await t.runs.runDetail(id: atInherited.id, tenant: tenant).state?.value == #"{"after":"a"}"#)
        #expect(try await begin(t, atInherited, "a") == "replayed \"out-a\"")
        #expect(try await begin(t, atInherited, "b") == "execute")
        #expect(try await begin(t, atInherited, "x") == "execute")
        let atOwn = try await t.runs.forkRun(id: first.id, atStep: "x", tenant: tenant).0
        #expect(try await begin(t, atOwn, "b") == "replayed \"out-b\"")
        #expect(try await begin(t, atOwn, "x") == "replayed \"out-x\"")
        #expect(try await begin(t, atOwn, "c") == "execute")
        #expect(try await t.runs.runDetail(id: atOwn.id, tenant: tenant).state?.value == #"{"after":"x"}"#)
    }

    @Test(arguments: StoreEngine.available) func forkingIsRefusedAtAStepThatIsNotDone(engine: StoreEngine)
        async throws
    {
        let clock = ManualClock()
        let t = try await TestStore(engine, clock: clock)
        let run = try await t.newRun()
        try await complete(t, run, ["a"], clock: clock)
        _ = try await t.runs.beginStep(
            runId: run.id, BeginStepRequest(name: "running", inputHash: "h", leaseOwner: "w"), tenant: tenant)
        await #expect(throws: RunError.self) {
            try await t.runs.forkRun(id: run.id, atStep: "running", tenant: self.tenant)
        }
        await #expect(throws: RunError.self) {
            try await t.runs.forkRun(id: run.id, atStep: "missing", tenant: self.tenant)
        }
        await #expect(throws: RunError.runNotFound) {
            try await t.runs.forkRun(id: run.id, atStep: "a", tenant: TenantID(rawValue: "other"))
        }
        await #expect(throws: RunError.self) { try await t.runs.forkRun(id: run.id, atStep: "", tenant: self.tenant) }
    }
}
