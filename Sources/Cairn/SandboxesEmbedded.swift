import CairnCore
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Sandboxes in-process: the server's `SandboxService`, with no HTTP in between. Requests are
/// checked as the server's routes check them, so both modes refuse the same input with the
/// same codes. Sandboxes live in this process; they are removed when the client is released.
struct EmbeddedSandboxTransport: SandboxTransport {
    let sandboxes: SandboxService
    let artifacts: ArtifactService
    let tenant = TenantID.default
    /// Removes sandboxes past their TTL while any copy of this transport lives.
    var reaper: EmbeddedSandboxReaper?

    // MARK: Lifecycle

    func capabilities() async throws -> SandboxCapabilities {
        let reports = await sandboxes.capabilities()
        return SandboxCapabilities(
            defaultBackend: await sandboxes.defaultBackend(),
            backends: reports.map { report in
                SandboxCapabilities.Backend(
                    name: report.name, available: report.available, reason: report.unavailableReason,
                    capabilities: report.capabilities.sorted(), failed: report.failed)
            })
    }

    func create(_ r: SandboxCreateRequest) async throws -> SandboxHandle {
        var problems = RequestProblems()
        if let backend = r.backend, !["linux", "process"].contains(backend) {
            problems.add("backend", "unknown backend; use linux or process")
        }
        problems.range("ttl_seconds", r.ttlSeconds, SandboxLimits.ttlRange)
        problems.range("idle_ttl_seconds", r.idleTTLSeconds, SandboxLimits.ttlRange)
        let l = r.limits
        problems.range("limits.timeout_ms", l.timeoutMilliseconds, SandboxLimits.timeoutRange)
        problems.range("limits.memory_bytes", l.memoryBytes.map(Int.init), SandboxLimits.memoryRange)
        problems.range("limits.cpu_millicores", l.cpuMillicores, SandboxLimits.cpuRange)
        problems.range("limits.processes", l.processes, SandboxLimits.processRange)
        problems.range("limits.tmp_bytes", l.tmpBytes.map(Int.init), SandboxLimits.tmpRange)
        problems.range("limits.output_bytes", l.outputBytes, SandboxLimits.outputRange)
        if let mount = r.workspace {
            problems.range("workspace.bucket", mount.bucket.count, 3...63)
            if let snapshot = mount.snapshot {
                problems.range("workspace.snapshot", snapshot.count, 1...128)
                if mount.writable { problems.add("workspace.mode", "a snapshot is read-only: mount it with mode ro") }
            }
        }
        try problems.check()
        let spec = SandboxSpec(
            backend: r.backend, language: r.language, limits: r.limits, required: r.require,
            ttlSeconds: r.ttlSeconds.map(Int64.init), idleTTLSeconds: r.idleTTLSeconds.map(Int64.init),
            workspace: r.workspace)
        return SandboxHandle(try await mapped("sandbox") { try await sandboxes.create(spec, tenant: tenant) })
    }

    func get(_ id: String) async throws -> SandboxHandle {
        SandboxHandle(try await mapped(id) { try await sandboxes.sandbox(id, tenant: tenant).info })
    }

    func list() async throws -> [SandboxHandle] { await sandboxes.list(tenant: tenant).map(SandboxHandle.init) }

    func delete(_ id: String) async throws { try await mapped(id) { try await sandboxes.delete(id, tenant: tenant) } }

    func reset(_ id: String) async throws -> SandboxHandle {
        SandboxHandle(try await mapped(id) { try await sandboxes.reset(id, tenant: tenant) })
    }

    // MARK: Execute

    /// The execute route's checks.
    private static func check(_ command: SandboxCommand, timeoutMilliseconds: Int?) throws {
        var problems = RequestProblems()
        problems.range("timeout_ms", timeoutMilliseconds, SandboxLimits.timeoutRange)
        let maxBytes = 1 << 20
        switch command {
        case .code(let code):
            if code.utf8.count > maxBytes { problems.add("code", "longer than \(maxBytes) bytes") }
            if code.utf8.contains(0) { problems.add("code", "the code contains a NUL byte") }
        case .argv(let argv, let stdin):
            if argv.isEmpty || argv.count > 4096 || argv.contains(where: { $0.utf8.contains(0) }) {
                problems.add("command", "expected a non-empty array of at most 4096 strings without NUL bytes")
            } else if argv[0].isEmpty {
                problems.add("command", "the program name is empty")
            }
            if stdin.count > maxBytes { problems.add("stdin", "longer than \(maxBytes) bytes") }
        }
        try problems.check()
    }

