import ArgumentParser
import Cairn
import CairnCore
import Foundation

/// `cairn sandbox`: run programs in a server's sandboxes, through the SDK.
struct SandboxesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run code in isolated sandboxes on a Cairn server, with enforced limits.",
        discussion: """
            `cairn sandbox run -- python3 script.py` creates a sandbox, uploads --file's into /work, runs the \
            command with its output streamed here, deletes the sandbox and exits with the program's status \
            (124 when it timed out, 137 when a limit killed it). A limit the backend cannot enforce is \
            refused, never ignored: `cairn sandbox capabilities` shows what each backend enforces here.
            """,
        subcommands: [Run.self, Exec.self, Create.self, List.self, Remove.self, Capabilities.self])

    /// What a new sandbox is asked for.
    struct SandboxOptions: ParsableArguments {
        @Option(help: "linux or process (default: the server's).") var backend: String?
        @Option(help: "Memory limit in bytes (K, M and G suffixes: powers of 1024).") var memory: ByteCount?
        @Option(name: .customLong("timeout-ms"), help: "Wall-clock limit of each execution, in milliseconds.")
        var timeoutMs: Int?
        @Option(name: .customLong("cpu-millicores"), help: "CPU bandwidth in thousandths of a core (1000: one core).")
        var cpuMillicores: Int?
        @Option(help: "Most processes alive at once.") var processes: Int?
        @Option(name: .customLong("tmp-bytes"), help: "Size of the sandbox's /tmp (K, M, G suffixes).") var tmpBytes:
            ByteCount?
        @Option(name: .customLong("output-bytes"), help: "Output kept per execution (K, M, G suffixes).")
        var outputBytes: ByteCount?
        @Option(
            name: .customLong("require"),
            help: "A capability demanded without a number (network_off, filesystem_isolation, ...); repeat for several."
        )
        var require: [String] = []

        var limits: SandboxLimits {
            var limits = SandboxLimits(
                timeoutMilliseconds: timeoutMs, memoryBytes: memory?.bytes, cpuMillicores: cpuMillicores,
                processes: processes, tmpBytes: tmpBytes?.bytes)
            if let outputBytes { limits.outputBytes = Int(outputBytes.bytes) }
            return limits
        }

        func capabilities() throws -> Set<SandboxCapability> {
            Set(
                try require.map { name in
                    guard let capability = SandboxCapability(rawValue: name) else {
                        throw ValidationError(
                            "unknown capability \(name); use "
                                + SandboxCapability.allCases.map(\.rawValue).joined(separator: ", "))
                    }
                    return capability
                })
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one command in a new sandbox, streaming its output, then delete the sandbox.",
            discussion: """
                Example: cairn sandbox run --memory 256M --timeout-ms 10000 --file script.py -- python3 script.py
                The exit summary goes to standard error; the exit status is the program's.
                """)
        @OptionGroup var server: ServerOptions
        @OptionGroup var sandbox: SandboxOptions
        @Option(
            name: .customLong("file"),
            help: "LOCAL[:REMOTE]: upload a local file into /work (as REMOTE, else its own name); repeat for several.")
        var files: [String] = []
        @Option(name: .customLong("stdin"), help: "Text given to the command as its standard input; - reads ours.")
        var stdin: String?
        @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.") var command: [String] =
            []

        func validate() throws {
            if command.isEmpty { throw ValidationError("give the command to run after --, e.g. -- python3 script.py") }
        }

        func run() async throws {
            // Everything local is read before a sandbox exists.
            let uploads = try files.map(Upload.init)
            let input = try stdin.map(readInput)
            let sandboxes = server.cairn.sandboxes
            let required = try sandbox.capabilities()
            let status = try await server.calling {
                // An idle TTL removes the sandbox should this process die before deleting it.
                let created = try await sandboxes.create(
                    backend: sandbox.backend, limits: sandbox.limits, require: required, idleTTLSeconds: 600)
                let result: SandboxExecution
                do {
                    for upload in uploads {
                        try await sandboxes.writeFile(created.id, path: upload.remote, bytes: upload.bytes)
                    }
                    result = try await SandboxesCommand.streamOutput(
                        sandboxes.stream(created.id, command: command, stdin: input))
                } catch {
                    try? await sandboxes.delete(created.id)
                    throw error
                }
                FileHandle.standardError.write(Data((SandboxesCommand.summary(result) + "\n").utf8))
                try await sandboxes.delete(created.id)
                return SandboxesCommand.exitStatus(result)
            }
            if status != 0 { throw ExitCode(status) }
        }
    }

    struct Exec: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run Python code (--code) or a command (after --) in an existing sandbox.",
            discussion: """
                Output is streamed as it is written. For code, the value of a last expression is printed \
                to standard output and a traceback to standard error (exit status 1).
                """)
        @OptionGroup var server: ServerOptions
        @Argument(help: "The sandbox's id.") var id: String
        @Option(help: "Python source run in the sandbox's interpreter session (variables persist).") var code: String?
        @Option(name: .customLong("timeout-ms"), help: "A shorter timeout for this execution.") var timeoutMs: Int?
        @Option(name: .customLong("stdin"), help: "Text given to the command as its standard input; - reads ours.")
        var stdin: String?
        @Flag(help: "Print the exit summary on standard error.") var summary = false
        @Argument(parsing: .postTerminator, help: "A command and its arguments, after --.") var command: [String] = []

        func validate() throws {
            guard (code == nil) != command.isEmpty else {
                throw ValidationError("give --code or a command after --, not both")
            }
            if code != nil && stdin != nil { throw ValidationError("--stdin goes with a command, not with --code") }
        }

        func run() async throws {
            let sandboxes = server.cairn.sandboxes
            let events =
                if let code {
                    sandboxes.stream(id, code: code, timeoutMilliseconds: timeoutMs)
                } else {
                    sandboxes.stream(
                        id, command: command, stdin: try stdin.map(readInput), timeoutMilliseconds: timeoutMs)
                }
            let result = try await server.calling { try await SandboxesCommand.streamOutput(events) }
            if let value = result.value { print(value) }
            if let error = result.error { FileHandle.standardError.write(Data(error.utf8)) }
            if summary { FileHandle.standardError.write(Data((SandboxesCommand.summary(result) + "\n").utf8)) }
            let status = SandboxesCommand.exitStatus(result)
            if status != 0 { throw ExitCode(status) }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a sandbox; prints its id (or its record with --json).")
        @OptionGroup var server: ServerOptions
        @OptionGroup var sandbox: SandboxOptions
        @Option(help: "python (a stateful interpreter session, and commands) or shell (commands only).")
        var language = "python"
        @Option(help: "Seconds until the sandbox is removed.") var ttl: Int?
        @Option(name: .customLong("idle-ttl"), help: "Seconds without use after which it is removed.") var idleTTL: Int?
        @Flag(help: "Print the sandbox's record as JSON.") var json = false

        func run() async throws {
            guard let language = SandboxLanguage(rawValue: language) else {
                throw ValidationError("unknown language \(language); use python or shell")
            }
            let sandboxes = server.cairn.sandboxes
            let created = try await server.calling {
                try await sandboxes.create(
                    backend: sandbox.backend, language: language, limits: sandbox.limits,
                    require: try sandbox.capabilities(), ttlSeconds: ttl, idleTTLSeconds: idleTTL)
            }
            print(json ? sandboxJSON(created) : created.id)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List sandboxes, oldest first.")
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print JSON lines, one record each.") var json = false

        func run() async throws {
            let sandboxes = server.cairn.sandboxes
            let all = try await server.calling { try await sandboxes.list() }
            if json {
                for sandbox in all { print(sandboxJSON(sandbox)) }
                return
            }
            guard !all.isEmpty else {
                FileHandle.standardError.write(Data("no sandboxes\n".utf8))
                return
            }
            printTable(
                [["ID", "BACKEND", "LANGUAGE", "STATUS", "CREATED", "EXPIRES"]]
                    + all.map { s in
                        [
                            s.id, s.backend, s.language.rawValue, s.status, s.createdAt.iso8601,
                            s.expiresAt?.iso8601 ?? "-",
                        ]
                    })
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Delete sandboxes: their processes are killed, their files removed.")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The sandboxes' ids.") var ids: [String]

        func run() async throws {
            let sandboxes = server.cairn.sandboxes
            for id in ids {
                try await server.calling { try await sandboxes.delete(id) }
                print("deleted \(id)")
            }
        }
    }

    struct Capabilities: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What each sandbox backend enforces on the server's machine (what its probe proved).")
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let sandboxes = server.cairn.sandboxes
            let found = try await server.calling { try await sandboxes.capabilities() }
            printTable(
                [["BACKEND", "AVAILABLE", "CAPABILITIES"]]
                    + found.backends.map { b in
                        [
                            b.name + (b.name == found.defaultBackend ? " (default)" : ""),
                            b.available ? "yes" : "no: " + (b.reason ?? "unavailable"),
                            b.capabilities.isEmpty ? "-" : b.capabilities.map(\.rawValue).joined(separator: ","),
                        ]
                    })
            for backend in found.backends where backend.available && !backend.failed.isEmpty {
                print("\n\(backend.name) lacks:")
                for (capability, why) in backend.failed.sorted(by: { $0.key < $1.key }) {
                    print("  \(capability.rawValue): \(why)")
                }
            }
        }
    }

    // MARK: Output

    /// Writes output events to standard output and standard error as they come; returns the
    /// execution's whole answer.
    static func streamOutput(_ events: AsyncThrowingStream<SandboxEvent, any Error>) async throws -> SandboxExecution {
        for try await event in events {
            switch event {
            case .stdout(let text): FileHandle.standardOutput.write(Data(text.utf8))
            case .stderr(let text): FileHandle.standardError.write(Data(text.utf8))
            case .exit(let result): return result
            }
        }
        throw CLIError("the execution's output ended without its exit")
    }

    /// The shell's conventions: the program's status; 124 for a timeout (as timeout(1));
    /// 128 + the signal for a kill, 137 (SIGKILL) when a limit killed it.
    static func exitStatus(_ result: SandboxExecution) -> Int32 {
        let exit = result.exit
        switch exit.reason {
        case .exited:
            if let code = exit.exitCode { return Int32(truncatingIfNeeded: code) }
            return result.error == nil ? 0 : 1
        case .timeout: return 124
        case .memoryLimit, .processLimit, .outputLimit: return 137
        case .killed: return 128 + Int32(truncatingIfNeeded: exit.signal ?? 9)
        }
    }

    /// One line: how it ended, how long it took, what it used.
    static func summary(_ result: SandboxExecution) -> String {
        let exit = result.exit
        var line: String
        switch exit.reason {
        case .exited: line = "exited with status \(exit.exitCode ?? (result.error == nil ? 0 : 1))"
        case .timeout: line = "timed out"
        case .memoryLimit: line = "killed: memory limit"
        case .processLimit: line = "killed: process limit"
        case .outputLimit: line = "killed: output limit"
        case .killed: line = "killed" + (exit.signal.map { " by signal \($0)" } ?? "")
        }
        var figures = [milliseconds(exit.durationMs)]
        if let cpu = exit.cpuMs { figures.append("cpu " + milliseconds(cpu)) }
        if let peak = exit.peakMemoryBytes { figures.append(String(format: "peak %.1f MiB", Double(peak) / 1_048_576)) }
        line += " (" + figures.joined(separator: ", ") + ")"
        if result.truncated { line += "; output truncated" }
        return "cairn sandbox: " + line
    }

    static func milliseconds(_ ms: Double) -> String {
        ms < 10 ? String(format: "%.1f ms", ms) : "\(Int(ms.rounded())) ms"
    }
}

