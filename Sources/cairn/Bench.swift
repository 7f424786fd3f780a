import ArgumentParser
import CairnCore
import Foundation
import NIOCore
import NIOHTTP1

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a running server end to end (prints figures; not a test).",
        subcommands: [StepsBench.self])
}

/// Durable step overhead over HTTP: each step is a `steps/begin` plus a `steps/:id/complete`,
/// each answered only after its write is fsynced.
struct StepsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "steps")

    @Option(help: "Server host.") var host = "127.0.0.1"
    @Option(help: "Server port.") var port = 7373
    @Option(name: .customLong("api-key")) var apiKey: String?
    @Option(help: "Steps in the sequential phase.") var sequential = 2000
    @Option(help: "Concurrent workers in the throughput phase.") var workers = 32
    @Option(name: .customLong("steps-per-worker"), help: "Steps each worker runs in the throughput phase.")
    var stepsPerWorker = 300

    func run() async throws {
        let api = BenchClient(host: host, port: port, apiKey: apiKey)

        // Warm up connections and code paths.
        _ = try await api.runSteps(count: 50, label: "warmup")

        let seq = try await api.runSteps(count: sequential, label: "sequential")
        print("sequential: \(sequential) steps, 1 worker")
        print(Self.describe(seq.latencies, wall: seq.wall, steps: sequential))

        let start = ContinuousClock.now
        let results = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for w in 0..<workers {
                group.addTask { try await api.runSteps(count: stepsPerWorker, label: "w\(w)").latencies }
            }
            var all: [Duration] = []
            for try await r in group { all += r }
            return all
        }
        let wall = ContinuousClock.now - start
        print("concurrent: \(workers) workers x \(stepsPerWorker) steps")
        print(Self.describe(results, wall: wall, steps: results.count))
    }

    static func describe(_ latencies: [Duration], wall: Duration, steps: Int) -> String {
        let ms = latencies.map { Double($0.components.seconds) * 1000 + Double($0.components.attoseconds) / 1e15 }.sorted()
        func pct(_ p: Double) -> Double { ms.isEmpty ? 0 : ms[min(ms.count - 1, Int(Double(ms.count) * p))] }
        let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
        return String(
            format: "  per step: p50 %.3f ms, p99 %.3f ms, mean %.3f ms; throughput %.0f steps/s (%.2f s wall)",
            pct(0.5), pct(0.99), ms.reduce(0, +) / Double(max(1, ms.count)), Double(steps) / seconds, seconds)
    }
}

/// One benchmark worker: its own connection and its own run.
struct BenchClient: Sendable {
    let host: String
    let port: Int
    let apiKey: String?

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Creates and begins a run, then runs `count` steps on it one after another.
    func runSteps(count: Int, label: String) async throws -> (latencies: [Duration], wall: Duration) {
        let connection = try await BenchConnection.connect(host: host, port: port, apiKey: apiKey)
        defer { Task { await connection.close() } }
        let created = try await connection.post("/runs/bench-\(label)", #"{"input":{"bench":true}}"#)
        guard let runId = created["run"]?["id"]?.stringValue else { throw Failure(description: "no run id") }
        let begun = try await connection.post("/runs/\(runId)/begin", "{}")
        guard let owner = begun["leaseOwner"]?.stringValue else { throw Failure(description: "no lease owner") }
        var latencies: [Duration] = []
        latencies.reserveCapacity(count)
        let start = ContinuousClock.now
        for i in 0..<count {
            let t0 = ContinuousClock.now
            let step = try await connection.post(
                "/runs/\(runId)/steps/begin",
                #"{"name":"step-\#(i)","inputHash":"h\#(i)","input":{"i":\#(i)},"options":{},"leaseOwner":"\#(owner)"}"#)
            guard step["action"]?.stringValue == "execute", let stepId = step["step"]?["id"]?.stringValue else {
                throw Failure(description: "unexpected step begin: \(step.jsonText)")
            }
            _ = try await connection.post(
                "/runs/\(runId)/steps/\(stepId)/complete", #"{"leaseOwner":"\#(owner)","output":{"ok":\#(i)}}"#)
            latencies.append(ContinuousClock.now - t0)
        }
        let wall = ContinuousClock.now - start
        _ = try await connection.post("/runs/\(runId)/complete", #"{"result":{"steps":\#(count)}}"#)
        return (latencies, wall)
    }
}
