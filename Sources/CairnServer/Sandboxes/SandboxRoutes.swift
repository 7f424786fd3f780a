import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Cairn's sandbox API (docs/api/sandboxes.md): capabilities, create, list, get, delete,
/// execute (JSON or server-sent events), reset, files, save a file as an artifact. Everything
/// is scoped to the caller's tenant: another tenant's sandbox is unknown (404).
struct SandboxRoutes<Context: PrincipalContext>: Sendable {
    let sandboxes: SandboxService
    let artifacts: ArtifactService
    /// Source code (or a command with its stdin) in one execute request.
    static var maxCodeBytes: Int { 1 << 20 }

    func register(on router: Router<Context>) {
        let group = router.group("/sandboxes").add(middleware: TidebaseErrorMiddleware<Context>())
        group.get("capabilities", use: capabilities)
        group.post(use: create)
        group.get(use: list)
        group.get(":sandboxId", use: get)
        group.delete(":sandboxId", use: delete)
        group.post(":sandboxId/exec", use: exec)
        group.post(":sandboxId/reset", use: reset)
        group.get(":sandboxId/files", use: readFile)
        group.put(":sandboxId/files", use: writeFile)
        group.delete(":sandboxId/files", use: deleteFile)
        group.post(":sandboxId/artifacts", use: saveArtifact)
        group.post(":sandboxId/snapshot", use: snapshot)
    }

    /// Writes /work back into the mounted workspace and snapshots it.
    @Sendable func snapshot(_ request: Request, context: Context) async throws -> Response {
        let (bucket, version) = try await sandboxes.snapshot(
            try request.pathParameter("sandboxId", context), tenant: context.principal.tenant)
        return JSONResponse.object(.created) { w in
            w.field("bucket", bucket)
            w.field("snapshot", version)
        }
    }

    /// The JSON body; a malformed one is refused with the API's `invalid_request` code.
    static func body(_ request: inout Request, limit: Int, allowEmpty: Bool = false) async throws -> BodyReader {
        do {
            return try await BodyReader.read(&request, limit: limit, allowEmpty: allowEmpty)
        } catch let error as APIError where !error.issues.isEmpty {
            throw APIError.invalidBody(error.issues, code: "invalid_request")
        }
    }

    // MARK: Capabilities and lifecycle

