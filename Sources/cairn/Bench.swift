import ArgumentParser
import Cairn
import CairnCore
import CairnStore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a running server end to end (prints figures; not a test).",
        subcommands: [
            StepsBench.self, ClaimsBench.self, SDKBench.self, CheckpointsBench.self, ArtifactsBench.self,
            PostgresBench.self, JSONBench.self, WorkspacesBench.self, ForksBench.self, PoliciesBench.self,
            SandboxesBench.self,
        ])
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
        // What two HTTP exchanges cost alone, on the same kind of connection: the part of a
        // step that is not the server's work.
        let health = try await api.roundTrips(count: sequential)
        let healthMs = health.map(\.milliseconds).sorted()
        print(
            String(
                format: "  HTTP alone (GET /health, %d in a row): p50 %.3f ms a request", healthMs.count,
                healthMs.isEmpty ? 0 : healthMs[healthMs.count / 2]))

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
        let ms = latencies.map(\.milliseconds)
            .sorted()
        func pct(_ p: Double) -> Double { ms.isEmpty ? 0 : ms[min(ms.count - 1, Int(Double(ms.count) * p))] }
        let seconds = wall.seconds
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

    /// `count` sequential `GET /health` exchanges on one connection, each timed.
    func roundTrips(count: Int) async throws -> [Duration] {
        let connection = try await BenchConnection.connect(host: host, port: port, apiKey: apiKey)
        defer { Task { await connection.close() } }
        return try await connection.onItsLoop {
            var latencies: [Duration] = []
            latencies.reserveCapacity(count)
            for _ in 0..<count {
                let t0 = ContinuousClock.now
                let (status, _) = try await connection.send(.GET, "/health")
                guard status == .ok else { throw Failure(description: "/health: \(status)") }
                latencies.append(ContinuousClock.now - t0)
            }
            return latencies
        }
    }

    /// Creates and begins a run, then runs `count` steps on it one after another.
    func runSteps(count: Int, label: String) async throws -> (latencies: [Duration], wall: Duration) {
        let connection = try await BenchConnection.connect(host: host, port: port, apiKey: apiKey)
        defer { Task { await connection.close() } }
        return try await connection.onItsLoop {
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
                    #"{"name":"step-\#(i)","inputHash":"h\#(i)","input":{"i":\#(i)},"options":{},"leaseOwner":"\#(owner)"}"#
                )
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
}

