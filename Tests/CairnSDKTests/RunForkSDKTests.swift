import Cairn
import CairnCore
import Testing

@Suite struct RunForkSDKTests {
    @Test(arguments: TransportKind.allCases)
    func aForkReplaysTheParentsStepsAndRunsTheRest(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let calls = Counter()
            let workflow: @Sendable (RunContext, Int) async throws -> [Int] = { run, seed in
                let a = try await run.step("a") {
                    calls.bump("a")
                    return seed + 1
                }
                let b = try await run.step("b") {
                    calls.bump("b")
                    return a * 10
                }
                let c = try await run.step("c") {
                    calls.bump("c")
                    return b + 5
                }
                return [a, b, c]
            }
            #expect(try await cairn.run("forkable", input: 1, workflow) == [2, 20, 25])
            let parent = try #require(try await cairn.runs.list().first)

            let fork = try await cairn.runs.fork(parent.id, atStep: "b")
            #expect(fork.id != parent.id && fork.status == .pending && fork.workflowName == "forkable")
            #expect(try await cairn.run("forkable", input: 0, runId: fork.id, workflow) == [2, 20, 25])
            // a and b replayed the parent's outputs; only c ran again.
            #expect(calls["a"] == 1 && calls["b"] == 1 && calls["c"] == 2)
            let detail = try await cairn.runs.get(fork.id)
            #expect(detail.run.status == .completed)
            #expect(detail.fork?.parentRunId == parent.id && detail.fork?.stepName == "b")

            await #expect(throws: CairnError.self) { _ = try await cairn.runs.fork(parent.id, atStep: "missing") }
            await #expect(throws: CairnError.runNotFound) { _ = try await cairn.runs.fork("run_nope", atStep: "a") }
        }
    }
}
