import CairnCore
import CairnServer
import CairnStore
import CairnTestSupport
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A server on a fresh data directory with artifact limits of the test's choosing.
struct ArtifactServer {
    let server: CairnServer
    let app: Application<RouterResponder<CairnRequestContext>>

    init(
        engine: ServerEngine = .sqlite, maxArtifactBytes: Int64 = 1 << 30, quota: Int64 = 10 << 30,
        apiKey: String? = nil, maxBodyBytes: Int? = nil, maxArtifactTTLSeconds: Int64 = 0,
        clock: any WallClock = SystemClock()
    ) async throws {
        var configuration = ServerConfiguration()
        configuration.dataDirectory = ScratchDirectory.path("cairn-artifacts")
        configuration.apiKey = apiKey
        configuration.maxArtifactBytes = maxArtifactBytes
        configuration.tenantQuotaBytes = quota
        configuration.maxArtifactTTLSeconds = maxArtifactTTLSeconds
        if let maxBodyBytes { configuration.maxBodyBytes = maxBodyBytes }
        try await engine.prepare(&configuration)
        server = try await CairnServer.open(
            configuration: configuration, registry: nil, logger: .init(label: "test"), clock: clock)
        app = Application(router: server.makeRouter())
    }

    var blobs: String { server.configuration.blobDirectory }

    func test<T: Sendable>(_ body: @escaping @Sendable (HTTP) async throws -> T) async throws -> T {
        try await app.test(.router) { client in try await body(HTTP(client: client)) }
    }

    /// A real listener, for clients that misbehave at the socket level.
    func live<T: Sendable>(_ body: @escaping @Sendable (Int) async throws -> T) async throws -> T {
        try await app.test(.live) { client in try await body(try #require(client.port)) }
    }

    /// Temporary `.part` files of uploads.
    func partFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: blobs + "/tmp").filter { $0.hasSuffix(".part") }
    }

    /// Published blob files, by digest.
    func blobFiles() throws -> [String] {
        var digests: [String] = []
        for fanout in try FileManager.default.contentsOfDirectory(atPath: blobs + "/sha256") {
            digests += try FileManager.default.contentsOfDirectory(atPath: blobs + "/sha256/" + fanout)
        }
        return digests.sorted()
    }

    /// Rows (any tenant's references, this tenant's artifacts and usage), blob files and
    /// temporary files, as they are now.
    func inventory(tenant: TenantID = .default) async throws -> Inventory {
        let rows = try await server.store.artifacts(tenant: tenant, query: .init(limit: 10_000), now: .now())
        return Inventory(
            parts: try partFiles().count, blobs: try blobFiles(),
            references: try await server.store.referencedDigests(),
            artifacts: rows.count, usage: try await server.store.artifactUsage(tenant: tenant))
    }

    /// Asserts that nothing of a refused upload is left: no `.part`, no blob, no row.
    func expectClean(
        artifacts: Int = 0, blobs: Int = 0, usage: Int64 = 0, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let inv = try await inventory()
        #expect(inv.parts == 0, "no .part file is left", sourceLocation: sourceLocation)
        #expect(inv.blobs.count == blobs, "blob files", sourceLocation: sourceLocation)
        #expect(inv.references.count == blobs, "blob reference rows", sourceLocation: sourceLocation)
        #expect(inv.artifacts == artifacts, "artifact rows", sourceLocation: sourceLocation)
        #expect(inv.usage == usage, "usage", sourceLocation: sourceLocation)
    }

    /// Waits (up to 20 s) for a condition the server reaches asynchronously.
    func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<400 {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}

struct Inventory: Equatable {
    var parts: Int
    var blobs: [String]
    var references: [String]
    var artifacts: Int
    var usage: Int64
}

struct BinaryReply: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: [UInt8]
    var json: JSONValue { (try? JSONParser.parse(bytes: body)) ?? .null }
    var text: String { String(decoding: body, as: UTF8.self) }
}

