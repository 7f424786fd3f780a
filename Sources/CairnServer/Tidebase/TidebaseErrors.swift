import CairnCore
import Hummingbird
import Logging

/// The run protocol's error bodies (Tidebase §1.1, §1.5–1.7), keyed by core refusal.
enum TidebaseErrors {
    static func apiError(_ error: RunError) -> APIError {
        switch error {
        case .runNotFound: return APIError(.notFound, "run not found")
        case .parentRunNotFound: return APIError(.notFound, "parent run not found")
        case .gateNotFound: return APIError(.notFound, "gate not found")
        case .stateNotFound: return APIError(.notFound, "run state not found")
        case .runCancelled(let run):
            return APIError(.conflict, "run is cancelled") { w in
                w.field("code", "run_cancelled")
                w.key("run"); w.run(run)
            }
        case .runLeased(let holder):
            return APIError(.conflict, "run is leased") { $0.field("leaseOwner", holder) }
        case .leaseLost(let run, let cancelled):
            return APIError(.conflict, "lease lost") { w in
                w.field("code", cancelled ? "run_cancelled" : "lease_lost")
                w.key("run"); w.run(run)
            }
        case .runAlreadyCompleted(let run):
            return APIError(.conflict, "run already completed") { w in
                w.key("run"); w.run(run)
            }
        case .stepLeaseLost: return APIError(.conflict, "step not found or lease lost")
        case .gateNotResolvable: return APIError(.conflict, "gate not found, already resolved, or invalid token")
        case .noRecoveryWebhook: return APIError(.unprocessableContent, "run has no recoveryWebhook configured")
        case .invalid(let message): return APIError.invalidBody([ValidationIssue(path: [], message: message)])
        case .invalidCron(let message, let field):
            return APIError(.badRequest, message) { w in
                w.field("code", "invalid_cron")
                w.field("field", field)
            }
        case .scheduleNotFound: return APIError(.notFound, "schedule not found")
        case .queueNotFound: return APIError(.notFound, "queue not found: it has no runs and no config")
        }
    }
}

/// Turns refusals into their wire bodies and anything unexpected into a logged 500.
struct TidebaseErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response
        } catch let error as RunError {
            return TidebaseErrors.apiError(error).response
        } catch let error as any APIErrorConvertible {
            return error.apiError.response
        } catch let error as HTTPError {
            throw error
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return APIError(.internalServerError, "internal server error").response
        }
    }
}
