import CairnCore
import Hummingbird
import NIOCore

/// A refusal with its exact wire body. Thrown by handlers and turned into a response by the
/// protocol's error middleware.
public struct APIError: Error, Sendable {
    public let status: HTTPResponse.Status
    public let body: RawJSON
    /// What went wrong in words, for protocols that shape their error bodies differently.
    public var message: String
    public var issues: [ValidationIssue] = []

    public init(_ status: HTTPResponse.Status, body: RawJSON, message: String = "") {
        self.status = status
        self.body = body
        self.message = message
    }

    /// `{"error": message, ...extra}`.
    public init(_ status: HTTPResponse.Status, _ message: String, _ extra: ((inout JSONWriter) -> Void)? = nil) {
        self.status = status
        self.message = message
        self.body = makeJSON { w in
            w.beginObject()
            w.field("error", message)
            extra?(&w)
            w.endObject()
        }
    }

    /// A 400 listing each problem; `code`, when given, is added as the refusal's code (the
    /// run protocol's bodies have none, Cairn's own APIs do).
    public static func invalidBody(_ issues: [ValidationIssue], code: String? = nil) -> APIError {
        var error = APIError(.badRequest, "invalid request body") { w in
            if let code { w.field("code", code) }
            w.array("issues", issues) { w, issue in
                w.beginObjectValue()
                w.key("path"); w.stringArray(issue.path)
                w.field("message", issue.message)
                w.endObject()
            }
        }
        error.issues = issues
        return error
    }

    /// The message with every issue spelled out (`workflow_id: required; step: expected an integer`).
    public var detailedMessage: String {
        guard !issues.isEmpty else { return message }
        return issues.map { ($0.path.isEmpty ? "" : $0.path.joined(separator: ".") + ": ") + $0.message }
            .joined(separator: "; ")
    }

    public var response: Response { JSONResponse.make(status, body) }
}

/// A domain error that knows its HTTP refusal (the error middleware answers with it).
public protocol APIErrorConvertible: Error {
    var apiError: APIError { get }
}

extension HTTPResponse.Status {
    /// 507 (RFC 4918): the server has no room to store what the request sends.
    public static var insufficientStorage: Self { .init(code: 507, reasonPhrase: "Insufficient Storage") }
}

/// A full disk is the server's condition, not the client's mistake: 507, and the request may
/// be retried once space is freed (deleting artifacts still works).
extension StorageFullError: APIErrorConvertible {
    public var apiError: APIError {
        APIError(.insufficientStorage, "the server's disk is full: nothing was stored; retry after space is freed") {
            $0.field("code", "storage_full")
        }
    }
}

/// Adds `X-Content-Type-Options: nosniff` to every response, refusals included, so no browser
/// guesses a type other than the one declared.
public struct NoSniffMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        return response
    }
}

public struct ValidationIssue: Sendable {
    public var path: [String]
    public var message: String
}

public enum JSONResponse {
    public static func make(_ status: HTTPResponse.Status = .ok, _ json: RawJSON) -> Response {
        var buffer = ByteBufferAllocator().buffer(capacity: json.utf8.count)
        buffer.writeString(json)
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: buffer))
    }

    /// A JSON object response written field by field; `capacity` is the expected size, so a
    /// long listing is not copied over and over as it grows.
    public static func object(
        _ status: HTTPResponse.Status = .ok, capacity: Int = 512, _ body: (inout JSONWriter) -> Void
    ) -> Response {
        var w = JSONWriter(capacity: capacity)
        w.beginObject()
        body(&w)
        w.endObject()
        var buffer = ByteBufferAllocator().buffer(capacity: w.bytes.count)
        buffer.writeBytes(w.bytes)
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: buffer))
    }
}
