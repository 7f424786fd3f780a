import CairnCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The request context of the S3 listener: Hummingbird's core context and nothing else (the
/// listener parses, authenticates and routes each request itself).
public struct S3RequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}

/// The S3 listener: S3's wire protocol (path-style, SigV4) over `WorkspaceService`.
///
/// Every request gets a request id, is authenticated with an S3 key, routed to one operation by
/// method, bucket and key presence, query sub-resources and Tigris headers, authorized for that
/// operation's scope, then run. Errors are S3 XML documents; anything that is not an `S3Error`
/// is logged and answered with a bare `InternalError`.
public struct S3Listener: Sendable {
    let workspaces: WorkspaceService
    let keys: @Sendable (String) async throws -> S3Key?
    /// IAM (scoped keys and their policies); nil leaves `POST /` unrouted and no policy applies.
    let iam: IAMService?
    let clock: any WallClock
    let logger: Logger
    /// The largest object body one PUT may carry.
    let maxObjectBytes: Int64
    /// Request metrics, and one line per request with `--access-log`, as on the main listener.
    let recorder: RequestRecorder

    public init(
        workspaces: WorkspaceService, keys: @escaping @Sendable (String) async throws -> S3Key?, clock: any WallClock,
        logger: Logger, maxBodyBytes: Int64? = nil, iam: IAMService? = nil, accessLog: Logger? = nil
    ) {
        self.recorder = RequestRecorder(accessLog: accessLog)
        self.workspaces = workspaces
        self.keys = keys
        self.iam = iam
        self.clock = clock
        self.logger = logger
        self.maxObjectBytes = maxBodyBytes ?? workspaces.limits.maxObjectBytes
    }

    /// The responder for `Application(responder:…)`.
    public func responder() -> Responder { Responder(listener: self) }

    public struct Responder: HTTPResponder {
        public typealias Context = S3RequestContext
        let listener: S3Listener

        public func respond(to request: Request, context: S3RequestContext) async throws -> Response {
            await listener.handle(request)
        }
    }

    /// The body of a request that carries XML (Delete, CompleteMultipartUpload, lifecycle, …).
    static let maxXMLBodyBytes: Int64 = 2 << 20

    // MARK: Handling

    func handle(_ request: Request) async -> Response {
        let start = ContinuousClock.now
        let requestId = String(Identifier.randomHex().uppercased().prefix(16))
        var call: S3Call?
        var response: Response
        // The metrics' and access log's route: the operation's name, once it is routed.
        var route = "s3:unrouted"
        do {
            let parsed = try S3Call(request: request)
            call = parsed
            if let iam, Self.isIAMQuery(parsed, request: request) {
                route = "iam"
                response = await handleIAM(parsed, request: request, requestId: requestId, iam: iam)
            } else {
                response = try await run(parsed, request: request, route: &route)
            }
        } catch let failure as S3Failure {
            response = errorResponse(failure.error, extra: failure.headers, call: call, request: request, id: requestId)
        } catch let error as S3Error {
            response = errorResponse(error, extra: [], call: call, request: request, id: requestId)
        } catch let error as StorageFullError {
            // The server's disk, not the client's request: S3's answer for a full store, with
            // nothing stored (the write was aborted).
            logger.error("S3 write refused: storage full", metadata: ["detail": "\(error.detail)"])
            let full = S3Error(
                code: "ServiceUnavailable", message: "The server is out of storage space; nothing was stored.",
                status: 503)
            response = errorResponse(full, extra: [], call: call, request: request, id: requestId)
        } catch {
            logger.error(
                "S3 request failed",
                metadata: [
                    "request-id": "\(requestId)", "method": "\(request.method.rawValue)",
                    "path": "\(call?.resource ?? "?")", "error": "\(String(reflecting: error))",
                ])
            let failure = S3Error(
                code: "InternalError", message: "We encountered an internal error. Please try again.", status: 500)
            response = errorResponse(failure, extra: [], call: call, request: request, id: requestId)
        }
        response.headers[HTTPField.Name("x-amz-request-id")!] = requestId
        response.headers[HTTPField.Name("x-amz-id-2")!] = requestId
        recorder.record(
            method: request.method, path: request.uri.path, status: response.status.code, route: route,
            elapsed: ContinuousClock.now - start)
        return response
    }

