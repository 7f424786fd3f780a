import CairnCore
import HTTPTypes
import Hummingbird
import NIOCore

/// Who a Studio request acts as: the session its cookie names, checked by each handler for
/// itself (the matched route decides what it needs). Actions (POSTs) also need the form's CSRF
/// token and, when they change something, the scope for it.
struct StudioAuth: Sendable {
    let sessions: StudioSessionService
    let keys: KeyService
    let openMode: OpenMode
    let rootKey: String?
    /// Cookies get `Secure` when the server's public URL is https or a proxy says the request
    /// came over TLS.
    let publicURL: String?

    static var sessionCookie: String { "cairn_studio" }
    /// Before sign-in, the sign-in form's CSRF token lives in a cookie of its own (double submit).
    static var signInCookie: String { "cairn_studio_signin" }
    static var formLimit: Int { 64 * 1024 }

    /// The session the request's cookie names, if it is still good.
    func session(_ request: Request) async throws -> StudioSession? {
        guard let token = request.cookies[Self.sessionCookie]?.value, !token.isEmpty else { return nil }
        let openMode = self.openMode
        let rootKeyConfigured = rootKey != nil
        return try await sessions.session(token: token, rootKeyConfigured: rootKeyConfigured) {
            !rootKeyConfigured ? try await openMode.isOpen() : false
        }
    }

    /// A page: needs a session (without one the browser is sent to sign in) and, when given,
    /// a scope (a page of what the key may not see is refused).
    func viewer(_ request: Request, needs scope: Scope? = nil) async throws -> StudioSession {
        guard let session = try await session(request) else { throw StudioPage.Redirect(to: "/studio/sign-in") }
        if let scope, !session.principal.allows(scope) {
            throw StudioPage.Refusal(
                status: .forbidden, title: "Not allowed", message: "Your key lacks the \(scope.rawValue) scope.",
                session: session)
        }
        return session
    }

    /// An action (a POST): a session, the form, its CSRF token, and the scope the action needs.
    func actor(_ request: inout Request, needs scope: Scope? = nil) async throws -> (StudioSession, URLEncodedForm) {
        guard let session = try await session(request) else {
            throw StudioPage.Refusal(
                status: .unauthorized, title: "Not signed in",
                message:
                    "Your session ended (signed out, expired, or its key was revoked). Sign in again; nothing was changed.",
                session: nil)
        }
        let form = try await Self.form(&request)
        guard let presented = form["csrf"],
            constantTimeEquals(Array(presented.utf8), Array(session.csrfToken.utf8))
        else {
            throw StudioPage.Refusal(
                status: .forbidden, title: "Form expired",
                message:
                    "This form did not come from your current Studio page. Reload the page and try again; nothing was changed.",
                session: session)
        }
        if let scope, !session.principal.allows(scope) {
            throw StudioPage.Refusal(
                status: .forbidden, title: "Not allowed",
                message: "Your key lacks the \(scope.rawValue) scope; nothing was changed.", session: session)
        }
        return (session, form)
    }

    static func form(_ request: inout Request) async throws -> URLEncodedForm {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: formLimit)
        } catch {
            throw StudioPage.Refusal(
                status: .contentTooLarge, title: "Form too large",
                message: "The form is larger than \(formLimit / 1024) KiB; nothing was changed.", session: nil)
        }
        do {
            return try URLEncodedForm(Array(buffer: body))
        } catch {
            throw StudioPage.Refusal(
                status: .badRequest, title: "Bad form", message: "The form could not be read; nothing was changed.",
                session: nil)
        }
    }

    static func isToken(_ text: String) -> Bool {
        text.utf8.count == 32
            && text.utf8.allSatisfy {
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                    || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0)
            }
    }

    func cookie(_ name: String, _ value: String, maxAge: Int, request: Request) -> String {
        let tls =
            publicURL?.lowercased().hasPrefix("https://") == true
            || request.headers[HTTPField.Name("x-forwarded-proto")!]?.lowercased() == "https"
        return "\(name)=\(value); Path=/studio; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (tls ? "; Secure" : "")
    }
}