    func exec(_ id: String, _ command: SandboxCommand, timeoutMilliseconds: Int?) async throws -> SandboxExecution {
        try Self.check(command, timeoutMilliseconds: timeoutMilliseconds)
        return SandboxExecution(
            try await mapped(id) {
                try await sandboxes.exec(id, tenant: tenant, command: command, timeoutMilliseconds: timeoutMilliseconds)
            })
    }

    func stream(_ id: String, _ command: SandboxCommand, timeoutMilliseconds: Int?)
        -> AsyncThrowingStream<SandboxEvent, any Error>
    {
        let (stream, continuation) = AsyncThrowingStream<SandboxEvent, any Error>.makeStream()
        let transport = self
        // The execution runs to its end whether or not anyone still listens, as on the server.
        Task {
            do {
                try Self.check(command, timeoutMilliseconds: timeoutMilliseconds)
                let result = try await transport.mapped(id) {
                    try await transport.sandboxes.exec(
                        id, tenant: transport.tenant, command: command, timeoutMilliseconds: timeoutMilliseconds,
                        output: { output in
                            switch output {
                            case .stdout(let bytes): continuation.yield(.stdout(String(decoding: bytes, as: UTF8.self)))
                            case .stderr(let bytes): continuation.yield(.stderr(String(decoding: bytes, as: UTF8.self)))
                            }
                        })
                }
                continuation.yield(.exit(SandboxExecution(result)))
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        return stream
    }

    // MARK: Files

    private func files(_ id: String) async throws -> SandboxFiles {
        try await mapped(id) { try await sandboxes.files(id, tenant: tenant) }
    }

    func readFile(_ id: String, path: String) async throws -> [UInt8] {
        let files = try await files(id)
        switch try await mapped(path, { try files.read(path) }) {
        case .file(let bytes): return bytes
        case .directory: throw CairnError.invalidRequest(code: "not_a_file", message: "\(path) is a directory")
        }
    }

    func writeFile(_ id: String, path: String, bytes: [UInt8]) async throws {
        let files = try await files(id)
        guard bytes.count <= SandboxFiles.maxFileBytes else {
            throw CairnError.invalidRequest(
                code: "too_large", message: "the file is larger than \(SandboxFiles.maxFileBytes) bytes")
        }
        try await mapped(path) { try files.write(path, bytes: bytes) }
    }

    func listFiles(_ id: String, path: String) async throws -> [SandboxDirectoryEntry] {
        let files = try await files(id)
        switch try await mapped(path, { try files.read(path) }) {
        case .directory(let entries):
            return entries.map {
                SandboxDirectoryEntry(
                    name: $0.name, kind: SandboxDirectoryEntry.Kind(rawValue: $0.type.rawValue) ?? .other,
                    size: $0.size)
            }
        case .file: throw CairnError.invalidRequest(code: "not_a_directory", message: "\(path) is a file")
        }
    }

    func deleteFile(_ id: String, path: String) async throws {
        let files = try await files(id)
        try await mapped(path) { try files.delete(path) }
    }

    /// Streams the file into a new artifact, as the server's route does.
    func saveArtifact(_ id: String, path: String, name: String?) async throws -> Artifact {
        var problems = RequestProblems()
        if path.utf8.count > 4096 { problems.add("path", "longer than 4096 bytes") }
        if let name, name.isEmpty || name.utf8.count > 1024 { problems.add("name", "1 to 1024 bytes") }
        try problems.check()
        let files = try await files(id)
        do {
            return try await mapped(path) {
                try await SandboxArtifacts.save(
                    path, of: files, name: name, contentType: nil, owner: id, into: artifacts, tenant: tenant)
            }
        } catch let error as ArtifactError {
            throw EmbeddedArtifactTransport.refusal(error)
        }
    }

    func snapshot(_ id: String) async throws -> SandboxWorkspaceSnapshot {
        let (bucket, version) = try await mapped(id) { try await sandboxes.snapshot(id, tenant: tenant) }
        return SandboxWorkspaceSnapshot(bucket: bucket, version: version)
    }

    // MARK: Refusals

    /// The service's refusals as the SDK's errors, the same ones the HTTP transport makes of
    /// the server's answers; `subject` is the sandbox id or file path concerned.
    private func mapped<T>(_ subject: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SandboxError {
            throw Self.refusal(error, subject: subject)
        }
    }

    static func refusal(_ error: SandboxError, subject: String) -> CairnError {
        switch error {
        case .notFound, .fileNotFound: return .notFound(subject)
        case .unknownBackend(let name, _):
            return .invalidRequest(code: "unknown_backend", message: "unknown sandbox backend \(name)")
        case .backendUnavailable(let name, let reason):
            return .invalidRequest(
                code: "backend_unavailable", message: "the \(name) backend cannot run here: \(reason)")
        case .capabilitiesMissing(let missing, _): return .capabilityUnavailable(missing: missing.map(\.rawValue))
        case .invalid(let message): return .invalidRequest(code: "invalid_request", message: message)
        case .invalidPath(let message): return .invalidRequest(code: "invalid_path", message: message)
        case .tooMany: return .tooManySandboxes
        case .busy: return .sandboxBusy
        case .notWritable:
            return .invalidRequest(code: "read_only", message: "the sandbox's workspace is mounted read-only")
        case .workspace(let status, let code, let message):
            return .server(
                status: status,
                body: jsonObject { w in
                    w.field("error", "workspace: \(message)")
                    w.field("code", "workspace_" + code)
                })
        case .setupFailed(let message):
            return .server(
                status: 503,
                body: jsonObject { w in
                    w.field("error", "the sandbox could not be set up: \(message)")
                    w.field("code", "setup_failed")
                })
        }
    }
}

/// Problems with a request's fields, collected into one refusal worded as the server's
/// body-validation 400 is.
private struct RequestProblems {
    var issues: [String] = []

    mutating func add(_ field: String, _ message: String) { issues.append("\(field): \(message)") }

    mutating func range(_ field: String, _ value: Int?, _ bounds: ClosedRange<Int>) {
        guard let value else { return }
        if value < bounds.lowerBound { add(field, "must be >= \(bounds.lowerBound)") }
        if value > bounds.upperBound { add(field, "must be <= \(bounds.upperBound)") }
    }

    func check() throws {
        guard issues.isEmpty else {
            throw CairnError.invalidRequest(
                code: "invalid_request", message: "invalid request body: " + issues.joined(separator: "; "))
        }
    }
}

/// Sweeps sandboxes past their TTL or idle TTL every `interval`, as the server's reaper does,
/// until released.
final class EmbeddedSandboxReaper: Sendable {
    private let task: Task<Void, Never>

    init(sandboxes: SandboxService, interval: Duration) {
        task = Task {
            while !Task.isCancelled {
                await sandboxes.reap()
                try? await Task.sleep(for: interval)
            }
        }
    }

    deinit { task.cancel() }
}

extension SandboxHandle {
    init(_ info: SandboxInfo) {
        self.init(
            id: info.id, backend: info.backend, language: info.language, status: info.status, limits: info.limits,
            capabilities: info.capabilities, workspace: info.workspace, createdAt: info.createdAt,
            expiresAt: info.expiresAt,
            idleExpiresAt: info.idleExpiresAt)
    }
}

extension SandboxExecution {
    init(_ result: SandboxExecResult) {
        let exit = result.exit
        self.init(
            stdout: String(decoding: result.stdout, as: UTF8.self),
            stderr: String(decoding: result.stderr, as: UTF8.self),
            value: result.value, error: result.error, truncated: result.truncated,
            exit: Exit(
                reason: exit.reason, exitCode: exit.exitCode.map(Int.init), signal: exit.signal.map(Int.init),
                durationMs: exit.durationMilliseconds, cpuMs: exit.cpuMilliseconds,
                peakMemoryBytes: exit.peakMemoryBytes))
    }
}
