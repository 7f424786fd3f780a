import ArgumentParser
import CairnCore
import Foundation
import NIOCore
import NIOHTTP1

/// Forking a run: `POST /runs/:id/fork` latency for parents of different lengths (a fork reads
/// its parent's steps where they are, so the cost should not grow with them), and the first
/// replayed step of a fork, which is read through to the parent. The same for a checkpoint
/// workflow: `POST /workflows/:id/fork` and the fork's first resume, read through to the parent.
struct ForksBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "forks")

    @Option(help: "Server host.") var host = "127.0.0.1"
    @Option(help: "Server port.") var port = 7373
    @Option(name: .customLong("api-key")) var apiKey: String?
    @Option(help: "Parent run lengths in completed steps, comma-separated.") var steps = "10,100000"
    @Option(help: "Forks timed per parent.") var forks = 200
    @Option(help: "Connections filling a parent's steps.") var writers = 16

    func run() async throws {
        for length in steps.split(separator: ",").compactMap({ Int($0) }) where length > 0 {
            let runId = try await fill(length)
            let c = try await BenchConnection.connect(host: host, port: port, apiKey: apiKey)
            var forkTimes: [Duration] = []
            var replayTimes: [Duration] = []
            // Forked in the middle of the parent; each fork's step 0 replays from the parent.
            let at = "s\(length / 2)"
            for _ in 0..<forks {
                let t0 = ContinuousClock.now
                let reply = try await c.post("/runs/\(runId)/fork", #"{"step":"\#(at)"}"#)
                forkTimes.append(ContinuousClock.now - t0)
                guard let fork = reply["run"]?["id"]?.stringValue else {
                    throw BenchClient.Failure(description: "fork failed: \(reply.jsonText)")
                }
                let begun = try await c.post("/runs/\(fork)/begin", "{}")
                guard let owner = begun["leaseOwner"]?.stringValue else {
                    throw BenchClient.Failure(description: "no lease owner")
                }
                let t1 = ContinuousClock.now
                let step = try await c.post(
                    "/runs/\(fork)/steps/begin", #"{"name":"s0","inputHash":"h0","leaseOwner":"\#(owner)"}"#)
                replayTimes.append(ContinuousClock.now - t1)
                guard step["action"]?.stringValue == "return"
                else { throw BenchClient.Failure(description: "step s0 was not replayed: \(step.jsonText)") }
            }
            await c.close()
            print("parent of \(length) completed steps, \(forks) forks at \(at):")
            print(WorkspacesBench.line("  fork", forkTimes))
            print(WorkspacesBench.line("  first step of a fork (replayed from the parent)", replayTimes))
            try await benchWorkflowForks(length)
        }
    }

    /// A checkpoint workflow of `length` saves, forked `forks` times at its middle step; each
    /// fork then resumes once, at the parent's save it was forked at.
    func benchWorkflowForks(_ length: Int) async throws {
        let workflow = "bench-forks-\(Identifier.randomHex().prefix(8))-\(length)"
        var options = ["--host", host, "--port", String(port)]
        if let apiKey { options += ["--api-key", apiKey] }
        let saver = try CheckpointsBench.parse(options)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<min(writers, length) {
                group.addTask {
                    _ = try await saver.saveSeries(
                        workflow: workflow, steps: Array(stride(from: w, to: length, by: writers)), stateBytes: 100)
                }
            }
            try await group.waitForAll()
        }
        let wall = ContinuousClock.now - start
        print(String(format: "filled a checkpoint workflow with %d saves in %.1f s", length, wall.seconds))
        let c = try await BenchConnection.connect(host: host, port: port, apiKey: apiKey)
        var forkTimes: [Duration] = []
        var resumeTimes: [Duration] = []
        let at = length / 2
        for _ in 0..<forks {
            let t0 = ContinuousClock.now
            let reply = try await c.post("/workflows/\(workflow)/fork", #"{"step":\#(at)}"#)
            forkTimes.append(ContinuousClock.now - t0)
            guard let fork = reply["workflow_id"]?.stringValue else {
                throw BenchClient.Failure(description: "fork failed: \(reply.jsonText)")
            }
            let t1 = ContinuousClock.now
            let (status, body) = try await c.send(.GET, "/workflows/\(fork)/resume")
            resumeTimes.append(ContinuousClock.now - t1)
            guard status == .ok, String(buffer: body).contains(#""step":\#(at)"#) else {
                throw BenchClient.Failure(description: "resume of a fork: \(status) \(String(buffer: body))")
            }
        }
        await c.close()
        print("checkpoint workflow of \(length) saves, \(forks) forks at step \(at):")
        print(WorkspacesBench.line("  fork", forkTimes))
        print(WorkspacesBench.line("  first resume of a fork (read through the parent)", resumeTimes))
    }

    /// A run with `length` completed steps `s0`…, written by `writers` connections.
    func fill(_ length: Int) async throws -> String {
        let c = try await BenchConnection.connect(host: host, port: port, apiKey: apiKey)
        defer { Task { await c.close() } }
        let created = try await c.post("/runs/bench-forks-\(length)", #"{"input":{"bench":true}}"#)
        guard let runId = created["run"]?["id"]?.stringValue else {
            throw BenchClient.Failure(description: "no run id")
        }
        let begun = try await c.post("/runs/\(runId)/begin", "{}")
        guard let owner = begun["leaseOwner"]?.stringValue else {
            throw BenchClient.Failure(description: "no lease owner")
        }
        let start = ContinuousClock.now
        @Sendable func complete(_ i: Int, on writer: BenchConnection) async throws {
            let step = try await writer.post(
                "/runs/\(runId)/steps/begin", #"{"name":"s\#(i)","inputHash":"h\#(i)","leaseOwner":"\#(owner)"}"#)
            guard let stepId = step["step"]?["id"]?.stringValue else {
                throw BenchClient.Failure(description: "unexpected step begin: \(step.jsonText)")
            }
            _ = try await writer.post(
                "/runs/\(runId)/steps/\(stepId)/complete", #"{"leaseOwner":"\#(owner)","output":{"ok":\#(i)}}"#)
        }
        // s0 first: a fork replays the steps completed by the step it forks at, and each fork's
        // first step (s0) must be one of them whatever order the writers finish in.
        try await complete(0, on: c)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<min(writers, length - 1) {
                group.addTask {
                    let writer = try await BenchConnection.connect(host: host, port: port, apiKey: apiKey)
                    for i in stride(from: 1 + w, to: length, by: writers) { try await complete(i, on: writer) }
                    await writer.close()
                }
            }
            try await group.waitForAll()
        }
        let wall = ContinuousClock.now - start
        print(String(format: "filled a run with %d completed steps in %.1f s", length, wall.seconds))
        return runId
    }
}
