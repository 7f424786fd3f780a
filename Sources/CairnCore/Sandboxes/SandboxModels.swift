/// What a sandbox backend can enforce. A backend advertises a capability only after its
/// start-up probe has run the hostile payload for it and seen it contained.
public enum SandboxCapability: String, CaseIterable, Sendable, Comparable {
    case timeout
    case processIsolation = "process_isolation"
    case networkOff = "network_off"
    case filesystemIsolation = "filesystem_isolation"
    case memoryLimit = "memory_limit"
    case cpuLimit = "cpu_limit"
    case processLimit = "process_limit"
    case tempSpaceLimit = "temp_space_limit"
    case reset

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

public enum SandboxLanguage: String, CaseIterable, Sendable {
    /// A stateful Python session: variables survive between executions until reset.
    case python
    /// Commands only.
    case shell
}

/// The limits a sandbox runs under. Each set limit needs its capability from the backend.
public struct SandboxLimits: Sendable, Equatable {
    public var timeoutMilliseconds: Int?
    public var memoryBytes: Int64?
    /// CPU bandwidth in thousandths of a core.
    public var cpuMillicores: Int?
    public var processes: Int?
    public var tmpBytes: Int64?
    /// Output kept per execution (stdout and stderr together); more ends the execution.
    public var outputBytes: Int

    public static let defaultOutputBytes = 1 << 20
    public static let maxTimeoutMilliseconds = 3_600_000

    /// What each limit may be set to (the API refuses anything else).
    public static let timeoutRange = 1...maxTimeoutMilliseconds
    public static let memoryRange = (16 << 20)...(64 << 30)
    public static let cpuRange = 10...64_000
    public static let processRange = 1...4096
    public static let tmpRange = (1 << 20)...(16 << 30)
    public static let outputRange = 1024...(64 << 20)
    /// TTLs and idle TTLs, in seconds: up to 30 days.
    public static let ttlRange = 1...2_592_000

    public init(
        timeoutMilliseconds: Int? = nil, memoryBytes: Int64? = nil, cpuMillicores: Int? = nil, processes: Int? = nil,
        tmpBytes: Int64? = nil, outputBytes: Int = SandboxLimits.defaultOutputBytes
    ) {
        self.timeoutMilliseconds = timeoutMilliseconds
        self.memoryBytes = memoryBytes
        self.cpuMillicores = cpuMillicores
        self.processes = processes
        self.tmpBytes = tmpBytes
        self.outputBytes = outputBytes
    }

    /// The capabilities these limits need.
    public var required: Set<SandboxCapability> {
        var needed = Set<SandboxCapability>()
        if timeoutMilliseconds != nil { needed.insert(.timeout) }
        if memoryBytes != nil { needed.insert(.memoryLimit) }
        if cpuMillicores != nil { needed.insert(.cpuLimit) }
        if processes != nil { needed.insert(.processLimit) }
        if tmpBytes != nil { needed.insert(.tempSpaceLimit) }
        return needed
    }
}

/// Why an execution ended.
public enum SandboxExitReason: String, Sendable {
    case exited
    case timeout
    case memoryLimit = "memory_limit"
    case processLimit = "process_limit"
    case outputLimit = "output_limit"
    case killed
}

public struct SandboxExit: Sendable, Equatable {
    public var reason: SandboxExitReason
    public var exitCode: Int32?
    public var signal: Int32?
    public var durationMilliseconds: Double
    public var cpuMilliseconds: Double?
    public var peakMemoryBytes: Int64?
}

/// The answer to one execution.
public struct SandboxExecResult: Sendable {
    public var stdout: [UInt8] = []
    public var stderr: [UInt8] = []
    /// Python: `repr` of the last expression's value, when the code ends with an expression.
    public var value: String?
    /// Python: the same value as JSON, when it is JSON-serializable.
    public var valueJSON: String?
    /// Python: the traceback of an uncaught exception, or why the interpreter ended.
    public var error: String?
    /// Output went past the sandbox's output limit and the rest was dropped.
    public var truncated = false
    public var exit: SandboxExit

    public init(exit: SandboxExit) { self.exit = exit }
}

/// An execution as a sandbox remembers it: the command and the output's first bytes.
public struct SandboxExecutionRecord: Sendable {
    /// How many a sandbox keeps, and how much of each text.
    public static let kept = 10
    public static let textBytes = 4096

    /// The code, or the argv joined with spaces.
    public var command: String
    public var startedAt: Timestamp
    public var exit: SandboxExit
    public var stdout: String
    public var stderr: String
    public var value: String?
    public var error: String?
    /// Output was cut: by the sandbox's output limit or here.
    public var truncated: Bool