extension HTTP {
    func raw(_ method: HTTPRequest.Method, _ uri: String, headers extra: HTTPFields = [:], body: [UInt8]? = nil)
        async throws -> BinaryReply
    {
        var all = headers
        for field in extra { all[field.name] = field.value }
        return try await client.execute(
            uri: uri, method: method, headers: all, body: body.map { ByteBuffer(bytes: $0) }
        ) { BinaryReply(status: $0.status, headers: $0.headers, body: Array($0.body.readableBytesView)) }
    }

    func upload(_ bytes: [UInt8], query: String = "name=a.bin", headers: HTTPFields = [:]) async throws -> BinaryReply {
        var h = headers
        if h[.contentLength] == nil { h[.contentLength] = String(bytes.count) }
        return try await raw(.post, "/artifacts?\(query)", headers: h, body: bytes)
    }

    func uploadedId(_ bytes: [UInt8], query: String = "name=a.bin") async throws -> String {
        let reply = try await upload(bytes, query: query)
        #expect(reply.status == .created, "\(reply.text)")
        return try #require(reply.json["artifact"]?["id"]?.stringValue)
    }
}

func sha256Hex(_ bytes: [UInt8]) -> String { Array(SHA256.hash(data: bytes)).hexString }

func pattern(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
}

private func closeSocket(_ fd: Int32) { _ = close(fd) }

/// A write to a socket the server may have closed: an error, not a SIGPIPE.
private func sendNoSignal(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    send(fd, bytes, count, Int32(MSG_NOSIGNAL))
}

/// A plain TCP client that sends exactly what a test tells it to (no HTTP library in between).
final class RawSocket {
    let fd: Int32

    init(port: Int) throws {
        #if canImport(Glibc)
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard fd >= 0, rc == 0 else { throw POSIXError(.ECONNREFUSED) }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ text: String) async { await send(Array(text.utf8)) }

    /// Writes off Swift's cooperative pool: a socket write may block.
    func send(_ bytes: [UInt8]) async {
        let fd = self.fd
        await offPool {
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { sendNoSignal(fd, $0.baseAddress!, $0.count) }
                if n <= 0 { return }
                offset += n
            }
        }
    }

    /// Ends the request side (the server sees the end of the stream) but keeps reading.
    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Everything the server sends until it closes the connection (or 20 s pass).
    func readAll() async -> String {
        let fd = self.fd
        return await offPool {
            var out: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                out += buffer[0..<n]
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    private func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { c in DispatchQueue.global().async { c.resume(returning: body()) } }
    }

    func close() { closeSocket(fd) }
}

@Suite struct ArtifactTests {
    // MARK: The happy path

    @Test(arguments: ServerEngine.available) func uploadDownloadHeadMetadataAndDeleteRoundTrip(engine: ServerEngine)
        async throws
    {
        let s = try await ArtifactServer(engine: engine)
        try await s.test { http in
            let bytes = pattern(300_000)
            let digest = sha256Hex(bytes)
            var headers = HTTPFields()
            headers[.contentType] = "image/png"
            headers[HTTPField.Name("X-Cairn-Meta-Purpose")!] = "report"
            let created = try await http.upload(
                bytes, query: "name=reports/q1.png&owner=agent-7&ttl=3600&sha256=\(digest.uppercased())",
                headers: headers)
            #expect(created.status == .created, "\(created.text)")
            let a = try #require(created.json["artifact"])
            let id = try #require(a["id"]?.stringValue)
            #expect(ArtifactNames.isValidID(id))
            #expect(a["name"] == .string("reports/q1.png") && a["owner"] == .string("agent-7"))
            #expect(a["size"]?.intValue == 300_000 && a["sha256"] == .string(digest))
            #expect(a["contentType"] == .string("image/png") && a["metadata"]?["purpose"] == .string("report"))
            #expect(a["expiresAt"]?.stringValue != nil)
            #expect(created.headers[.location] == "/artifacts/\(id)" && created.headers[.eTag] == "\"\(digest)\"")

            let got = try await http.raw(.get, "/artifacts/\(id)")
            #expect(got.status == .ok && got.body == bytes)
            #expect(got.headers[.contentLength] == "300000" && got.headers[.contentType] == "image/png")
            #expect(got.headers[HTTPField.Name("x-cairn-sha256")!] == digest)
            #expect(got.headers[.eTag] == "\"\(digest)\"" && got.headers[.acceptRanges] == "bytes")
            #expect(got.headers[HTTPField.Name("x-cairn-meta-purpose")!] == "report")
            let repr = Data(SHA256.hash(data: bytes)).base64EncodedString()
            #expect(got.headers[HTTPField.Name("repr-digest")!] == "sha-256=:\(repr):")

            let head = try await http.raw(.head, "/artifacts/\(id)")
            #expect(head.status == .ok && head.body.isEmpty && head.headers[.contentLength] == "300000")
            #expect(head.headers[HTTPField.Name("x-cairn-sha256")!] == digest)

            var conditional = HTTPFields()
            conditional[.ifNoneMatch] = "\"\(digest)\""
            #expect(try await http.raw(.get, "/artifacts/\(id)", headers: conditional).status == .notModified)

            let meta = try await http.raw(.get, "/artifacts/\(id)/metadata")
            #expect(meta.status == .ok && meta.json["artifact"]?["id"] == .string(id))
            try await s.expectClean(artifacts: 1, blobs: 1, usage: 300_000)

            #expect(try await http.raw(.delete, "/artifacts/\(id)").json["deleted"] == .string(id))
            #expect(try await http.raw(.get, "/artifacts/\(id)").status == .notFound)
            #expect(try await http.raw(.delete, "/artifacts/\(id)").status == .notFound)
            try await s.expectClean()
        }
    }