    @Sendable func capabilities(_ request: Request, context: Context) async throws -> Response {
        let reports = await sandboxes.capabilities()
        let fallback = await sandboxes.defaultBackend()
        return JSONResponse.object { w in
            w.field("default", fallback)
            w.array("backends", reports) { w, report in
                w.beginObjectValue()
                w.field("name", report.name)
                w.field("available", report.available)
                if let reason = report.unavailableReason { w.field("reason", reason) }
                w.key("capabilities")
                w.stringArray(report.capabilities.sorted().map(\.rawValue))
                w.object("failed") { w in
                    for (capability, why) in report.failed.sorted(by: { $0.key < $1.key }) {
                        w.field(capability.rawValue, why)
                    }
                }
                w.endObject()
            }
        }
    }

    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        var request = request
        var body = try await Self.body(&request, limit: 64 * 1024, allowEmpty: true)
        let spec = try Self.spec(&body)
        let info = try await sandboxes.create(spec, tenant: context.principal.tenant)
        var response = JSONResponse.object(.created) { $0.sandbox(info) }
        response.headers[.location] = "/sandboxes/\(info.id)"
        return response
    }

    /// The create request's fields, every problem collected into one 400.
    static func spec(_ body: inout BodyReader) throws -> SandboxSpec {
        body.rejectUnknownFields(allowed: [
            "backend", "language", "limits", "require", "ttl_seconds", "idle_ttl_seconds", "workspace",
        ])
        var spec = SandboxSpec()
        if let backend = body.string("backend", minLength: 1, maxLength: 64) {
            if ["linux", "process"].contains(backend) {
                spec.backend = backend
            } else {
                body.fail("backend", "unknown backend; use linux or process")
            }
        }
        if let language = body.string("language", minLength: 1, maxLength: 64) {
            if let known = SandboxLanguage(rawValue: language) {
                spec.language = known
            } else {
                body.fail("language", "unknown language; use python or shell")
            }
        }
        spec.ttlSeconds = body.int("ttl_seconds", in: SandboxLimits.ttlRange).map(Int64.init)
        spec.idleTTLSeconds = body.int("idle_ttl_seconds", in: SandboxLimits.ttlRange).map(Int64.init)
        if let value = body.object["require"], !value.isNull {
            if let names = value.arrayValue, names.count <= 32 {
                for name in names {
                    if let text = name.stringValue, let capability = SandboxCapability(rawValue: text) {
                        spec.required.insert(capability)
                    } else {
                        body.fail(
                            "require",
                            "unknown capability; use "
                                + SandboxCapability.allCases.map(\.rawValue).joined(separator: ", "))
                        break
                    }
                }
            } else {
                body.fail("require", "expected an array of at most 32 capability names")
            }
        }
        if let value = body.object["limits"], !value.isNull {
            if let object = value.objectValue {
                var limits = BodyReader(object: object)
                limits.rejectUnknownFields(allowed: [
                    "timeout_ms", "memory_bytes", "cpu_millicores", "processes", "tmp_bytes", "output_bytes",
                ])
                spec.limits.timeoutMilliseconds = limits.int("timeout_ms", in: SandboxLimits.timeoutRange)
                spec.limits.memoryBytes = limits.int("memory_bytes", in: SandboxLimits.memoryRange).map(Int64.init)
                spec.limits.cpuMillicores = limits.int("cpu_millicores", in: SandboxLimits.cpuRange)
                spec.limits.processes = limits.int("processes", in: SandboxLimits.processRange)
                spec.limits.tmpBytes = limits.int("tmp_bytes", in: SandboxLimits.tmpRange).map(Int64.init)
                spec.limits.outputBytes =
                    limits.int("output_bytes", in: SandboxLimits.outputRange) ?? SandboxLimits.defaultOutputBytes
                body.adopt(limits, under: "limits")
            } else {
                body.fail("limits", "expected an object")
            }
        }
        if let value = body.object["workspace"], !value.isNull {
            if let object = value.objectValue {
                var workspace = BodyReader(object: object)
                workspace.rejectUnknownFields(allowed: ["bucket", "snapshot", "mode"])
                let bucket = workspace.requiredString("bucket", minLength: 3, maxLength: 63)
                let snapshot = workspace.string("snapshot", minLength: 1, maxLength: 128)
                let mode = workspace.string("mode") ?? "rw"
                if !["ro", "rw"].contains(mode) { workspace.fail("mode", "use ro or rw") }
                if snapshot != nil && mode == "rw" {
                    workspace.fail("mode", "a snapshot is read-only: mount it with mode ro")
                }
                body.adopt(workspace, under: "workspace")
                spec.workspace = SandboxWorkspaceMount(bucket: bucket, snapshot: snapshot, writable: mode == "rw")
            } else {
                body.fail("workspace", "expected an object")
            }
        }
        try body.validate(code: "invalid_request")
        return spec
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let all = await sandboxes.list(tenant: context.principal.tenant)
        return JSONResponse.object(capacity: 512 * (all.count + 1)) { w in
            w.array("sandboxes", all) { w, info in
                w.beginObjectValue()
                w.sandboxFields(info)
                w.endObject()
            }
        }
    }

    @Sendable func get(_ request: Request, context: Context) async throws -> Response {
        let sandbox = try sandboxes.sandbox(
            try request.pathParameter("sandboxId", context), tenant: context.principal.tenant)
        let info = await sandbox.info
        return JSONResponse.object { $0.sandbox(info) }
    }

    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        try await sandboxes.delete(try request.pathParameter("sandboxId", context), tenant: context.principal.tenant)
        return Response(status: .noContent)
    }

    @Sendable func reset(_ request: Request, context: Context) async throws -> Response {
        let info = try await sandboxes.reset(
            try request.pathParameter("sandboxId", context), tenant: context.principal.tenant)
        return JSONResponse.object { $0.sandbox(info) }
    }

    // MARK: Execute

    @Sendable func exec(_ request: Request, context: Context) async throws -> Response {
        let id = try request.pathParameter("sandboxId", context)
        let tenant = context.principal.tenant
        _ = try sandboxes.sandbox(id, tenant: tenant)
        var request = request
        var body = try await Self.body(&request, limit: Self.maxCodeBytes + 64 * 1024)
        body.rejectUnknownFields(allowed: ["code", "command", "timeout_ms", "stdin"])
        let code = body.string("code")
        let timeout = body.int("timeout_ms", in: SandboxLimits.timeoutRange)
        let stdin = body.string("stdin")
        for (field, text) in [("code", code), ("stdin", stdin)] where (text?.utf8.count ?? 0) > Self.maxCodeBytes {
            throw APIError(.contentTooLarge, "\(field) is larger than \(Self.maxCodeBytes) bytes") { w in
                w.field("code", "too_large")
                w.field("limit", Self.maxCodeBytes)
            }
        }
        var argv: [String]?
        if let value = body.object["command"], !value.isNull {
            if let items = value.arrayValue, !items.isEmpty, items.count <= 4096,
                items.allSatisfy({ $0.stringValue.map { !$0.utf8.contains(0) } ?? false })
            {
                argv = items.compactMap(\.stringValue)
                if argv![0].isEmpty { body.fail("command", "the program name is empty") }
            } else {
                body.fail("command", "expected a non-empty array of at most 4096 strings without NUL bytes")
            }
        }
        switch (code, argv) {
        case (nil, nil): body.fail("code", "give code or command")
        case (.some, .some): body.fail("command", "give code or command, not both")
        case (.some, nil): if stdin != nil { body.fail("stdin", "stdin goes with a command, not with code") }
        default: break
        }
        if let code, code.utf8.contains(0) { body.fail("code", "the code contains a NUL byte") }
        try body.validate(code: "invalid_request")
        let command: SandboxCommand = argv.map { .argv($0, stdin: Array((stdin ?? "").utf8)) } ?? .code(code ?? "")

        let streaming = request.headers[.accept]?.contains("text/event-stream") == true
        guard streaming else {
            let result = try await sandboxes.exec(id, tenant: tenant, command: command, timeoutMilliseconds: timeout)
            return JSONResponse.object(capacity: result.stdout.count + result.stderr.count + 512) {
                $0.execResult(result)
            }
        }
        // Check what can be refused before the 200 goes out; the execution runs in a task of
        // its own and its events are written as they come.
        let (events, continuation) = AsyncStream<SandboxStreamEvent>.makeStream()
        let sandboxes = self.sandboxes
        let running = Task {
            do {
                let result = try await sandboxes.exec(
                    id, tenant: tenant, command: command, timeoutMilliseconds: timeout,
                    output: { continuation.yield(.output($0)) })
                continuation.yield(.done(result))
            } catch {
                continuation.yield(.failed(error))
            }
            continuation.finish()
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                defer { _ = running }
                for await event in events {
                    try await writer.write(event.frame)
                }
                try await writer.finish(nil)
            })
    }

    // MARK: Files

    static func path(_ request: Request) throws -> String {
        guard let path = request.uri.queryParameters["path"].map(String.init) else {
            throw APIError(.badRequest, "the path query parameter is required") { $0.field("code", "invalid_path") }
        }
        return path
    }

    @Sendable func readFile(_ request: Request, context: Context) async throws -> Response {
        let files = try await sandboxes.files(
            try request.pathParameter("sandboxId", context), tenant: context.principal.tenant)
        let path = try Self.path(request)
        switch try files.read(path) {
        case .directory(let entries):
            return JSONResponse.object(capacity: 64 * (entries.count + 1)) { w in
                w.field("path", path)
                w.array("entries", entries) { w, entry in
                    w.beginObjectValue()
                    w.field("name", entry.name)
                    w.field("type", entry.type.rawValue)
                    w.field("size", Int(entry.size))
                    w.endObject()
                }
            }
        case .file(let bytes):
            return Response(
                status: .ok, headers: [.contentType: "application/octet-stream"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    @Sendable func writeFile(_ request: Request, context: Context) async throws -> Response {
        let files = try await sandboxes.files(
            try request.pathParameter("sandboxId", context), tenant: context.principal.tenant)
        let path = try Self.path(request)
        _ = try SandboxFiles.components(path)
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: SandboxFiles.maxFileBytes)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "the file is larger than \(SandboxFiles.maxFileBytes) bytes") {
                $0.field("code", "too_large")
            }
        }
        let bytes = Array(buffer.readableBytesView)
        try files.write(path, bytes: bytes)
        return JSONResponse.object(.created) { w in
            w.field("path", path)
            w.field("size", bytes.count)
        }
    }

    @Sendable func deleteFile(_ request: Request, context: Context) async throws -> Response {
        let files = try await sandboxes.files(
            try request.pathParameter("sandboxId", context), tenant: context.principal.tenant)
        try files.delete(try Self.path(request))
        return Response(status: .noContent)
    }

    /// Streams a file of the sandbox into a new artifact of the tenant.
    @Sendable func saveArtifact(_ request: Request, context: Context) async throws -> Response {
        let tenant = context.principal.tenant
        let id = try request.pathParameter("sandboxId", context)
        let files = try await sandboxes.files(id, tenant: tenant)
        var request = request
        var body = try await Self.body(&request, limit: 64 * 1024)
        body.rejectUnknownFields(allowed: ["path", "name", "content_type"])
        let path = body.requiredString("path", maxLength: 4096)
        let name = body.string("name", minLength: 1, maxLength: 1024)
        let contentType = body.string("content_type", minLength: 1, maxLength: 255)
        try body.validate(code: "invalid_request")
        let artifact = try await SandboxArtifacts.save(
            path, of: files, name: name, contentType: contentType, owner: id, into: artifacts, tenant: tenant)
        return ArtifactRoutes<Context>.created(artifact, replayed: false)
    }
}