/// Queue throughput: claims per second by 4 workers claiming 10 at a time from a full queue,
/// and enqueue-to-start latency while a producer enqueues at a steady rate.
struct ClaimsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "claims")

    @Option(help: "Server host.") var host = "127.0.0.1"
    @Option(help: "Server port.") var port = 7373
    @Option(help: "Several replicas' ports, comma-separated: producers and workers take turns over them.")
    var ports: String?
    @Option(name: .customLong("api-key")) var apiKey: String?
    @Option(help: "Runs enqueued before the claim phase.") var runs = 20_000
    @Option(help: "Claiming workers.") var workers = 4
    @Option(help: "Runs per claim.") var limit = 10
    @Option(name: .customLong("latency-runs"), help: "Runs in the latency phase.") var latencyRuns = 2_000
    @Option(name: .customLong("latency-rate"), help: "Enqueues per second in the latency phase.") var latencyRate = 500

    /// The port the `i`th producer or worker talks to.
    func port(for i: Int) -> Int {
        let all = (ports ?? "").split(separator: ",").compactMap { Int($0) }
        return all.isEmpty ? port : all[i % all.count]
    }

    func run() async throws {
        let queue = "bench-\(Identifier.randomHex().prefix(8))"
        // Fill the queue with several producers.
        let fillStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            let producers = 8
            for p in 0..<producers {
                group.addTask {
                    let c = try await BenchConnection.connect(host: host, port: port(for: p), apiKey: apiKey)
                    for i in stride(from: p, to: runs, by: producers) {
                        _ = try await c.post(
                            "/queues/\(queue)/enqueue", #"{"workflowName":"bench","input":{"i":\#(i)}}"#)
                    }
                    await c.close()
                }
            }
            try await group.waitForAll()
        }
        let fill = ContinuousClock.now - fillStart
        print(
            String(
                format: "enqueue: %d runs in %.2f s (%.0f enqueues/s, 8 producers)", runs, fill.seconds,
                Double(runs) / fill.seconds))

        let start = ContinuousClock.now
        let claimed = try await withThrowingTaskGroup(of: Int.self) { group in
            for w in 0..<workers {
                group.addTask {
                    let c = try await BenchConnection.connect(host: host, port: port(for: w), apiKey: apiKey)
                    var total = 0
                    while true {
                        let reply = try await c.post(
                            "/queues/claim", #"{"queues":["\#(queue)"],"limit":\#(limit),"leaseOwner":"bench-\#(w)"}"#)
                        let n = reply["runs"]?.arrayValue?.count ?? 0
                        if n == 0 { break }
                        total += n
                    }
                    await c.close()
                    return total
                }
            }
            var sum = 0
            for try await n in group { sum += n }
            return sum
        }
        let wall = ContinuousClock.now - start
        print(
            String(
                format: "claims: %d runs by %d workers at limit %d in %.2f s: %.0f claims/s", claimed, workers, limit,
                wall.seconds, Double(claimed) / wall.seconds))

        try await measureLatency()
    }

    /// A producer enqueues at a steady rate; workers claim in a tight loop; each run's latency is
    /// from its enqueue being acknowledged to the claim that returned it.
    private func measureLatency() async throws {
        let queue = "bench-latency-\(Identifier.randomHex().prefix(8))"
        let enqueuedAt = EnqueueClock()
        let producer = Task {
            let c = try await BenchConnection.connect(host: host, port: port, apiKey: apiKey)
            let interval = Duration.seconds(1) / latencyRate
            var next = ContinuousClock.now
            for i in 0..<latencyRuns {
                let reply = try await c.post(
                    "/queues/\(queue)/enqueue", #"{"workflowName":"bench","input":{"i":\#(i)}}"#)
                if let id = reply["run"]?["id"]?.stringValue { enqueuedAt.record(id) }
                next += interval
                try await Task.sleep(until: next)
            }
            await c.close()
        }
        let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for w in 0..<workers {
                group.addTask {
                    let c = try await BenchConnection.connect(host: host, port: port, apiKey: apiKey)
                    var mine: [Duration] = []
                    while enqueuedAt.claimedCount < latencyRuns {
                        let reply = try await c.post(
                            "/queues/claim", #"{"queues":["\#(queue)"],"limit":\#(limit),"leaseOwner":"lat-\#(w)"}"#)
                        let now = ContinuousClock.now
                        let ids = reply["runs"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
                        for id in ids { if let d = enqueuedAt.claimed(id, at: now) { mine.append(d) } }
                        if ids.isEmpty { try await Task.sleep(for: .milliseconds(1)) }
                    }
                    await c.close()
                    return mine
                }
            }
            var all: [Duration] = []
            for try await l in group { all += l }
            return all
        }
        try await producer.value
        let ms = latencies.map { $0.seconds * 1000 }.sorted()
        func pct(_ p: Double) -> Double { ms.isEmpty ? 0 : ms[min(ms.count - 1, Int(Double(ms.count) * p))] }
        print(
            String(
                format:
                    "enqueue-to-start: %d runs at %d/s, %d workers polling (1 ms idle sleep): p50 %.2f ms, p99 %.2f ms",
                ms.count, latencyRate, workers, pct(0.5), pct(0.99)))
    }
}

/// Enqueue acknowledgement times by run id, shared by the producer and the workers.
final class EnqueueClock: @unchecked Sendable {
    private let lock = NSLock()
    private var times: [String: ContinuousClock.Instant] = [:]
    private var count = 0

    var claimedCount: Int { lock.withLock { count } }

    func record(_ id: String) {
        let now = ContinuousClock.now
        lock.withLock { times[id] = now }
    }

    /// The latency of a claimed run; a claim can race ahead of the producer recording its ack,
    /// in which case the latency is counted as zero.
    func claimed(_ id: String, at now: ContinuousClock.Instant) -> Duration? {
        lock.withLock {
            count += 1
            guard let t = times.removeValue(forKey: id) else { return .zero }
            return now - t
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var milliseconds: Double { seconds * 1000 }
}

/// Per-step overhead through the Swift SDK: `run.step` with a trivial body, sequentially in
/// one run, embedded (in-process, durable) or over HTTP.
struct SDKBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sdk")

    @Option(help: "Server URL; without it the SDK runs embedded in a temporary directory.") var url: String?
    @Option(help: "Steps.") var steps = 2000
    @Flag(
        name: .customLong("process-crash-durability"),
        help: "Embedded: fsync lazily (survives kill -9, not power loss).")
    var processCrashDurability = false

    func run() async throws {
        let cairn: Cairn
        var directory: String?
        if let url {
            cairn = Cairn.http(url: url)
        } else {
            let dir = NSTemporaryDirectory() + "cairn-sdk-bench-" + Identifier.randomHex().prefix(8)
            directory = dir
            cairn = try Cairn.embedded(dataDirectory: dir, durability: processCrashDurability ? .processCrash : .full)
        }
        defer { if let directory { try? FileManager.default.removeItem(atPath: directory) } }
        let count = steps
        _ = try await cairn.run("sdk-bench-warmup", input: 50) { run, n in
            for i in 0..<n { _ = try await run.step("s\(i)") { i } }
            return n
        }
        let latencies = try await cairn.run("sdk-bench", input: count) { run, n -> [Double] in
            var ms: [Double] = []
            for i in 0..<n {
                let t0 = ContinuousClock.now
                _ = try await run.step("step-\(i)") { i }
                ms.append((ContinuousClock.now - t0).seconds * 1000)
            }
            return ms
        }
        let sorted = latencies.sorted()
        func pct(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        let total = latencies.reduce(0, +)
        print(
            String(
                format: "sdk %@: %d sequential steps: p50 %.3f ms, p99 %.3f ms, mean %.3f ms (%.0f steps/s)",
                url == nil
                    ? (processCrashDurability ? "embedded, process-crash durability" : "embedded, full durability")
                    : "http", count, pct(0.5), pct(0.99), total / Double(count), Double(count) / (total / 1000)))
    }
}

/// What one statement and one transaction cost on a Postgres database, from this process:
/// the floor under every store operation on the scale-out engine.
struct PostgresBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "postgres")

    @Option(help: "postgres://user:password@host:port/database") var database: String
    @Option(help: "Repetitions of each measurement.") var count = 2_000

    func run() async throws {
        let store = try await PostgresStore.open(
            configuration: .init(url: database, poolSize: 4), broker: nil, logger: Logger(label: "bench"))
        defer { store.shutdown() }
        for (what, mean) in try await store.measureRoundTrips(count: count) {
            print(String(format: "%@: mean %.3f ms", what, mean.milliseconds))
        }
        // A step as the server's store runs it, without HTTP: what DBOS's in-process step is
        // to be set against.
        let runs = RunService(store: store, configuration: .init())
        let run = try await runs.createRun(CreateRunRequest(workflowName: "bench"), tenant: .default)
        var latencies: [Duration] = []
        latencies.reserveCapacity(count)
        for i in 0..<count {
            let t0 = ContinuousClock.now
            guard
                case .execute(let step, let owner) = try await runs.beginStep(
                    runId: run.id, BeginStepRequest(name: "step-\(i)", inputHash: "h\(i)", leaseOwner: "bench"),
                    tenant: .default)
            else { throw ValidationError("a step did not begin") }
            _ = try await runs.completeStep(
                runId: run.id, stepId: step.id, leaseOwner: owner, output: .object(JSONObject([("ok", .int(i))])),
                tenant: .default)
            latencies.append(ContinuousClock.now - t0)
        }
        let ms = latencies.map(\.milliseconds).sorted()
        print(
            String(
                format: "a step in-process (begin and complete, no HTTP): p50 %.3f ms, mean %.3f ms", ms[ms.count / 2],
                ms.reduce(0, +) / Double(ms.count)))
    }
}

/// How fast CairnCore's JSON parser reads a document: the server parses every request body
/// with it, and the Swift SDK and the bench clients every response.
struct JSONBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "json")

    @Argument(help: "A JSON file, e.g. a saved replay page.") var file: String
    @Option(help: "Parses timed (after 5 that warm up).") var count = 50

    func run() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: file)))
        var latencies: [Duration] = []
        for round in 0..<(count + 5) {
            let t0 = ContinuousClock.now
            _ = try JSONParser.parse(bytes: bytes)
            if round >= 5 { latencies.append(ContinuousClock.now - t0) }
        }
        latencies.sort()
        let p50 = latencies[latencies.count / 2]
        let ms = p50.milliseconds
        let megabytesPerSecond = Double(bytes.count) / ms / 1000
        print(String(format: "parse %d bytes: p50 %.3f ms, %.0f MB/s", bytes.count, ms, megabytesPerSecond))
    }
}