    func errorResponse(
        _ error: S3Error, extra: [(String, String)], call: S3Call?, request: Request, id: String
    ) -> Response {
        var headers = HTTPFields()
        for (name, value) in extra { headers.set(name, value) }
        let status = HTTPResponse.Status(code: error.status)
        if request.method == .head {
            headers[.contentLength] = "0"
            return Response(status: status, headers: headers)
        }
        var xml = S3XMLWriter()
        xml.element("Error") { x in
            x.element("Code", error.code)
            x.element("Message", error.message)
            x.element("Resource", call?.resource ?? "/")
            x.element("RequestId", id)
        }
        headers[.contentType] = "application/xml"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: xml.document)))
    }

    /// Authenticates, routes, authorizes and runs one request.
    func run(_ call: S3Call, request: Request, route: inout String) async throws -> Response {
        let key = try await authenticate(call, request: request)
        let operation = try S3Operation.route(call, method: request.method)
        route = "s3:" + operation.name
        guard key.principal.allows(operation.scope) else {
            throw S3Error.accessDenied("The key does not have the \(operation.scope.rawValue) scope.")
        }
        var exchange = S3Exchange(call: call, request: request, tenant: key.principal.tenant, auth: key.auth)
        // A key with policies attached may do only what they allow (within its scopes). The key,
        // whether it has policies and they are read on every request: a change applies to the next.
        if let iam, key.principal.hasPolicies { exchange.policies = try await iam.policyDocuments(for: key.principal) }
        for wanted in try operation.iamRequests(header: { exchange.header($0) }) { try exchange.authorize(wanted) }
        try S3Operation.refuseUnimplementedHeaders { exchange.header($0) }
        return try await perform(operation, exchange)
    }

    struct Authenticated {
        var principal: S3Key
        var auth: S3Authentication
    }

    /// Verifies the request's signature for `service` (IAM's form posts carry no
    /// `x-amz-content-sha256`, so their body's hash is passed in).
    func authenticate(_ call: S3Call, request: Request, service: String = "s3", bodySHA256: String? = nil)
        async throws -> Authenticated
    {
        var headers: [(name: String, value: String)] = request.headers.map { ($0.name.rawName, $0.value) }
        if !headers.contains(where: { $0.name.lowercased() == "host" }), let authority = request.head.authority {
            headers.append(("host", authority))
        }
        let signed = S3SignedRequest(
            method: request.method.rawValue, rawPath: call.rawPath, rawQuery: call.rawQuery, headers: headers,
            now: clock.now().milliseconds / 1000, bodySHA256: bodySHA256)
        guard signed.carriesCredentials else { throw S3Error.accessDenied("The request carries no credentials.") }
        let found = KeyBox()
        let lookup = keys
        let verifier = SigV4Verifier { id in
            guard let key = try await lookup(id), key.isUsable else { return nil }
            found.value.withLock { $0 = key }
            return key.secret
        }
        let auth = try await verifier.verify(signed)
        guard auth.service == service else {
            throw S3Error.authorizationHeaderMalformed(
                "The credential scope names service \(auth.service), not \(service)"
                    + (service == "s3" && auth.service == "iam" ? " (IAM's API is POST /)." : "."))
        }
        guard let key = found.value.withLock({ $0 }), key.accessKeyId == auth.accessKeyId else {
            throw S3Error.invalidAccessKeyId()
        }
        return Authenticated(principal: key, auth: auth)
    }

    final class KeyBox: Sendable {
        let value = Mutex<S3Key?>(nil)
    }
}

/// An `S3Error` with response headers of its own (a delete marker's, a range's size).
struct S3Failure: Error {
    var error: S3Error
    var headers: [(String, String)]
}

/// What one request is about, from its request line: the raw path and query, the bucket and the
/// key (decoded once), the decoded query parameters.
struct S3Call: Sendable {
    var rawPath: String
    var rawQuery: String
    var bucket: String?
    var key: String?
    var query: [(name: String, value: String)]

    init(request: Request) throws {
        let target = request.head.path ?? "/"
        if let mark = target.firstIndex(of: "?") {
            rawPath = String(target[..<mark])
            rawQuery = String(target[target.index(after: mark)...])
        } else {
            rawPath = target
            rawQuery = ""
        }
        guard rawQuery.utf8.count <= 64 * 1024 else { throw S3Error.invalidArgument("The query string is too long.") }
        query = []
        for item in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = S3Text.percentDecode(parts[0]),
                let value = parts.count > 1 ? S3Text.percentDecode(parts[1]) : ""
            else { throw S3Error.invalidArgument("The query string has an invalid percent-encoding.") }
            query.append((name, value))
        }
        var path = Substring(rawPath)
        while path.first == "/" { path = path.dropFirst() }
        guard !path.isEmpty else { return }
        let slash = path.firstIndex(of: "/")
        let bucketPart = slash.map { path[..<$0] } ?? path
        guard let bucketName = S3Text.percentDecode(bucketPart) else {
            throw S3Error.invalidArgument("The request path has an invalid percent-encoding or is not UTF-8.")
        }
        bucket = bucketName
        if let slash {
            let rest = path[path.index(after: slash)...]
            if !rest.isEmpty {
                guard let decoded = S3Text.percentDecode(rest) else {
                    throw S3Error.invalidArgument("The request path has an invalid percent-encoding or is not UTF-8.")
                }
                if decoded.utf8.count > 1024 {
                    throw S3Error(
                        code: "KeyTooLongError", message: "Your key is too long (at most 1024 bytes).", status: 400)
                }
                key = decoded
            }
        }
    }

    /// `/bucket/key`, for error documents and logs.
    var resource: String {
        guard let bucket else { return "/" }
        guard let key else { return "/" + bucket }
        return "/" + bucket + "/" + key
    }

    func has(_ name: String) -> Bool { query.contains { $0.name == name } }

    subscript(_ name: String) -> String? { query.first { $0.name == name }?.value }
}

extension HTTPFields {
    /// Sets a field by a name known to be valid (S3's and Tigris' header names).
    mutating func set(_ name: String, _ value: String) {
        guard let field = HTTPField.Name(name) else { return }
        self[field] = value
    }

    func value(_ name: String) -> String? {
        guard let field = HTTPField.Name(name) else { return nil }
        return self[field]
    }
}

enum S3Text {
    /// Percent-decodes once (a `+` stays a plus); nil on a bad escape or bytes that are not UTF-8.
    static func percentDecode(_ text: some StringProtocol) -> String? { SigV4Verifier.percentDecode(text.utf8) }

    static func trimmed(_ text: some StringProtocol) -> String {
        var slice = Substring(text)
        while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
        return String(slice)
    }
}