/// What an execution streams: output as it comes, then the whole answer (or a refusal).
enum SandboxStreamEvent: Sendable {
    case output(SandboxOutput)
    case done(SandboxExecResult)
    case failed(any Error)

    var frame: ByteBuffer {
        let name: String
        let data: RawJSON
        switch self {
        case .output(.stdout(let bytes)):
            name = "stdout"
            data = makeJSON { w in
                w.beginObject()
                w.field("data", String(decoding: bytes, as: UTF8.self))
                w.endObject()
            }
        case .output(.stderr(let bytes)):
            name = "stderr"
            data = makeJSON { w in
                w.beginObject()
                w.field("data", String(decoding: bytes, as: UTF8.self))
                w.endObject()
            }
        case .done(let result):
            name = "exit"
            data = makeJSON { w in
                w.beginObject()
                w.execResult(result)
                w.endObject()
            }
        case .failed(let error):
            name = "error"
            let refusal =
                (error as? any APIErrorConvertible)?.apiError ?? APIError(.internalServerError, "execution failed")
            data = refusal.body
        }
        return ByteBuffer(string: "event: \(name)\ndata: \(data)\n\n")
    }
}

extension SandboxError: APIErrorConvertible {
    public var apiError: APIError {
        switch self {
        case .notFound: return APIError(.notFound, "sandbox not found") { $0.field("code", "not_found") }
        case .unknownBackend(let name, let available):
            return APIError(.badRequest, "unknown sandbox backend \(name)") { w in
                w.field("code", "unknown_backend")
                w.key("available")
                w.stringArray(available)
            }
        case .backendUnavailable(let name, let reason):
            return APIError(.unprocessableContent, "the \(name) backend cannot run here: \(reason)") { w in
                w.field("code", "backend_unavailable")
            }
        case .capabilitiesMissing(let missing, let backend):
            return APIError(
                .unprocessableContent,
                "the \(backend) backend cannot enforce: " + missing.map(\.rawValue).joined(separator: ", ")
            ) { w in
                w.field("code", "capability_unavailable")
                w.field("backend", backend)
                w.key("missing")
                w.stringArray(missing.map(\.rawValue))
            }
        case .invalid(let message):
            return APIError(.badRequest, message) { $0.field("code", "invalid_request") }
        case .invalidPath(let message):
            return APIError(.badRequest, message) { $0.field("code", "invalid_path") }
        case .fileNotFound(let part):
            return APIError(.notFound, "no such file or directory: \(part)") { $0.field("code", "file_not_found") }
        case .tooMany(let limit):
            return APIError(.tooManyRequests, "too many sandboxes: at most \(limit) may be alive at once") {
                $0.field("code", "too_many_sandboxes")
            }
        case .busy:
            return APIError(.conflict, "the sandbox is running another execution") { $0.field("code", "busy") }
        case .notWritable:
            return APIError(.conflict, "the sandbox's workspace is mounted read-only") { $0.field("code", "read_only") }
        case .workspace(let status, let code, let message):
            // The workspace's own refusal (no such bucket, no such snapshot...); its server-side
            // failures stay 5xx.
            return APIError(HTTPResponse.Status(code: status), "workspace: \(message)") { w in
                w.field("code", "workspace_" + code)
            }
        case .setupFailed(let message):
            return APIError(.serviceUnavailable, "the sandbox could not be set up: \(message)") {
                $0.field("code", "setup_failed")
            }
        }
    }
}

