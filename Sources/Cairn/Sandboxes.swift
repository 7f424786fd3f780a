import CairnCore

extension Cairn {
    /// Sandboxes: isolated places to run agent code, with limits the backend really enforces,
    /// stateful Python sessions, files under `/work` and output streamed as it is written. Over
    /// HTTP, the server's `/sandboxes` routes; embedded, the same service in this process (its
    /// backends are probed on first use).
    public var sandboxes: Sandboxes { Sandboxes(transport: sandboxTransport) }
}

/// Sandboxes of the caller's tenant: create one, run code or commands in it, move files in and
/// out, reset it, delete it.
///
/// ```swift
/// let sandbox = try await cairn.sandboxes.create(limits: SandboxLimits(timeoutMilliseconds: 10_000))
/// _ = try await cairn.sandboxes.exec(sandbox.id, code: "total = 40")
/// let answer = try await cairn.sandboxes.exec(sandbox.id, code: "total + 2")   // answer.value == "42"
/// for try await event in cairn.sandboxes.stream(sandbox.id, command: ["python3", "-c", "print('hi')"]) {
///     if case .stdout(let text) = event { print(text, terminator: "") }
/// }
/// try await cairn.sandboxes.delete(sandbox.id)
/// ```
///
/// Refusals are typed: a limit or capability the backend cannot enforce throws
/// ``CairnError/capabilityUnavailable(missing:)`` (never a silent drop), an unknown sandbox or
/// file ``CairnError/notFound(_:)``, a second execution while one runs
/// ``CairnError/sandboxBusy``, bad input ``CairnError/invalidRequest(code:message:)``.
public struct Sandboxes: Sendable {
    let transport: any SandboxTransport

    /// The backends, what each enforces on this machine (its probe's findings), and the default.
    public func capabilities() async throws -> SandboxCapabilities { try await transport.capabilities() }

    /// Creates a sandbox.
    ///
    /// - Parameters:
    ///   - backend: `linux` (bubblewrap and cgroups) or `process` (a plain child process); nil
    ///     for the server's default.
    ///   - language: `.python` for a stateful interpreter session plus commands, `.shell` for
    ///     commands only.
    ///   - limits: each limit set needs its capability (a timeout needs `timeout`, memory
    ///     `memory_limit`, ...); where the backend enforces one and none is set, the server's
    ///     default applies. The handle shows the limits in force.
    ///   - require: capabilities demanded without a number (`.networkOff`, ...).
    ///   - ttlSeconds: the sandbox is removed this long after its creation.
    ///   - idleTTLSeconds: the sandbox is removed after this long without use.
    ///   - workspace: a workspace (bucket) whose files are copied into `/work`: its current
    ///     objects, or one snapshot's (read-only). A writable one is written back by
    ///     ``snapshot(_:)``.
    /// - Throws: ``CairnError/capabilityUnavailable(missing:)`` naming what the backend cannot
    ///   enforce; ``CairnError/invalidRequest(code:message:)`` for values out of range;
    ///   ``CairnError/tooManySandboxes`` at the server's limit.
    public func create(
        backend: String? = nil, language: SandboxLanguage = .python, limits: SandboxLimits = SandboxLimits(),
        require: Set<SandboxCapability> = [], ttlSeconds: Int? = nil, idleTTLSeconds: Int? = nil,
        workspace: SandboxWorkspaceMount? = nil
    ) async throws -> SandboxHandle {
        try await transport.create(
            SandboxCreateRequest(
                backend: backend, language: language, limits: limits, require: require, ttlSeconds: ttlSeconds,
                idleTTLSeconds: idleTTLSeconds, workspace: workspace))
    }

    /// A sandbox by id; another tenant's is ``CairnError/notFound(_:)``.
    public func get(_ id: String) async throws -> SandboxHandle { try await transport.get(id) }

    /// The tenant's sandboxes, oldest first.
    public func list() async throws -> [SandboxHandle] { try await transport.list() }

    /// Deletes a sandbox: its processes are killed and its files removed.
    public func delete(_ id: String) async throws { try await transport.delete(id) }