/// `--file LOCAL[:REMOTE]`: a local file read whole, and where it goes beneath /work.
struct Upload {
    let remote: String
    let bytes: [UInt8]

    init(_ spec: String) throws {
        var local = spec
        var remote: String?
        if let colon = spec.lastIndex(of: ":"), colon != spec.startIndex {
            local = String(spec[..<colon])
            remote = String(spec[spec.index(after: colon)...])
        }
        var target = remote.flatMap { $0.isEmpty ? nil : $0 } ?? LocalPath.lastComponent(local)
        for prefix in ["/work/", "./"] where target.hasPrefix(prefix) { target.removeFirst(prefix.count) }
        guard !target.isEmpty, !target.hasPrefix("/") else {
            throw ValidationError("--file \(spec): the remote path must be beneath /work")
        }
        guard let data = FileManager.default.contents(atPath: local) else {
            throw ValidationError("--file \(spec): cannot read \(local)")
        }
        self.remote = target
        bytes = Array(data)
    }
}

/// `--stdin`: the text itself, or `-` for this process's standard input.
func readInput(_ option: String) throws -> String {
    guard option == "-" else { return option }
    return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
}

/// A byte count: digits with an optional K, M or G suffix (powers of 1024).
struct ByteCount: ExpressibleByArgument {
    let bytes: Int64

