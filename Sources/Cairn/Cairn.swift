import CairnCore
import CairnStore
import Crypto
import Foundation
import Logging
import NIOCore

/// The entry point of the Swift SDK: durable workflows whose completed steps replay from
/// checkpoints, over HTTP against a Cairn server or embedded in-process on the embedded store.
///
/// ```swift
/// let cairn = Cairn.http()                       // or: try Cairn.embedded(dataDirectory: "./.cairn")
/// let report = try await cairn.run("generate-report", input: Request(topic: "tides")) { run, request in
///     let plan = try await run.step("plan") { try await makePlan(request) }
///     try await run.state.set(["status": "writing"])
///     return try await run.step("write") { try await write(plan) }
/// }
/// ```
public struct Cairn: Sendable {
    let transport: any RunTransport
    let checkpointTransport: any CheckpointTransport
    let artifactTransport: any ArtifactTransport
    let sandboxTransport: any SandboxTransport

    /// A client of the server at `url`; without one, `CAIRN_URL`, else a local `cairn serve`
    /// (`http://127.0.0.1:7373`). Without `apiKey`, `CAIRN_API_KEY` if it is set.
    /// `rateLimitRetry` says how a 429 answer is waited out and retried.
    public static func http(
        url: String? = nil, apiKey: String? = nil, timeout: Duration = .seconds(60),
        rateLimitRetry: RateLimitRetry = RateLimitRetry()
    )
        -> Cairn
    {
        let environment = ProcessInfo.processInfo.environment
        func setting(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let url = url ?? setting("CAIRN_URL") ?? "http://127.0.0.1:7373"
        let apiKey = apiKey ?? setting("CAIRN_API_KEY")
        let trimmed = url.hasSuffix("/") ? String(url.dropLast()) : url
        let ms =
            Int64(timeout.components.seconds) * 1000 + Int64(timeout.components.attoseconds / 1_000_000_000_000_000)
        let http = HTTPTransport(
            baseURL: trimmed, apiKey: apiKey, timeout: .milliseconds(ms), rateLimitRetry: rateLimitRetry)
        return Cairn(
            transport: http, checkpointTransport: HTTPCheckpointTransport(http: http),
            artifactTransport: HTTPArtifactTransport(http: http), sandboxTransport: HTTPSandboxTransport(http: http))
    }

    /// How much an acknowledged write of the embedded store survives.
    public enum Durability: Sendable {
        /// Every commit is fsynced before it is acknowledged: survives power loss (the default).
        case full
        /// Commits reach the operating system before they are acknowledged, but are not fsynced
        /// one by one: survives a crash or `kill -9` of the process, not a power loss or a crash
        /// of the machine, which can lose the last moments of work. Several times faster.
        case processCrash
    }

    /// The same API in-process, on the embedded store in `dataDirectory`: no server, no HTTP.
    /// Open one per directory per process. Artifacts' bytes are kept under
    /// `dataDirectory/blobs`, where `cairn serve --data-dir` on the same directory finds them.
    ///
    /// Unless `backgroundInterval` is nil, a background task does what the server's reconciler
    /// does for this store every `backgroundInterval` (default 1 s): it requeues queued runs
    /// whose worker's lease expired, cancels runs past their deadline and fires due schedules.
    /// It also deletes checkpointed workflows past their TTL, sandboxes past theirs and, every
    /// five minutes, expired artifacts and unreferenced blobs. It stops when the last copy of
    /// the returned value is released (its sandboxes are then removed). Recovery webhooks,
    /// checkpoint webhooks and push queues need a server. `clock` is the time the store and
    /// that task read (tests pass a `ManualClock`).
    public static func embedded(
        dataDirectory: String, leaseMilliseconds: Int64 = 60_000, durability: Durability = .full,
        backgroundInterval: Duration? = .seconds(1), missedFires: MissedFirePolicy = .once,
        clock: any WallClock = SystemClock(), logger: Logger = Logger(label: "cairn.embedded")
    )
        throws -> Cairn
    {
        let broker = EventBroker()
        var configuration = SQLiteStore.Configuration(path: dataDirectory + "/cairn.sqlite")
        configuration.synchronous = durability == .full ? "FULL" : "NORMAL"
        let store = try SQLiteStore(configuration: configuration, broker: broker, logger: logger)
        let runs = RunService(store: store, configuration: .init(leaseMilliseconds: leaseMilliseconds), clock: clock)
        let services = try EmbeddedServices(
            store: store, dataDirectory: dataDirectory, clock: clock, logger: logger)
        let checkpoints = CheckpointService(store: store, clock: clock)
        let artifacts = services.artifacts
        var transport = EmbeddedTransport(runs: runs, broker: broker, services: services)
        if let backgroundInterval {
            transport.background = EmbeddedBackground(
                runs: runs, checkpoints: checkpoints, artifacts: artifacts, interval: backgroundInterval,
                missedFires: missedFires, logger: logger)
        }
        let sandboxes = EmbeddedSandboxTransport(
            sandboxes: services.sandboxes, artifacts: artifacts,
            reaper: backgroundInterval.map { EmbeddedSandboxReaper(sandboxes: services.sandboxes, interval: $0) })
        return Cairn(
            transport: transport, checkpointTransport: EmbeddedCheckpointTransport(checkpoints: checkpoints),
            artifactTransport: EmbeddedArtifactTransport(artifacts: artifacts), sandboxTransport: sandboxes)
    }

    /// Reading and managing runs.
    public var runs: Runs { Runs(transport: transport) }

    /// Runs `workflow`: creates a run (or resumes `runId`), acquires its lease, and executes
    /// `body`. On resume, steps that completed before return their recorded output without
    /// running again. A run that already completed returns its result at once.
    public func run<Input: Codable & Sendable, Output: Codable & Sendable>(
        _ workflow: String, input: Input, runId: String? = nil, recoveryWebhook: String? = nil,
        _ body: @escaping @Sendable (RunContext, Input) async throws -> Output
    ) async throws -> Output {
        let run: Run
        if let runId {
            run = try await transport.run(id: runId).run
            guard run.workflowName == workflow else {
                throw CairnError.workflowMismatch(runWorkflow: run.workflowName, requested: workflow)
            }
        } else {
            run = try await transport.createRun(
                workflow: workflow, input: try CodableJSON.encode(input), recoveryWebhook: recoveryWebhook)
        }
        return try await execute(run: run, body)
    }

    /// Executes a run's workflow: under the lease of a claim (`leaseOwner`), or after acquiring
    /// the run's lease.
    func execute<Input: Codable & Sendable, Output: Codable & Sendable>(
        run: Run, leaseOwner: String? = nil, _ body: @escaping @Sendable (RunContext, Input) async throws -> Output
    ) async throws -> Output {
        if run.status == .completed { return try CodableJSON.decode(Output.self, from: run.result ?? "null") }
        let owner: String
        if let leaseOwner { owner = leaseOwner } else { owner = try await transport.beginRun(id: run.id).leaseOwner }
        let context = RunContext(runId: run.id, cairn: self, leaseOwner: owner)
        let input = try CodableJSON.decode(Input.self, from: run.input)
        do {
            let output = try await body(context, input)
            _ = try await transport.completeRun(id: run.id, result: try CodableJSON.encode(output))
            return output
        } catch CairnError.runCancelled(let id) {
            // The run is already terminal: never report a failure after a cancel.
            throw CairnError.runCancelled(runId: id)
        } catch {
            _ = try? await transport.failRun(id: run.id, error: CodableJSON.describe(error))
            throw error
        }
    }

    /// Checks an `x-tidebase-signature` header (`sha256=<hex>`, prefix optional) against the
    /// HMAC-SHA256 of the raw body, in constant time.
    public static func verifyWebhookSignature(body: some DataProtocol, header: String?, secret: String) -> Bool {
        guard var hex = header else { return false }
        if hex.hasPrefix("sha256=") { hex.removeFirst(7) }
        let mac = HMAC<SHA256>.authenticationCode(for: Data(body), using: SymmetricKey(data: Data(secret.utf8)))
        let expected = Array(Array(mac).hexString.utf8)
        let given = Array(hex.lowercased().utf8)
        guard expected.count == given.count else { return false }
        return zip(expected, given).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// Reading and managing runs.
public struct Runs: Sendable {
    let transport: any RunTransport

    public func get(_ id: String) async throws -> RunDetail { try await transport.run(id: id) }
    /// The newest runs (at most 100).
    public func list() async throws -> [Run] { try await transport.listRuns(RunListQuery()).runs }
    /// One page of runs, newest first, filtered by `query`; pass `page.next` as `query.after`
    /// for the next page.
    public func list(_ query: RunListQuery) async throws -> RunPage { try await transport.listRuns(query) }
    /// The run's events after sequence number `after`, then each new one as it commits; stop
    /// iterating (or cancel the task) to end the stream.
    public func events(_ id: String, after: Int64 = 0) -> AsyncThrowingStream<RunEvent, any Error> {
        transport.events(runId: id, after: after)
    }
    /// Forks a run at one of its completed steps: a new pending run of the same workflow and
    /// input, whose steps up to and including `atStep` replay the parent's recorded outputs
    /// without running, and whose state starts as the parent's was at that step. Run it with
    /// `cairn.run(workflow, input:, runId: fork.id)` to execute the rest (the input given there
    /// is ignored: the fork keeps the parent's). `RunDetail.fork` of the new run says where it
    /// came from.
    public func fork(_ id: String, atStep: String) async throws -> Run {
        try await transport.forkRun(id: id, atStep: atStep)
    }
    /// Cancels a run: one-way; its worker sees `CairnError.runCancelled` at its next step or gate.
    public func cancel(_ id: String, reason: String? = nil, actor: String? = nil) async throws -> Run {
        try await transport.cancelRun(id: id, reason: reason, actor: actor)
    }
    /// Asks the run's recovery webhook to resume it (server only).
    public func recover(_ id: String, reason: String = "manual") async throws -> RecoveryAttempt {
        try await transport.recover(runId: id, reason: reason)
    }
    /// Resolves a pending gate (as a person approving it would).
    public func resolveGate(runId: String, gateId: String, token: String, decision: GateStatus, actor: String? = nil)
        async throws
        -> Gate
    {
        try await transport.resolveGate(
            runId: runId, gateId: gateId, ResolveGateRequest(token: token, decision: decision, actor: actor))
    }
}

/// Codable values to and from the JSON the run protocol stores.
enum CodableJSON {
    static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        do {
            return try JSONParser.parse(bytes: Array(try JSONEncoder().encode(value)))
        } catch {
            throw CairnError.encoding("cannot encode \(T.self): \(error)")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from raw: RawJSON) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(raw.utf8))
        } catch {
            throw CairnError.encoding("cannot decode \(T.self) from \(raw.prefix(200)): \(error)")
        }
    }

    /// How a thrown error is recorded: `{name, message}`, as the other SDKs do.
    static func describe(_ error: any Error) -> JSONValue {
        .object(
            JSONObject([
                ("name", .string(String(describing: type(of: error)))), ("message", .string(String(describing: error))),
            ]))
    }

    /// The step input hash shared with the Python and TypeScript SDKs: SHA-256 of the input's
    /// JSON with keys sorted recursively (absent input hashes `null`).
    static func inputHash(_ input: JSONValue?) -> String {
        let text = (input ?? .null).stableText
        return Array(SHA256.hash(data: Data(text.utf8))).hexString
    }
}

/// The step input hash, public so applications can precompute it.
public enum SDKHashing {
    /// SHA-256 of the value's JSON with object keys sorted recursively, as every Tidebase SDK
    /// computes it; `nil` hashes JSON `null`. Floats with no fraction (`1.0`) may encode as
    /// integers in Swift and hash differently from Python; keep such inputs integral.
    public static func inputHash<T: Encodable>(_ value: T?) -> String {
        CodableJSON.inputHash(value.flatMap { try? CodableJSON.encode($0) })
    }
}