    /// Runs Python source in the sandbox's interpreter session (variables persist between
    /// calls) and returns the whole answer; `value` is the `repr` of a last expression.
    /// `timeoutMilliseconds` may shorten, not lengthen, the sandbox's timeout. An execution
    /// that times out or hits a limit loses the session's variables.
    public func exec(_ id: String, code: String, timeoutMilliseconds: Int? = nil) async throws -> SandboxExecution {
        try await transport.exec(id, .code(code), timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Runs a process in the sandbox (`command[0]` looked up on its `PATH`, working directory
    /// `/work`), with `stdin` as its standard input, and returns the whole answer.
    public func exec(_ id: String, command: [String], stdin: String? = nil, timeoutMilliseconds: Int? = nil)
        async throws -> SandboxExecution
    {
        try await transport.exec(
            id, .argv(command, stdin: Array((stdin ?? "").utf8)), timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Runs Python source as ``exec(_:code:timeoutMilliseconds:)`` does, yielding standard
    /// output and standard error as they are written, then one ``SandboxEvent/exit(_:)`` with
    /// the whole answer, after which the sequence ends. Stop iterating to stop listening (the
    /// execution itself runs to its end).
    public func stream(_ id: String, code: String, timeoutMilliseconds: Int? = nil)
        -> AsyncThrowingStream<SandboxEvent, any Error>
    {
        transport.stream(id, .code(code), timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Runs a process as ``exec(_:command:stdin:timeoutMilliseconds:)`` does, yielding its
    /// output as it is written, then ``SandboxEvent/exit(_:)``.
    public func stream(_ id: String, command: [String], stdin: String? = nil, timeoutMilliseconds: Int? = nil)
        -> AsyncThrowingStream<SandboxEvent, any Error>
    {
        transport.stream(id, .argv(command, stdin: Array((stdin ?? "").utf8)), timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Ends the interpreter session (its variables are gone); the files under `/work` stay.
    @discardableResult
    public func reset(_ id: String) async throws -> SandboxHandle { try await transport.reset(id) }

    /// The bytes of a file beneath `/work` (`path` relative to it; at most 64 MiB). A symlink
    /// anywhere on the path is refused (`invalid_path`), never followed.
    public func readFile(_ id: String, path: String) async throws -> [UInt8] {
        try await transport.readFile(id, path: path)
    }

    /// Writes a file beneath `/work`, making its parent directories; replaces a file there.
    public func writeFile(_ id: String, path: String, bytes: [UInt8]) async throws {
        try await transport.writeFile(id, path: path, bytes: bytes)
    }

    /// Writes text as a UTF-8 file beneath `/work`.
    public func writeFile(_ id: String, path: String, contents: String) async throws {
        try await transport.writeFile(id, path: path, bytes: Array(contents.utf8))
    }

    /// The entries of a directory beneath `/work` (`""` for `/work` itself), by name.
    public func listFiles(_ id: String, path: String = "") async throws -> [SandboxDirectoryEntry] {
        try await transport.listFiles(id, path: path)
    }

    /// Removes a file, a symlink (not what it points to) or an empty directory beneath `/work`.
    public func deleteFile(_ id: String, path: String) async throws { try await transport.deleteFile(id, path: path) }

    /// Writes `/work` back into the sandbox's (writable) workspace and snapshots the workspace;
    /// no execution runs meanwhile. Returns the bucket and the new snapshot's version.
    public func snapshot(_ id: String) async throws -> SandboxWorkspaceSnapshot {
        try await transport.snapshot(id)
    }

    /// Saves a file of the sandbox as a new artifact of the tenant (owned by the sandbox's id),
    /// named `name` or else after the file.
    public func saveArtifact(_ id: String, path: String, name: String? = nil) async throws -> Artifact {
        try await transport.saveArtifact(id, path: path, name: name)
    }
}

/// A sandbox as the API shows it.
public struct SandboxHandle: Sendable, Equatable {
    /// `sbx_…`.
    public var id: String
    public var backend: String
    public var language: SandboxLanguage
    /// `ready` while it exists.
    public var status: String
    /// The limits in force: those asked for plus the server's defaults for the others the
    /// backend enforces. `outputBytes` is always set.
    public var limits: SandboxLimits
    /// What the sandbox's backend enforces.
    public var capabilities: [SandboxCapability]
    /// The workspace copied into `/work`, if one was.
    public var workspace: SandboxWorkspaceMount?
    public var createdAt: Timestamp
    /// When the TTL removes it.
    public var expiresAt: Timestamp?
    /// When it is removed unless used before (moves on with each use).
    public var idleExpiresAt: Timestamp?

    public init(
        id: String, backend: String, language: SandboxLanguage, status: String, limits: SandboxLimits,
        capabilities: [SandboxCapability], workspace: SandboxWorkspaceMount? = nil, createdAt: Timestamp,
        expiresAt: Timestamp?, idleExpiresAt: Timestamp?
    ) {
        self.id = id
        self.backend = backend
        self.language = language
        self.status = status
        self.limits = limits
        self.capabilities = capabilities
        self.workspace = workspace
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.idleExpiresAt = idleExpiresAt
    }
}

/// A sandbox's `/work` written back into its workspace.
public struct SandboxWorkspaceSnapshot: Sendable, Equatable {
    public var bucket: String
    /// The workspace snapshot's version id.
    public var version: String

    public init(bucket: String, version: String) {
        self.bucket = bucket
        self.version = version
    }
}

/// The whole answer to one execution.
public struct SandboxExecution: Sendable, Equatable {
    /// Standard output (as UTF-8 text), at most the sandbox's output limit.
    public var stdout: String
    public var stderr: String
    /// Python: the `repr` of the code's last expression, when it ends with one.
    public var value: String?
    /// Python: the traceback of an uncaught exception, or why the interpreter ended.
    public var error: String?
    /// Output passed the sandbox's output limit and the rest was dropped.
    public var truncated: Bool
    public var exit: Exit

    /// How an execution ended.
    public struct Exit: Sendable, Equatable {
        public var reason: SandboxExitReason
        /// A command's exit status when it exited (nil for Python code and for a kill).
        public var exitCode: Int?
        /// The signal that ended it, if one did.
        public var signal: Int?
        public var durationMs: Double
        /// CPU time used, where the backend measures it.
        public var cpuMs: Double?
        /// The peak memory of the sandbox's processes, where the backend measures it.
        public var peakMemoryBytes: Int64?

        public init(
            reason: SandboxExitReason, exitCode: Int?, signal: Int?, durationMs: Double, cpuMs: Double?,
            peakMemoryBytes: Int64?
        ) {
            self.reason = reason
            self.exitCode = exitCode
            self.signal = signal
            self.durationMs = durationMs
            self.cpuMs = cpuMs
            self.peakMemoryBytes = peakMemoryBytes
        }
    }

    public init(
        stdout: String, stderr: String, value: String?, error: String?, truncated: Bool, exit: Exit
    ) {
        self.stdout = stdout
        self.stderr = stderr
        self.value = value
        self.error = error
        self.truncated = truncated
        self.exit = exit
    }

    /// It ran to its end: exited with status 0 (or, for code, without an exception).
    public var succeeded: Bool { exit.reason == .exited && (exit.exitCode ?? 0) == 0 && error == nil }
}

/// What a streamed execution yields.
public enum SandboxEvent: Sendable, Equatable {
    /// Standard output, as it was written.
    case stdout(String)
    /// Standard error, as it was written.
    case stderr(String)
    /// The execution ended: the whole answer, output included. The last event.
    case exit(SandboxExecution)
}

/// The sandbox backends and what each enforces here.
public struct SandboxCapabilities: Sendable, Equatable {
    /// The backend a create without one uses.
    public var defaultBackend: String
    /// Every backend, by name.
    public var backends: [Backend]

    /// One backend and its probe's findings.
    public struct Backend: Sendable, Equatable {
        public var name: String
        /// Whether sandboxes can be created on it at all.
        public var available: Bool
        /// Why it is not available.
        public var reason: String?
        /// What its probe saw enforced; only these may be asked for.
        public var capabilities: [SandboxCapability]
        /// Why each other capability is missing.
        public var failed: [SandboxCapability: String]

        public init(
            name: String, available: Bool, reason: String?, capabilities: [SandboxCapability],
            failed: [SandboxCapability: String]
        ) {
            self.name = name
            self.available = available
            self.reason = reason
            self.capabilities = capabilities
            self.failed = failed
        }
    }

    public init(defaultBackend: String, backends: [Backend]) {
        self.defaultBackend = defaultBackend
        self.backends = backends
    }

    /// The backend named `name`, if there is one.
    public func backend(_ name: String) -> Backend? { backends.first { $0.name == name } }
}

/// One entry of a sandbox directory.
public struct SandboxDirectoryEntry: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case file, directory, symlink, other
    }

    public var name: String
    public var kind: Kind
    public var size: Int64

    public init(name: String, kind: Kind, size: Int64) {
        self.name = name
        self.kind = kind
        self.size = size
    }
}

/// What a create asks for, as both transports take it.
struct SandboxCreateRequest: Sendable {
    var backend: String?
    var language: SandboxLanguage
    var limits: SandboxLimits
    var require: Set<SandboxCapability>
    var ttlSeconds: Int?
    var idleTTLSeconds: Int?
    var workspace: SandboxWorkspaceMount?
}

/// The sandbox operations the SDK needs; implemented over HTTP and in-process.
protocol SandboxTransport: Sendable {
    func capabilities() async throws -> SandboxCapabilities
    func create(_ request: SandboxCreateRequest) async throws -> SandboxHandle
    func get(_ id: String) async throws -> SandboxHandle
    func list() async throws -> [SandboxHandle]
    func delete(_ id: String) async throws
    func exec(_ id: String, _ command: SandboxCommand, timeoutMilliseconds: Int?) async throws -> SandboxExecution
    func stream(_ id: String, _ command: SandboxCommand, timeoutMilliseconds: Int?)
        -> AsyncThrowingStream<SandboxEvent, any Error>
    func reset(_ id: String) async throws -> SandboxHandle
    func readFile(_ id: String, path: String) async throws -> [UInt8]
    func writeFile(_ id: String, path: String, bytes: [UInt8]) async throws
    func listFiles(_ id: String, path: String) async throws -> [SandboxDirectoryEntry]
    func deleteFile(_ id: String, path: String) async throws
    func saveArtifact(_ id: String, path: String, name: String?) async throws -> Artifact
    func snapshot(_ id: String) async throws -> SandboxWorkspaceSnapshot
}

/// The refusals of the sandbox API, keyed by the `code` of its error envelope (the same codes
/// whether they come over HTTP, in a stream's `error` event, or from the service in-process).
enum SandboxRefusal {
    /// The SDK error for a refusal: `status` is the HTTP status (nil in an event stream),
    /// `body` the envelope, `subject` the sandbox id or file path it concerns.
    static func error(status: Int?, code: String?, message: String, body: JSONValue, subject: String) -> CairnError {
        switch code {
        case "not_found", "file_not_found": return .notFound(subject)
        case "capability_unavailable":
            return .capabilityUnavailable(missing: body["missing"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        case "busy": return .sandboxBusy
        case "too_many_sandboxes": return .tooManySandboxes
        case "invalid_request", "invalid_path", "unknown_backend", "backend_unavailable", "read_only", "too_large":
            // A body-validation 400 also lists its `issues`: they go into the message.
            return .invalidRequest(code: code ?? "invalid_request", message: describeIssues(message, body))
        case nil where status == 400:
            return .invalidRequest(code: "invalid_request", message: describeIssues(message, body))
        case nil where status == 404: return .notFound(subject)
        case nil where status == 413: return .invalidRequest(code: "too_large", message: message)
        default: return .server(status: status ?? 500, body: body.isNull ? message : body.jsonText)
        }
    }

    /// The message with each issue's path and message appended.
    static func describeIssues(_ message: String, _ body: JSONValue) -> String {
        let issues = (body["issues"]?.arrayValue ?? []).map { issue in
            let path = (issue["path"]?.arrayValue ?? []).map { $0.stringValue ?? $0.jsonText }.joined(separator: ".")
            return (path.isEmpty ? "" : path + ": ") + (issue["message"]?.stringValue ?? "")
        }
        return issues.isEmpty ? message : message + ": " + issues.joined(separator: "; ")
    }
}