    init?(argument: String) {
        let text = argument.uppercased().replacingOccurrences(of: "IB", with: "").replacingOccurrences(
            of: "B", with: "")
        let shifts: [Character: Int64] = ["K": 10, "M": 20, "G": 30]
        if let last = text.last, let shift = shifts[last] {
            guard let number = Int64(text.dropLast()), number >= 0, number <= Int64.max >> shift else { return nil }
            bytes = number << shift
        } else {
            guard let number = Int64(text) else { return nil }
            bytes = number
        }
    }
}

extension ServerOptions {
    /// The SDK's client of this server.
    var cairn: Cairn { Cairn.http(url: resolvedURL, apiKey: resolvedAPIKey) }

    /// Runs SDK calls; a server that cannot be reached is said so, as the other client
    /// commands say it. The SDK's typed errors pass through (`CairnCommand.readable` words them).
    func calling<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as CairnError {
            throw error
        } catch let error as ValidationError {
            throw error
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError(
                "cannot reach \(resolvedURL): \(APIClient.describe(error)) (is `cairn serve` running there? --url or CAIRN_URL picks the server)"
            )
        }
    }
}

/// A sandbox's record as JSON, as the server shows it.
func sandboxJSON(_ s: SandboxHandle) -> String {
    var limits: [(String, JSONValue)] = []
    if let v = s.limits.timeoutMilliseconds { limits.append(("timeout_ms", .int(v))) }
    if let v = s.limits.memoryBytes { limits.append(("memory_bytes", .int(Int(v)))) }
    if let v = s.limits.cpuMillicores { limits.append(("cpu_millicores", .int(v))) }
    if let v = s.limits.processes { limits.append(("processes", .int(v))) }
    if let v = s.limits.tmpBytes { limits.append(("tmp_bytes", .int(Int(v)))) }
    limits.append(("output_bytes", .int(s.limits.outputBytes)))
    return JSONValue.object(
        JSONObject([
            ("id", .string(s.id)), ("backend", .string(s.backend)), ("language", .string(s.language.rawValue)),
            ("status", .string(s.status)), ("limits", .object(JSONObject(limits))),
            ("capabilities", .array(s.capabilities.map { .string($0.rawValue) })),
            ("created_at", .string(s.createdAt.iso8601)),
            ("expires_at", s.expiresAt.map { .string($0.iso8601) } ?? .null),
            ("idle_expires_at", s.idleExpiresAt.map { .string($0.iso8601) } ?? .null),
        ])
    ).jsonText
}
