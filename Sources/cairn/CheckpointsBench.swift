import ArgumentParser
import CairnCore
import Foundation
import NIOCore
import NIOHTTP1

/// Checkpoint-protocol figures over HTTP: save throughput by state size and client count, and
/// resume latency by history length. Each save is answered only after its write is fsynced.
struct CheckpointsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "checkpoints")

    @Option(help: "Server host.") var host = "127.0.0.1"
    @Option(help: "Server port.") var port = 7373
    @Option(name: .customLong("api-key")) var apiKey: String?
    @Option(name: .customLong("saves"), help: "Saves per configuration (split among the clients).")
    var saves = 4000
    @Option(name: .customLong("histories"), help: "History lengths to measure resume at, comma-separated.")
    var histories = "1,1000,100000"
    @Option(
        name: .customLong("list-history"), help: "Checkpoints in the history whose full listing is timed (0: skip).")
    var listHistory = 2000
    @Option(name: .customLong("resumes"), help: "Sequential resumes timed per history length.")
    var resumes = 2000

    func run() async throws {
        let run = Identifier.randomHex().prefix(8)
        for (label, bytes) in [("1KB", 1_000), ("100KB", 100_000)] {
            for clients in [1, 16] {
                // 100 KB saves move a hundred times the bytes: fewer of them keep the run short.
                let total = bytes > 10_000 ? max(clients * 20, saves / 8) : saves
                let perClient = max(1, total / clients)
                let start = ContinuousClock.now
                let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
                    for c in 0..<clients {
                        group.addTask {
                            try await saveSeries(
                                workflow: "bench-\(run)-\(label)-\(clients)-\(c)", steps: Array(0..<perClient),
                                stateBytes: bytes)
                        }
                    }
                    var all: [Duration] = []
                    for try await part in group { all += part }
                    return all
                }
                let wall = ContinuousClock.now - start
                print("save \(label) state, \(clients) client(s), \(latencies.count) saves")
                print(Self.describe(latencies, wall: wall, count: latencies.count, unit: "saves"))
            }
        }

        for length in histories.split(separator: ",").compactMap({ Int($0) }) {
            let workflow = "bench-\(run)-history-\(length)"
            // Fill the history with 16 writers (steps interleaved), ~1 KB each.
            let writers = min(16, length)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<writers {
                    group.addTask {
                        _ = try await saveSeries(
                            workflow: workflow, steps: Array(stride(from: w, to: length, by: writers)),
                            stateBytes: 1_000)
                    }
                }
                try await group.waitForAll()
            }
            let connection = try await BenchConnection.connect(host: host, port: port, apiKey: apiKey)
            var latencies: [Duration] = []
            for i in 0..<(resumes + 100) {
                let t0 = ContinuousClock.now
                let (status, body) = try await connection.send(.GET, "/workflows/\(workflow)/resume")
                let elapsed = ContinuousClock.now - t0
                guard status == .ok else { throw BenchClient.Failure(description: "resume: \(status)") }
                if i == 0 {
                    let total = try JSONParser.parse(bytes: Array(body.readableBytesView))["total_checkpoints"]
                    guard total?.intValue == length else {
                        throw BenchClient.Failure(
                            description: "history \(length): total_checkpoints \(String(describing: total))")
                    }
                }
                if i >= 100 { latencies.append(elapsed) }  // the first 100 warm up
            }
            await connection.close()
            print("resume, history of \(length) checkpoints, \(resumes) sequential resumes")
            print(Self.describe(latencies, wall: latencies.reduce(.zero, +), count: latencies.count, unit: "resumes"))
        }
        if listHistory > 0 { try await measureListing(length: listHistory) }
    }

    /// Lists a whole history of `length` checkpoints through replay, in pages of 1,000, as a
    /// client reading a workflow's past does.
    func measureListing(length: Int) async throws {
        let workflow = "bench-\(Identifier.randomHex().prefix(8))-list-\(length)"
        _ = try await saveSeries(workflow: workflow, steps: Array(0..<length), stateBytes: 1_000)
        let connection = try await BenchConnection.connect(host: host, port: port, apiKey: apiKey)
        var latencies: [Duration] = []
        for round in 0..<25 {
            let t0 = ContinuousClock.now
            var from = 0
            var listed = 0
            while true {
                let (status, body) = try await connection.send(
                    .GET, "/workflows/\(workflow)/replay?from_step=\(from)&limit=1000")
                guard status == .ok else { throw BenchClient.Failure(description: "replay: \(status)") }
                let page = try JSONParser.parse(bytes: Array(body.readableBytesView))
                let steps = (page["checkpoints"]?.arrayValue ?? []).compactMap { $0["step"]?.intValue }
                listed += steps.count
                guard page["has_more"]?.boolValue == true, let last = steps.last else { break }
                from = last + 1
            }
            let elapsed = ContinuousClock.now - t0
            guard listed == length else {
                throw BenchClient.Failure(description: "listed \(listed) of \(length) checkpoints")
            }
            if round >= 5 { latencies.append(elapsed) }  // the first 5 warm up
        }
        await connection.close()
        print("list a whole history of \(length) checkpoints (replay, pages of 1,000), \(latencies.count) times")
        print(Self.describe(latencies, wall: latencies.reduce(.zero, +), count: latencies.count, unit: "listings"))
    }

    /// Saves the given steps of one workflow, one after another on one connection.
    func saveSeries(workflow: String, steps: [Int], stateBytes: Int) async throws -> [Duration] {
        let connection = try await BenchConnection.connect(host: host, port: port, apiKey: apiKey)
        defer { Task { await connection.close() } }
        // Messages of 100 characters, as an agent's transcript grows; the step number changes
        // on every save so each diff has something to report.
        let messages = Array(
            repeating: "\"" + String(repeating: "m", count: 98) + "\"", count: max(1, stateBytes / 101)
        )
        .joined(separator: ",")
        var latencies: [Duration] = []
        latencies.reserveCapacity(steps.count)
        for step in steps {
            let body =
                #"{"workflow_id":"\#(workflow)","step":\#(step),"state":{"step":\#(step),"messages":[\#(messages)]}}"#
            let t0 = ContinuousClock.now
            let (status, reply) = try await connection.send(.POST, "/checkpoints", body)
            latencies.append(ContinuousClock.now - t0)
            guard status == .created else {
                throw BenchClient.Failure(description: "save: \(status) \(String(buffer: reply))")
            }
        }
        return latencies
    }

    static func describe(_ latencies: [Duration], wall: Duration, count: Int, unit: String) -> String {
        let ms = latencies.map(\.milliseconds)
            .sorted()
        func pct(_ p: Double) -> Double { ms.isEmpty ? 0 : ms[min(ms.count - 1, Int(Double(ms.count) * p))] }
        let seconds = wall.seconds
        return String(
            format: "  p50 %.3f ms, p99 %.3f ms, mean %.3f ms; %.0f \(unit)/s (%.2f s)",
            pct(0.5), pct(0.99), ms.reduce(0, +) / Double(max(1, ms.count)), Double(count) / seconds, seconds)
    }
}
