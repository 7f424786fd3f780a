import CairnCore
import Hummingbird
import NIOCore

/// A refusal with its exact wire body. Thrown by handlers and turned into a response by the
/// protocol's error middleware.
public struct APIError: Error, Sendable {
    public let status: HTTPResponse.Status
    public let body: RawJSON

    public init(_ status: HTTPResponse.Status, body: RawJSON) {
        self.status = status
        self.body = body
    }

    /// `{"error": message, ...extra}`.
    public init(_ status: HTTPResponse.Status, _ message: String, _ extra: ((inout JSONWriter) -> Void)? = nil) {
        self.status = status
        self.body = makeJSON { w in
            w.beginObject()
            w.field("error", message)
            extra?(&w)
            w.endObject()
        }
    }

    public static func invalidBody(_ issues: [ValidationIssue]) -> APIError {
        APIError(.badRequest, "invalid request body") { w in
            w.array("issues", issues) { w, issue in
                w.beginObjectValue()
                w.key("path"); w.stringArray(issue.path)
                w.field("message", issue.message)
                w.endObject()
            }
        }
    }

    public var response: Response { JSONResponse.make(status, body) }
}

/// A domain error that knows its HTTP refusal (the error middleware answers with it).
public protocol APIErrorConvertible: Error {
    var apiError: APIError { get }
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

    /// A JSON object response written field by field.
    public static func object(_ status: HTTPResponse.Status = .ok, _ body: (inout JSONWriter) -> Void) -> Response {
        var w = JSONWriter(capacity: 512)
        w.beginObject()
        body(&w)
        w.endObject()
        var buffer = ByteBufferAllocator().buffer(capacity: w.bytes.count)
        buffer.writeBytes(w.bytes)
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: buffer))
    }
}
