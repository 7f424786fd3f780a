import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import CairnServer

/// The per-request path work: the canonical-path rule and where a request's handler runs.
struct RequestPathTests {
    @Test func canonicalPathsAreToldFromDotAndEmptySegments() {
        let canonical = [
            "/", "/health", "/runs/run_1/steps/begin", "/a/.../b", "/a/.b", "/a/b.", "/a/%2e%2e%2e", "/a/%2",
            "/a/%2e%2",
            "/a/%2f..", "/a/%2ex", "/a/%3e", "/%2E.x",
        ]
        let refused = [
            "", "health", "//", "/a//b", "/a/", "/.", "/..", "/a/./b", "/a/../b", "/a/%2e", "/a/%2E%2e", "/a/.%2E/b",
            "/a/%2e.", "/./health",
        ]
        for path in canonical { #expect(CanonicalPathMiddleware<BasicRequestContext>.isCanonical(path), "\(path)") }
        for path in refused { #expect(!CanonicalPathMiddleware<BasicRequestContext>.isCanonical(path), "\(path)") }
    }

    /// A handler runs on the event loop of the connection its request came in on, so answering it
    /// needs no thread hop (measured: about 7% off a step over HTTP, 10% off the server's CPU).
    @Test func aRequestIsHandledOnItsConnectionsEventLoop() async throws {
        let router = Router()
        router.get("/where") { _, _ -> String in
            let onLoop = CurrentConnection.channel?.eventLoop.inEventLoop ?? false
            // After a suspension too: the task resumes on the same loop.
            await Task.yield()
            let stillOnLoop = CurrentConnection.channel?.eventLoop.inEventLoop ?? false
            return "\(onLoop) \(stillOnLoop)"
        }
        let app = Application(
            router: router,
            server: .guardedHTTP1(limits: ConnectionLimits(), registry: ConnectionRegistry(maxConnections: 10)),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            for _ in 0..<3 {
                let response = try await client.execute(uri: "/where", method: .get)
                #expect(String(buffer: response.body) == "true true")
            }
        }
    }
}