    init(command: SandboxCommand, startedAt: Timestamp, result: SandboxExecResult) {
        switch command {
        case .code(let code): self.command = Self.cut(Array(code.utf8)).text
        case .argv(let argv, _): self.command = Self.cut(Array(argv.joined(separator: " ").utf8)).text
        }
        self.startedAt = startedAt
        exit = result.exit
        let out = Self.cut(result.stdout), err = Self.cut(result.stderr)
        stdout = out.text
        stderr = err.text
        value = result.value.map { Self.cut(Array($0.utf8)).text }
        error = result.error.map { Self.cut(Array($0.utf8)).text }
        truncated = result.truncated || out.cut || err.cut
    }

    private static func cut(_ bytes: [UInt8]) -> (text: String, cut: Bool) {
        guard bytes.count > textBytes else { return (String(decoding: bytes, as: UTF8.self), false) }
        return (String(decoding: bytes.prefix(textBytes), as: UTF8.self), true)
    }
}

/// One piece of an execution's output, as it happens.
public enum SandboxOutput: Sendable {
    case stdout([UInt8])
    case stderr([UInt8])
}

/// What to run.
public enum SandboxCommand: Sendable {
    /// Python source, run in the sandbox's interpreter session.
    case code(String)
    /// A process in the sandbox (`argv[0]` found on the sandbox's PATH), cwd `/work`.
    case argv([String], stdin: [UInt8])
}

/// A workspace mounted at `/work`.
public struct SandboxWorkspaceMount: Sendable, Equatable {
    public var bucket: String
    /// A snapshot (version) to read; nil for the bucket's current objects.
    public var snapshot: String?
    public var writable: Bool

    public init(bucket: String, snapshot: String?, writable: Bool) {
        self.bucket = bucket
        self.snapshot = snapshot
        self.writable = writable
    }
}

/// A request to create a sandbox.
public struct SandboxSpec: Sendable {
    public var backend: String?
    public var language: SandboxLanguage
    public var limits: SandboxLimits
    /// Capabilities demanded without a number (network_off, filesystem_isolation, ...).
    public var required: Set<SandboxCapability>
    public var ttlSeconds: Int64?
    public var idleTTLSeconds: Int64?
    public var workspace: SandboxWorkspaceMount?

    public init(
        backend: String? = nil, language: SandboxLanguage = .python, limits: SandboxLimits = SandboxLimits(),
        required: Set<SandboxCapability> = [], ttlSeconds: Int64? = nil, idleTTLSeconds: Int64? = nil,
        workspace: SandboxWorkspaceMount? = nil
    ) {
        self.backend = backend
        self.language = language
        self.limits = limits
        self.required = required
        self.ttlSeconds = ttlSeconds
        self.idleTTLSeconds = idleTTLSeconds
        self.workspace = workspace
    }
}

/// A sandbox as the API shows it.
public struct SandboxInfo: Sendable {
    public var id: String
    public var tenant: TenantID
    public var backend: String
    public var language: SandboxLanguage
    public var limits: SandboxLimits
    public var capabilities: [SandboxCapability]
    public var workspace: SandboxWorkspaceMount?
    public var createdAt: Timestamp
    public var expiresAt: Timestamp?
    public var idleExpiresAt: Timestamp?
    public var status: String
    public var idleTTLSeconds: Int64?
}

public enum SandboxError: Error, Sendable, Equatable {
    case notFound
    case unknownBackend(String, available: [String])
    case backendUnavailable(String, reason: String)
    case capabilitiesMissing([SandboxCapability], backend: String)
    case invalid(String)
    case invalidPath(String)
    case fileNotFound(String)
    case tooMany(limit: Int)
    case busy
    case notWritable
    case setupFailed(String)
    /// The workspace could not be read or written (an S3 refusal: status and message).
    case workspace(status: Int, code: String, message: String)
}

extension JSONWriter {
    /// The limits as the sandbox API writes them (`timeout_ms`, `memory_bytes`, ...): the set
    /// ones and `output_bytes`.
    public mutating func sandboxLimits(_ key: String, _ limits: SandboxLimits) {
        object(key) { w in
            if let v = limits.timeoutMilliseconds { w.field("timeout_ms", v) }
            if let v = limits.memoryBytes { w.field("memory_bytes", Int(v)) }
            if let v = limits.cpuMillicores { w.field("cpu_millicores", v) }
            if let v = limits.processes { w.field("processes", v) }
            if let v = limits.tmpBytes { w.field("tmp_bytes", Int(v)) }
            w.field("output_bytes", limits.outputBytes)
        }
    }
}