extension JSONWriter {
    mutating func sandbox(_ info: SandboxInfo) { sandboxFields(info) }

    mutating func sandboxFields(_ info: SandboxInfo) {
        field("id", info.id)
        field("backend", info.backend)
        field("language", info.language.rawValue)
        field("status", info.status)
        sandboxLimits("limits", info.limits)
        key("capabilities")
        stringArray(info.capabilities.map(\.rawValue))
        if let workspace = info.workspace {
            object("workspace") { w in
                w.field("bucket", workspace.bucket)
                w.field("snapshot", workspace.snapshot)
                w.field("mode", workspace.writable ? "rw" : "ro")
            }
        } else {
            key("workspace")
            null()
        }
        field("created_at", timestamp: info.createdAt)
        field("expires_at", timestamp: info.expiresAt)
        field("idle_expires_at", timestamp: info.idleExpiresAt)
    }

    mutating func execResult(_ result: SandboxExecResult) {
        field("stdout", String(decoding: result.stdout, as: UTF8.self))
        field("stderr", String(decoding: result.stderr, as: UTF8.self))
        field("value", result.value)
        field("error", result.error)
        field("truncated", result.truncated)
        object("exit") { w in
            let exit = result.exit
            w.field("reason", exit.reason.rawValue)
            w.field("exit_code", exit.exitCode.map(Int.init))
            w.field("signal", exit.signal.map(Int.init))
            w.key("duration_ms")
            w.double((exit.durationMilliseconds * 1000).rounded() / 1000)
            w.key("cpu_ms")
            if let cpu = exit.cpuMilliseconds { w.double((cpu * 1000).rounded() / 1000) } else { w.null() }
            w.field("peak_memory_bytes", exit.peakMemoryBytes.map(Int.init))
        }
    }
}