    @Test(arguments: ServerEngine.available) func uploadsStreamPastTheJSONBodyLimit(engine: ServerEngine) async throws {
        // The collected-body limit (1 KiB here) is for JSON; artifacts are streamed to disk.
        let s = try await ArtifactServer(engine: engine, maxBodyBytes: 1024)
        try await s.test { http in
            let bytes = pattern(2 * 1024 * 1024, seed: 3)
            let id = try await http.uploadedId(bytes)
            #expect(try await http.raw(.get, "/artifacts/\(id)").body == bytes)
        }
    }

    @Test(arguments: ServerEngine.available) func identicalUploadsAreStoredOnce(engine: ServerEngine) async throws {
        let s = try await ArtifactServer(engine: engine)
        try await s.test { http in
            let bytes = pattern(10_000, seed: 9)
            let first = try await http.uploadedId(bytes, query: "name=one")
            let second = try await http.uploadedId(bytes, query: "name=two")
            #expect(first != second)
            try await s.expectClean(artifacts: 2, blobs: 1, usage: 20_000)
            #expect(try s.blobFiles() == [sha256Hex(bytes)])
            // The blob stays while anything references it.
            _ = try await http.raw(.delete, "/artifacts/\(first)")
            try await s.expectClean(artifacts: 1, blobs: 1, usage: 10_000)
            #expect(try await http.raw(.get, "/artifacts/\(second)").body == bytes)
            _ = try await http.raw(.delete, "/artifacts/\(second)")
            try await s.expectClean()
        }
    }

    // MARK: Refusals: each leaves no .part, blob or row

    @Test(arguments: ServerEngine.available) func checksumMismatchIsRefused(engine: ServerEngine) async throws {
        let s = try await ArtifactServer(engine: engine)
        try await s.test { http in
            let reply = try await http.upload(pattern(5000), query: "name=a&sha256=\(sha256Hex([1, 2, 3]))")
            #expect(reply.status == .badRequest && reply.json["code"] == .string("checksum_mismatch"))
            #expect(reply.json["actual"] == .string(sha256Hex(pattern(5000))))
            let malformed = try await http.upload(pattern(10), query: "name=a&sha256=xyz")
            #expect(malformed.status == .badRequest && malformed.json["field"] == .string("sha256"))
            try await s.expectClean()
        }
    }

    @Test(arguments: ServerEngine.available) func declaredSizeOverTheLimitIsRefusedBeforeStreaming(engine: ServerEngine)
        async throws
    {
        let s = try await ArtifactServer(engine: engine, maxArtifactBytes: 1000)
        try await s.test { http in
            var headers = HTTPFields()
            headers[.contentLength] = "1001"
            let reply = try await http.upload(pattern(1001), headers: headers)
            #expect(reply.status == .contentTooLarge && reply.json["code"] == .string("artifact_too_large"))
            #expect(reply.json["limit"]?.intValue == 1000)
            #expect(try await http.upload(pattern(1000)).status == .created)
            try await s.expectClean(artifacts: 1, blobs: 1, usage: 1000)
        }
    }

