import CairnCore
import CairnServer
import CairnStore
import CairnTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Prometheus
import Testing

/// A server on a fresh data directory, exercised through Hummingbird's in-process client.
/// The engines a server test runs on: SQLite always, Postgres when `CAIRN_TEST_POSTGRES_URL`
/// names a database (each server gets a schema of its own there).
enum ServerEngine: String, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    static let postgresURL = ProcessInfo.processInfo.environment["CAIRN_TEST_POSTGRES_URL"].flatMap {
        $0.isEmpty ? nil : $0
    }
    static let available: [ServerEngine] = postgresURL == nil ? [.sqlite] : [.sqlite, .postgres]

    var testDescription: String { rawValue }

    /// Points the configuration at a fresh schema when the engine is Postgres.
    func prepare(_ configuration: inout ServerConfiguration) async throws {
        guard self == .postgres, let base = Self.postgresURL else { return }
        let schema = "s_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await PostgresStore.createSchema(schema, url: base)
        configuration.databaseURL = base + (base.contains("?") ? "&" : "?") + "search_path=" + schema
        configuration.databasePoolSize = 8
    }
}

struct TestServer {
    let server: CairnServer
    let app: Application<RouterResponder<CairnRequestContext>>

    init(
        apiKey: String? = nil, sseKeepalive: Duration = .seconds(15), registry: PrometheusCollectorRegistry? = nil,
        clock: any WallClock = SystemClock(),
        configure: (inout ServerConfiguration) -> Void = { _ in }
    ) throws {
        var configuration = ServerConfiguration()
        configuration.dataDirectory = ScratchDirectory.path("cairn-http")
        configuration.apiKey = apiKey
        configure(&configuration)
        server = try CairnServer(
            configuration: configuration, registry: registry, logger: Logger(label: "test"), clock: clock)
        app = Application(router: server.makeRouter(sseKeepalive: sseKeepalive))
    }

    /// The same on `engine` (a fresh Postgres schema when it is Postgres).
    init(engine: ServerEngine, apiKey: String? = nil, configure: (inout ServerConfiguration) -> Void = { _ in })
        async throws
    {
        var configuration = ServerConfiguration()
        configuration.dataDirectory = ScratchDirectory.path("cairn-http")
        configuration.apiKey = apiKey
        configure(&configuration)
        try await engine.prepare(&configuration)
        server = try await CairnServer.open(configuration: configuration, registry: nil, logger: Logger(label: "test"))
        app = Application(router: server.makeRouter())
    }

    func test<T: Sendable>(_ body: @escaping @Sendable (HTTP) async throws -> T) async throws -> T {
        try await app.test(.router) { client in try await body(HTTP(client: client)) }
    }
}

struct Reply: Sendable {
    let status: HTTPResponse.Status
    let text: String
    var json: JSONValue { (try? JSONParser.parse(text)) ?? .null }
}

struct HTTP: Sendable {
    let client: any TestClientProtocol
    var headers: HTTPFields = [:]

    func call(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil) async throws -> Reply {
        try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        {
            Reply(status: $0.status, text: String(buffer: $0.body))
        }
    }

    func post(_ uri: String, _ body: String? = "{}") async throws -> Reply { try await call(.post, uri, body) }
    func get(_ uri: String) async throws -> Reply { try await call(.get, uri) }

    /// Creates a run and returns its id.
    func newRun(_ workflow: String = "wf") async throws -> String {
        let reply = try await post("/runs/\(workflow)", #"{"input":{"x":1}}"#)
        return try #require(reply.json["run"]?["id"]?.stringValue)
    }
}

extension HTTP {
    /// The same client, sending `secret` as its bearer.
    func authorized(_ secret: String) -> HTTP {
        var h = self
        h.headers[.authorization] = "Bearer \(secret)"
        return h
    }

    /// Creates an API key of `tenant` through the admin API, acting as `root`; returns its secret.
    func newKey(root: String, tenant: String, scopes: [String] = ["write"]) async throws -> String {
        let scopesJSON = "[" + scopes.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        let reply = try await authorized(root).post(
            "/admin/keys", #"{"tenant":"\#(tenant)","name":"t","scopes":\#(scopesJSON)}"#)
        return try #require(reply.json["secret"]?.stringValue, "\(reply.status) \(reply.text)")
    }
}

extension JSONValue {
    var keys: [String] { objectValue?.keys ?? [] }
}
