import CairnCore
import HTTPTypes
import Hummingbird
import Logging

/// The checkpoint protocol's error envelope, `{"error":{"code","message"}}`, used for every
/// refusal on its routes (the reference server's own and its framework's alike).
enum SnapStateErrors {
    /// The paths the checkpoint protocol owns.
    static func owns(path: String) -> Bool {
        for prefix in ["/checkpoints", "/workflows", "/webhooks", "/agents", "/analytics"]
        where path == prefix || path.hasPrefix(prefix + "/") {
            return true
        }
        return false
    }

    static func response(
        _ status: HTTPResponse.Status, code: String, message: String, headers: HTTPFields = [:],
        extra: ((inout JSONWriter) -> Void)? = nil
    ) -> Response {
        var response = JSONResponse.make(
            status,
            jsonObject { w in
                w.object("error") { w in
                    w.field("code", code)
                    w.field("message", message)
                }
                extra?(&w)
            })
        response.headers.append(contentsOf: headers)
        // Refusals made before the protocol's middleware (auth, scopes) carry one too.
        response.headers[.requestID] = Identifier.uuidString()
        return response
    }

    /// The code the reference gives a status when no more specific one applies.
    static func code(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400: return "VALIDATION_ERROR"
        case 401: return "UNAUTHORIZED"
        case 403: return "FORBIDDEN"
        case 404: return "NOT_FOUND"
        case 409: return "CONFLICT"
        case 413: return "PAYLOAD_TOO_LARGE"
        case 429: return "RATE_LIMITED"
        case 507: return "INSUFFICIENT_STORAGE"
        case 500..<600: return "INTERNAL_SERVER_ERROR"
        default: return "ERROR"
        }
    }

    static func response(_ error: CheckpointError) -> Response {
        switch error {
        case .invalid(let message):
            return response(.badRequest, code: "VALIDATION_ERROR", message: message)
        case .stateTooLarge(let limit):
            return response(
                .contentTooLarge, code: "PAYLOAD_TOO_LARGE", message: "State payload exceeds 1MB limit (\(limit) bytes)"
            )
        case .checkpointExists(let id, let etag):
            return response(.conflict, code: "CONFLICT", message: "Checkpoint \(id) already exists") { w in
                w.object("existing") { w in
                    w.field("checkpoint_id", id)
                    w.field("etag", etag)
                }
            }
        case .etagMismatch:
            return response(.conflict, code: "CONFLICT", message: "ETag mismatch — checkpoint was modified")
        case .checkpointNotFound(let id):
            return response(.notFound, code: "NOT_FOUND", message: "Checkpoint \(id) not found")
        case .workflowNotFound(let id):
            return response(.notFound, code: "NOT_FOUND", message: "Workflow \(id) not found: no checkpoints")
        case .workflowExists(let id):
            return response(.conflict, code: "CONFLICT", message: "Workflow \(id) already exists")
        case .webhookNotFound(let id):
            return response(.notFound, code: "NOT_FOUND", message: "Webhook \(id) not found")
        case .agentNotFound(let id):
            return response(.notFound, code: "AGENT_NOT_FOUND", message: "Agent '\(id)' not found")
        case .maxAgentsReached(let limit):
            return response(
                .badRequest, code: "MAX_AGENTS_REACHED", message: "Maximum of \(limit) agents allowed per account")
        case .noUpdatableFields:
            return response(.badRequest, code: "VALIDATION_ERROR", message: "No updatable fields provided")
        }
    }
}

/// Turns refusals on the checkpoint routes into the protocol's envelope, anything unexpected
/// into a logged 500, and tags every response with an `X-Request-Id`.
struct SnapStateErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as CheckpointError {
            response = SnapStateErrors.response(error)
        } catch let error as APIError {
            response = SnapStateErrors.response(
                error.status, code: SnapStateErrors.code(for: error.status), message: error.detailedMessage)
        } catch let error as any APIErrorConvertible {
            let apiError = error.apiError
            response = SnapStateErrors.response(
                apiError.status, code: SnapStateErrors.code(for: apiError.status), message: apiError.detailedMessage)
        } catch let error as HTTPError {
            response = SnapStateErrors.response(
                error.status, code: SnapStateErrors.code(for: error.status), message: error.body ?? "\(error.status)")
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            response = SnapStateErrors.response(
                .internalServerError, code: "INTERNAL_SERVER_ERROR", message: "internal server error")
        }
        if response.headers[.requestID] == nil { response.headers[.requestID] = Identifier.uuidString() }
        return response
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
    static let checkpointTTL = HTTPField.Name("X-Checkpoint-TTL")!
}