    @Test(arguments: ServerEngine.available) func undeclaredSizeOverTheLimitIsRefusedWhileStreaming(
        engine: ServerEngine
    ) async throws {
        let s = try await ArtifactServer(engine: engine, maxArtifactBytes: 100_000)
        try await s.live { port in
            let socket = try RawSocket(port: port)
            defer { socket.close() }
            await socket.send(
                "POST /artifacts?name=big HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            for _ in 0..<4 {
                await socket.send(Array(String(40_000, radix: 16).utf8) + [13, 10] + pattern(40_000) + [13, 10])
            }
            await socket.send("0\r\n\r\n")
            let response = await socket.readAll()
            #expect(response.hasPrefix("HTTP/1.1 413"), "\(response)")
            #expect(response.contains("artifact_too_large"))
        }
        try await s.expectClean()
    }

    @Test(arguments: ServerEngine.available) func chunkedUploadWithinTheLimitIsStored(engine: ServerEngine) async throws
    {
        let s = try await ArtifactServer(engine: engine)
        let bytes = pattern(70_000, seed: 5)
        try await s.live { port in
            let socket = try RawSocket(port: port)
            defer { socket.close() }
            await socket.send(
                "POST /artifacts?name=chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            for part in [bytes[0..<30_000], bytes[30_000...]] {
                await socket.send(Array(String(part.count, radix: 16).utf8) + [13, 10] + Array(part) + [13, 10])
            }
            await socket.send("0\r\n\r\n")
            let response = await socket.readAll()
            #expect(response.hasPrefix("HTTP/1.1 201"), "\(response)")
            #expect(response.contains(sha256Hex(bytes)))
        }
        try await s.expectClean(artifacts: 1, blobs: 1, usage: 70_000)
    }

    @Test(arguments: ServerEngine.available) func bodyShorterThanItsContentLengthIsRefused(engine: ServerEngine)
        async throws
    {
        let s = try await ArtifactServer(engine: engine)
        try await s.live { port in
            // 30 of 80 bytes, then the client ends its side of the connection.
            let socket = try RawSocket(port: port)
            defer { socket.close() }
            await socket.send(
                "POST /artifacts?name=short HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 80\r\n\r\n")
            await socket.send(pattern(30))
            socket.shutdownWrite()
            let response = await socket.readAll()
            #expect(response.isEmpty || response.hasPrefix("HTTP/1.1 400"), "\(response)")
        }
        #expect(try await s.eventually { try s.partFiles().isEmpty })
        try await s.expectClean()
    }

    @Test(arguments: ServerEngine.available) func clientThatDisconnectsMidUploadLeavesNothing(engine: ServerEngine)
        async throws
    {
        let s = try await ArtifactServer(engine: engine)
        try await s.live { port in
            let socket = try RawSocket(port: port)
            await socket.send(
                "POST /artifacts?name=cut HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10000000\r\n\r\n")
            await socket.send(pattern(1_000_000))
            // The upload is in flight: its temporary file exists.
            #expect(try await s.eventually { try s.partFiles().count == 1 })
            socket.close()
        }
        #expect(try await s.eventually { try s.partFiles().isEmpty })
        try await s.expectClean()
    }

