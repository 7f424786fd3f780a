import AsyncHTTPClient
import CairnCore
import NIOCore
import NIOHTTP1

/// Sandboxes over HTTP: the server's `/sandboxes` routes, with its flat error envelope
/// `{"error": "...", "code": "..."}`. Requests are sent once: a 429 here means the server
/// holds as many sandboxes as it allows, not a rate limit to wait out.
struct HTTPSandboxTransport: SandboxTransport {
    let http: HTTPTransport

    private static func path(_ id: String) -> String { "/sandboxes/" + HTTPTransport.path(id) }

    private static func filePath(_ id: String, _ path: String) -> String {
        Self.path(id) + "/files?path=" + HTTPTransport.queryValue(path)
    }

    private func request(_ method: HTTPMethod, _ path: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: http.baseURL + path)
        request.method = method
        if let apiKey = http.apiKey { request.headers.add(name: "authorization", value: "Bearer \(apiKey)") }
        return request
    }

    private static func jsonBody(_ request: inout HTTPClientRequest, _ body: RawJSON) {
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
    }

    /// How long an execution may keep the request open: its timeout (else the longest a
    /// sandbox allows) plus the client's own.
    private func execTimeout(_ milliseconds: Int?) -> TimeAmount {
        .milliseconds(Int64(milliseconds ?? SandboxLimits.maxTimeoutMilliseconds)) + http.timeout
    }

    /// Sends a request and reads the whole answer; a refusal becomes the SDK's error about
    /// `subject` (the sandbox id or the file path).
    private func send(_ request: HTTPClientRequest, subject: String, timeout: TimeAmount? = nil) async throws
        -> (headers: HTTPHeaders, body: ByteBuffer)
    {
        let response = try await HTTPTransport.client.execute(request, timeout: timeout ?? http.timeout)
        let body = try await response.body.collect(upTo: SandboxLimitsOnTheWire.maxAnswerBytes)
        guard (200..<300).contains(response.status.code) else {
            throw Self.refusal(status: Int(response.status.code), body: body, subject: subject)
        }
        return (response.headers, body)
    }

    private func json(_ request: HTTPClientRequest, subject: String, timeout: TimeAmount? = nil) async throws
        -> JSONValue
    {
        let body = try await send(request, subject: subject, timeout: timeout).body
        do {
            return try JSONParser.parse(bytes: Array(body.readableBytesView))
        } catch {
            throw CairnError.encoding("the server's answer is not JSON: \(String(buffer: body).prefix(200))")
        }
    }

    static func refusal(status: Int, body: ByteBuffer, subject: String) -> CairnError {
        let text = String(buffer: body)
        let parsed = (try? JSONParser.parse(text)) ?? .null
        return SandboxRefusal.error(
            status: status, code: parsed["code"]?.stringValue, message: parsed["error"]?.stringValue ?? text,
            body: parsed.isNull ? .string(text) : parsed, subject: subject)
    }

    // MARK: Lifecycle

    func capabilities() async throws -> SandboxCapabilities {
        let reply = try await json(request(.GET, "/sandboxes/capabilities"), subject: "capabilities")
        let backends = try (reply["backends"]?.arrayValue ?? []).map { item in
            let o = try WireObject(item)
            var failed: [SandboxCapability: String] = [:]
            for (name, why) in item["failed"]?.objectValue?.pairs.map({ ($0, $1) }) ?? [] {
                if let capability = SandboxCapability(rawValue: name) { failed[capability] = why.stringValue ?? "" }
            }
            return SandboxCapabilities.Backend(
                name: try o.string("name"), available: item["available"]?.boolValue ?? false,
                reason: o.optionalString("reason"), capabilities: Self.capabilities(item["capabilities"]),
                failed: failed)
        }
        return SandboxCapabilities(defaultBackend: reply["default"]?.stringValue ?? "", backends: backends)
    }

    func create(_ r: SandboxCreateRequest) async throws -> SandboxHandle {
        let body = jsonObject { w in
            if let backend = r.backend { w.field("backend", backend) }
            w.field("language", r.language.rawValue)
            w.sandboxLimits("limits", r.limits)
            if !r.require.isEmpty {
                w.key("require")
                w.stringArray(r.require.sorted().map(\.rawValue))
            }
            if let v = r.ttlSeconds { w.field("ttl_seconds", v) }
            if let v = r.idleTTLSeconds { w.field("idle_ttl_seconds", v) }
            if let mount = r.workspace {
                w.object("workspace") { w in
                    w.field("bucket", mount.bucket)
                    if let snapshot = mount.snapshot { w.field("snapshot", snapshot) }
                    w.field("mode", mount.writable ? "rw" : "ro")
                }
            }
        }
        var request = self.request(.POST, "/sandboxes")
        Self.jsonBody(&request, body)
        return try SandboxHandle(wire: try await json(request, subject: "sandbox"))
    }

    func get(_ id: String) async throws -> SandboxHandle {
        try SandboxHandle(wire: try await json(request(.GET, Self.path(id)), subject: id))
    }

    func list() async throws -> [SandboxHandle] {
        let reply = try await json(request(.GET, "/sandboxes"), subject: "sandboxes")
        return try (reply["sandboxes"]?.arrayValue ?? []).map { try SandboxHandle(wire: $0) }
    }

    func delete(_ id: String) async throws {
        _ = try await send(request(.DELETE, Self.path(id)), subject: id)
    }

    func reset(_ id: String) async throws -> SandboxHandle {
        try SandboxHandle(wire: try await json(request(.POST, Self.path(id) + "/reset"), subject: id))
    }

    // MARK: Execute

    private func execRequest(_ id: String, _ command: SandboxCommand, timeoutMilliseconds: Int?, stream: Bool)
        -> HTTPClientRequest
    {
        let body = jsonObject { w in
            switch command {
            case .code(let code): w.field("code", code)
            case .argv(let argv, let stdin):
                w.key("command")
                w.stringArray(argv)
                if !stdin.isEmpty { w.field("stdin", String(decoding: stdin, as: UTF8.self)) }
            }
            if let timeoutMilliseconds { w.field("timeout_ms", timeoutMilliseconds) }
        }
        var request = self.request(.POST, Self.path(id) + "/exec")
        Self.jsonBody(&request, body)
        if stream { request.headers.add(name: "accept", value: "text/event-stream") }
        return request
    }

    func exec(_ id: String, _ command: SandboxCommand, timeoutMilliseconds: Int?) async throws -> SandboxExecution {
        let request = execRequest(id, command, timeoutMilliseconds: timeoutMilliseconds, stream: false)
        return try SandboxExecution(
            wire: try await json(request, subject: id, timeout: execTimeout(timeoutMilliseconds)))
    }

    func stream(_ id: String, _ command: SandboxCommand, timeoutMilliseconds: Int?)
        -> AsyncThrowingStream<SandboxEvent, any Error>
    {
        let (stream, continuation) = AsyncThrowingStream<SandboxEvent, any Error>.makeStream()
        let request = execRequest(id, command, timeoutMilliseconds: timeoutMilliseconds, stream: true)
        let timeout = execTimeout(timeoutMilliseconds)
        let task = Task {
            do {
                let response = try await HTTPTransport.client.execute(request, timeout: timeout)
                guard response.status == .ok else {
                    let body = try await response.body.collect(upTo: SandboxLimitsOnTheWire.maxAnswerBytes)
                    throw Self.refusal(status: Int(response.status.code), body: body, subject: id)
                }
                var parser = ServerSentEventParser()
                var ended = false
                reading: for try await chunk in response.body {
                    for event in try parser.feed(chunk.readableBytesView) {
                        let data = try JSONParser.parse(event.data)
                        switch event.event {
                        case "stdout": continuation.yield(.stdout(data["data"]?.stringValue ?? ""))
                        case "stderr": continuation.yield(.stderr(data["data"]?.stringValue ?? ""))
                        case "exit":
                            continuation.yield(.exit(try SandboxExecution(wire: data)))
                            ended = true
                            break reading
                        case "error":
                            throw SandboxRefusal.error(
                                status: nil, code: data["code"]?.stringValue,
                                message: data["error"]?.stringValue ?? event.data, body: data, subject: id)
                        default: continue
                        }
                    }
                }
                guard ended else {
                    throw CairnError.server(
                        status: 502, body: "the execution's event stream ended before its exit event")
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    // MARK: Files

    func readFile(_ id: String, path: String) async throws -> [UInt8] {
        let (headers, body) = try await send(request(.GET, Self.filePath(id, path)), subject: path)
        // A directory answers with its listing.
        if headers.first(name: "content-type")?.hasPrefix("application/json") == true {
            throw CairnError.invalidRequest(code: "not_a_file", message: "\(path) is a directory")
        }
        return Array(body.readableBytesView)
    }

    func writeFile(_ id: String, path: String, bytes: [UInt8]) async throws {
        var request = self.request(.PUT, Self.filePath(id, path))
        request.headers.add(name: "content-type", value: "application/octet-stream")
        request.body = .bytes(ByteBuffer(bytes: bytes))
        _ = try await send(request, subject: path)
    }

    func listFiles(_ id: String, path: String) async throws -> [SandboxDirectoryEntry] {
        let (headers, body) = try await send(request(.GET, Self.filePath(id, path)), subject: path)
        guard headers.first(name: "content-type")?.hasPrefix("application/json") == true else {
            throw CairnError.invalidRequest(code: "not_a_directory", message: "\(path) is a file")
        }
        let reply = try JSONParser.parse(bytes: Array(body.readableBytesView))
        return (reply["entries"]?.arrayValue ?? []).map { entry in
            SandboxDirectoryEntry(
                name: entry["name"]?.stringValue ?? "",
                kind: SandboxDirectoryEntry.Kind(rawValue: entry["type"]?.stringValue ?? "") ?? .other,
                size: Int64(entry["size"]?.intValue ?? 0))
        }
    }

    func deleteFile(_ id: String, path: String) async throws {
        _ = try await send(request(.DELETE, Self.filePath(id, path)), subject: path)
    }

    func saveArtifact(_ id: String, path: String, name: String?) async throws -> Artifact {
        var request = self.request(.POST, Self.path(id) + "/artifacts")
        Self.jsonBody(
            &request,
            jsonObject { w in
                w.field("path", path)
                if let name { w.field("name", name) }
            })
        // The file is copied into the artifact store before the answer: no short deadline.
        let reply = try await json(request, subject: path, timeout: .seconds(3_600))
        return try HTTPArtifactTransport.artifact(reply["artifact"])
    }

    func snapshot(_ id: String) async throws -> SandboxWorkspaceSnapshot {
        let reply = try await json(request(.POST, Self.path(id) + "/snapshot"), subject: id, timeout: .seconds(3_600))
        let o = try WireObject(reply)
        return SandboxWorkspaceSnapshot(bucket: try o.string("bucket"), version: try o.string("snapshot"))
    }

    static func capabilities(_ value: JSONValue?) -> [SandboxCapability] {
        (value?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(SandboxCapability.init(rawValue:)) }
    }
}

/// Bounds on what the SDK reads back.
enum SandboxLimitsOnTheWire {
    /// A whole answer: a file (at most 64 MiB) or an execution's output (its output limit,
    /// at most 64 MiB, escaped as JSON) with room to spare.
    static let maxAnswerBytes = 200 << 20
}

extension SandboxHandle {
    init(wire value: JSONValue?) throws {
        let o = try WireObject(value)
        let l = value?["limits"]
        var limits = SandboxLimits(
            timeoutMilliseconds: l?["timeout_ms"]?.intValue,
            memoryBytes: l?["memory_bytes"]?.intValue.map(Int64.init), cpuMillicores: l?["cpu_millicores"]?.intValue,
            processes: l?["processes"]?.intValue, tmpBytes: l?["tmp_bytes"]?.intValue.map(Int64.init))
        if let output = l?["output_bytes"]?.intValue { limits.outputBytes = output }
        self.init(
            id: try o.string("id"), backend: try o.string("backend"),
            language: SandboxLanguage(rawValue: try o.string("language")) ?? .python,
            status: o.optionalString("status") ?? "ready", limits: limits,
            capabilities: HTTPSandboxTransport.capabilities(value?["capabilities"]),
            workspace: try value?["workspace"].flatMap { w in
                guard !w.isNull else { return nil }
                let m = try WireObject(w)
                return SandboxWorkspaceMount(
                    bucket: try m.string("bucket"), snapshot: m.optionalString("snapshot"),
                    writable: m.optionalString("mode") != "ro")
            },
            createdAt: o.requiredTimestamp("created_at"), expiresAt: o.timestamp("expires_at"),
            idleExpiresAt: o.timestamp("idle_expires_at"))
    }
}

extension SandboxExecution {
    init(wire value: JSONValue?) throws {
        let o = try WireObject(value)
        let e = try WireObject(value?["exit"])
        let reason = try e.string("reason")
        guard let known = SandboxExitReason(rawValue: reason) else {
            throw CairnError.encoding("unknown exit reason \(reason)")
        }
        self.init(
            stdout: o.optionalString("stdout") ?? "", stderr: o.optionalString("stderr") ?? "",
            value: o.optionalString("value"), error: o.optionalString("error"),
            truncated: value?["truncated"]?.boolValue ?? false,
            exit: Exit(
                reason: known, exitCode: e.optionalInt("exit_code"), signal: e.optionalInt("signal"),
                durationMs: e.optionalDouble("duration_ms") ?? 0, cpuMs: e.optionalDouble("cpu_ms"),
                peakMemoryBytes: e.optionalInt("peak_memory_bytes").map(Int64.init)))
    }
}
