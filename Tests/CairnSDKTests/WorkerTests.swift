import Cairn
import CairnCore
import Testing

@Suite struct WorkerTests {
    @Test(arguments: TransportKind.allCases)
    func aWorkerRunsEnqueuedWorkflowsUntilCancelled(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            var workflows = Workflows()
            workflows.register("double") { (run: RunContext, n: Int) in
                try await run.step("compute", input: n) { n * 2 }
            }
            let first = try await cairn.enqueue("double", input: 1, dedupeKey: "job-1")
            let again = try await cairn.enqueue("double", input: 1, dedupeKey: "job-1")
            #expect(again.id == first.id)
            try await cairn.enqueue("double", input: 2)
            try await cairn.enqueue("unknown", input: 3)
            let worker = Task { try await cairn.work(workflows: workflows, limit: 5, pollInterval: .milliseconds(10)) }
            var runs: [Run] = []
            for _ in 0..<500 {
                runs = try await cairn.runs.list()
                if runs.allSatisfy({ $0.status == .completed || $0.status == .failed }) { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            worker.cancel()
            try await worker.value
            let byInput = Dictionary(runs.map { ($0.input, $0) }, uniquingKeysWith: { a, _ in a })
            #expect(byInput["1"]?.status == .completed && byInput["1"]?.result == "2")
            #expect(byInput["2"]?.result == "4")
            #expect(byInput["3"]?.status == .failed)
            #expect(runs.count == 3)
        }
    }
}