    @Test(arguments: ServerEngine.available) func concurrentUploadsNeverExceedTheQuota(engine: ServerEngine)
        async throws
    {
        let s = try await ArtifactServer(engine: engine, quota: 1000)
        try await s.test { http in
            _ = try await http.uploadedId(pattern(600), query: "name=base")
            // 400 bytes are left: each of these fits alone, any two do not.
            let statuses = try await withThrowingTaskGroup(of: BinaryReply.self) { group in
                for i in 0..<8 {
                    group.addTask { try await http.upload(pattern(300, seed: UInt8(i + 1)), query: "name=c\(i)") }
                }
                return try await group.reduce(into: [BinaryReply]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0.status == .created }.count == 1)
            let refused = statuses.filter { $0.status != .created }
            #expect(refused.count == 7)
            #expect(
                refused.allSatisfy { $0.status == .contentTooLarge && $0.json["code"] == .string("quota_exceeded") })
        }
        try await s.expectClean(artifacts: 2, blobs: 2, usage: 900)
    }

    @Test(arguments: ServerEngine.available) func commitsRecheckTheQuotaInTheirTransaction(engine: ServerEngine)
        async throws
    {
        // Below the in-memory reservations: two commits racing for the last bytes, straight at the
        // store. The serialized transaction lets exactly one through.
        let s = try await ArtifactServer(engine: engine)
        let store = s.server.store
        let results = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<2 {
                group.addTask {
                    let a = Artifact(
                        id: Identifier.make("art_"), tenant: .default, name: "r\(i)", contentType: "x", size: 100,
                        sha256: sha256Hex([UInt8(i)]), owner: nil, metadata: [:], createdAt: .now(), expiresAt: nil)
                    do {
                        try await store.insertArtifact(a, quota: 150)
                        return true
                    } catch { return false }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 1)
        #expect(try await store.artifactUsage(tenant: .default) == 100)
    }

    @Test(arguments: ServerEngine.available) func pathTraversalNamesAndIdsAreRejected(engine: ServerEngine) async throws
    {
        let s = try await ArtifactServer(engine: engine)
        try await s.test { http in
            for name in [
                "..", "../x", "a/../../b", "/etc/passwd", "a//b", "a/", ".", "a/./b", "a%5Cb", "x%00y", "%2e%2e%2fx",
                "", "a%0Ab",
            ] {
                let reply = try await http.upload(pattern(10), query: "name=\(name)")
                #expect(reply.status == .badRequest, "name \(name): \(reply.text)")
                #expect(reply.json["field"] == .string("name"), "name \(name)")
            }
            #expect(try await http.upload(pattern(10), query: "owner=x").status == .badRequest)
            // Ids are the server's: anything else is simply unknown, and never a path.
            for id in ["..%2F..%2Fcairn.sqlite", "art_zz", "art_" + String(repeating: "0", count: 32)] {
                #expect(try await http.raw(.get, "/artifacts/\(id)").status == .notFound, "id \(id)")
                #expect(try await http.raw(.delete, "/artifacts/\(id)").status == .notFound, "id \(id)")
            }
            // Paths that are not canonical are refused before any route runs.
            for id in ["..", "%2e%2E"] {
                #expect(try await http.raw(.get, "/artifacts/\(id)").status == .badRequest, "id \(id)")
                #expect(try await http.raw(.delete, "/artifacts/\(id)").status == .badRequest, "id \(id)")
            }
            #expect(try await http.raw(.get, "/artifacts/../cairn.sqlite").status != .ok)
        }
        try await s.expectClean()
    }

    @Test(arguments: ServerEngine.available) func tenantsSeeOnlyTheirOwnArtifacts(engine: ServerEngine) async throws {
        let root = "root-key-0123456789abcdef"
        let s = try await ArtifactServer(engine: engine, apiKey: root)
        try await s.test { http in
            func key(_ tenant: String) async throws -> HTTP {
                http.authorized(try await http.newKey(root: root, tenant: tenant))
            }
            let a = try await key("acme")
            let b = try await key("globex")
            let bytes = pattern(1234)
            let id = try await a.uploadedId(bytes, query: "name=secret&owner=x")
            #expect(try await a.raw(.get, "/artifacts/\(id)").body == bytes)
            for method: HTTPRequest.Method in [.get, .head, .delete] {
                #expect(try await b.raw(method, "/artifacts/\(id)").status == .notFound, "\(method)")
            }
            #expect(try await b.raw(.get, "/artifacts/\(id)/metadata").status == .notFound)
            #expect(try await b.raw(.get, "/artifacts").json["artifacts"]?.arrayValue?.isEmpty == true)
            #expect(try await b.raw(.get, "/artifacts?owner=x").json["artifacts"]?.arrayValue?.isEmpty == true)
            #expect(try await a.raw(.get, "/artifacts").json["artifacts"]?.arrayValue?.count == 1)
            // Unauthenticated requests are refused; the OpenAPI document is public.
            #expect(try await http.raw(.get, "/artifacts").status == .unauthorized)
            let openapi = try await http.raw(.get, "/openapi.json")
            #expect(openapi.status == .ok && openapi.json["paths"]?["/artifacts"] != nil)
        }
        #expect(try await s.server.store.artifactUsage(tenant: TenantID(rawValue: "acme")) == 1234)
        #expect(try await s.server.store.artifactUsage(tenant: TenantID(rawValue: "globex")) == 0)
    }

    @Test(arguments: ServerEngine.available) func rangeReadsAreCorrectAtTheBoundaries(engine: ServerEngine) async throws
    {
        let s = try await ArtifactServer(engine: engine)
        try await s.test { http in
            let bytes = pattern(1000, seed: 1)
            let id = try await http.uploadedId(bytes)
            func get(_ range: String, ifRange: String? = nil, method: HTTPRequest.Method = .get) async throws
                -> BinaryReply
            {
                var h = HTTPFields()
                h[.range] = range
                if let ifRange { h[.ifRange] = ifRange }
                return try await http.raw(method, "/artifacts/\(id)", headers: h)
            }
            let cases: [(String, Range<Int>)] = [
                ("bytes=0-0", 0..<1), ("bytes=999-999", 999..<1000), ("bytes=999-", 999..<1000),
                ("bytes=0-999", 0..<1000), ("bytes=0-5000", 0..<1000), ("bytes=-1", 999..<1000),
                ("bytes=-1000", 0..<1000), ("bytes=-5000", 0..<1000), ("bytes=500-599", 500..<600),
            ]
            for (header, expected) in cases {
                let reply = try await get(header)
                #expect(reply.status == .partialContent, "\(header)")
                #expect(reply.body == Array(bytes[expected]), "\(header)")
                #expect(reply.headers[.contentLength] == String(expected.count), "\(header)")
                #expect(
                    reply.headers[.contentRange] == "bytes \(expected.lowerBound)-\(expected.upperBound - 1)/1000",
                    "\(header)")
            }
            for header in ["bytes=1000-", "bytes=1000-1000", "bytes=-0"] {
                let reply = try await get(header)
                #expect(reply.status == .rangeNotSatisfiable, "\(header)")
                #expect(reply.headers[.contentRange] == "bytes */1000", "\(header)")
            }
            for header in ["bytes=5-3", "bytes=abc", "bytes=1-2-3", "bytes=--1"] {
                #expect(try await get(header).status == .badRequest, "\(header)")
            }
            // Several ranges, another unit, or a stale If-Range: the whole artifact.
            for (header, ifRange) in [("bytes=0-1,5-6", nil), ("items=0-1", nil), ("bytes=0-1", "\"other\"")] {
                let reply = try await get(header, ifRange: ifRange)
                #expect(reply.status == .ok && reply.body == bytes, "\(header)")
            }
            let head = try await get("bytes=10-19", method: .head)
            #expect(head.status == .partialContent && head.headers[.contentLength] == "10" && head.body.isEmpty)
            let empty = try await http.uploadedId([], query: "name=empty")
            #expect(try await http.raw(.get, "/artifacts/\(empty)").status == .ok)
            var h = HTTPFields()
            h[.range] = "bytes=0-"
            #expect(try await http.raw(.get, "/artifacts/\(empty)", headers: h).status == .rangeNotSatisfiable)
        }
    }

    @Test(arguments: ServerEngine.available) func listFiltersByOwnerAndPrefixAndPaginates(engine: ServerEngine)
        async throws
    {
        let s = try await ArtifactServer(engine: engine)
        try await s.test { http in
            for (name, owner) in [("logs/a", "x"), ("logs/b", "y"), ("logs/c", "x"), ("out/d", "x"), ("logs/e", "x")] {
                _ = try await http.uploadedId(Array(name.utf8), query: "name=\(name)&owner=\(owner)")
            }
            var names: [String] = []
            var cursor: String?
            repeat {
                let page = try await http.raw(
                    .get, "/artifacts?owner=x&prefix=logs/&limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(page.status == .ok)
                names += page.json["artifacts"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
                cursor = page.json["nextCursor"]?.stringValue
            } while cursor != nil
            #expect(names == ["logs/a", "logs/c", "logs/e"])
            #expect(try await http.raw(.get, "/artifacts?limit=0").status == .badRequest)
            #expect(try await http.raw(.get, "/artifacts?cursor=zz").status == .badRequest)
        }
    }

    // MARK: The sweeper

    @Test(arguments: ServerEngine.available)
    func sweeperRemovesExpiredArtifactsStaleFilesAndOrphansButNotUploadsInFlight(engine: ServerEngine) async throws {
        // Temporary files age by the file system's clock; artifacts expire by the server's.
        let clock = ManualClock(Timestamp.now())
        let s = try await ArtifactServer(engine: engine, clock: clock)
        let service = s.server.artifacts
        let (keptId, expiringId, lostId) = try await s.test { http in
            (
                try await http.uploadedId(pattern(100, seed: 1), query: "name=kept"),
                try await http.uploadedId(pattern(100, seed: 2), query: "name=expiring&ttl=60"),
                try await http.uploadedId(pattern(100, seed: 3), query: "name=lost")
            )
        }
        // A temporary file left by an upload that died, an hour old.
        let stale = s.blobs + "/tmp/" + Identifier.randomHex() + ".part"
        _ = FileManager.default.createFile(atPath: stale, contents: Data([1, 2, 3]))
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: stale)
        // An upload in flight whose file is just as old (a slow client): it must survive.
        let inFlight = try await service.beginUpload(ArtifactUploadRequest(name: "slow"), tenant: .default)
        try pattern(50).withUnsafeBytes { try inFlight.append($0) }
        let inFlightPart = try #require(try s.partFiles().first { s.blobs + "/tmp/" + $0 != stale })
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: s.blobs + "/tmp/" + inFlightPart)
        // A blob nothing references, and a row whose blob has vanished.
        let orphan = pattern(77, seed: 4)
        let orphanDigest = sha256Hex(orphan)
        let orphanDirectory = s.blobs + "/sha256/" + orphanDigest.prefix(2)
        try FileManager.default.createDirectory(atPath: orphanDirectory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: orphanDirectory + "/" + orphanDigest, contents: Data(orphan))
        let lostDigest = sha256Hex(pattern(100, seed: 3))
        try FileManager.default.removeItem(atPath: s.blobs + "/sha256/" + lostDigest.prefix(2) + "/" + lostDigest)

        clock.advance(milliseconds: 120_000)
        let report = try await service.sweep(staleAfterSeconds: 600)
        #expect(report.staleWrites == 1 && report.expired == 1 && report.orphanBlobs == 1 && report.missingBlobs == 1)
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(try s.partFiles() == [inFlightPart])
        try await s.test { (http: HTTP) async throws -> Void in
            #expect(try await http.raw(.get, "/artifacts/\(keptId)").status == .ok)
            #expect(try await http.raw(.get, "/artifacts/\(expiringId)").status == .notFound)
            #expect(try await http.raw(.get, "/artifacts/\(lostId)").status == .notFound)
        }
        // The slow upload completes normally after the sweep.
        let committed = try await inFlight.commit()
        #expect(committed.artifact.size == 50 && !committed.replayed)
        try await s.expectClean(artifacts: 2, blobs: 2, usage: 150)
        // A second pass finds nothing more to do.
        #expect(try await service.sweep(staleAfterSeconds: 600) == ArtifactService.SweepReport())
    }

    @Test(arguments: ServerEngine.available) func expiryInThePastOrGivenTwiceIsRefused(engine: ServerEngine)
        async throws
    {
        let s = try await ArtifactServer(engine: engine)
        try await s.test { http in
            let past = try await http.upload(pattern(10), query: "name=a&expiresAt=2001-01-01T00:00:00Z")
            #expect(past.status == .badRequest && past.json["field"] == .string("expiresAt"))
            let both = try await http.upload(pattern(10), query: "name=a&ttl=5&expiresAt=2101-01-01T00:00:00Z")
            #expect(both.status == .badRequest)
        }
        try await s.expectClean()
    }
}
