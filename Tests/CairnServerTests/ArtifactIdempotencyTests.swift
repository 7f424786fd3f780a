import CairnCore
import CairnServer
import CairnStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

private let idempotencyKey = HTTPField.Name("Idempotency-Key")!
private let replayedHeader = HTTPField.Name("Idempotent-Replayed")!

private func keyed(_ key: String) -> HTTPFields {
    var h = HTTPFields()
    h[idempotencyKey] = key
    return h
}

extension HTTP {
    /// An upload whose header fields are sent exactly as given (no merging, no re-legalizing).
    func uploadExact(_ bytes: [UInt8], query: String = "name=a.bin", fields: [HTTPField]) async throws -> BinaryReply {
        var all = headers
        all[.contentLength] = String(bytes.count)
        all.append(contentsOf: fields)
        return try await client.execute(
            uri: "/artifacts?\(query)", method: .post, headers: all, body: ByteBuffer(bytes: bytes)
        ) { BinaryReply(status: $0.status, headers: $0.headers, body: Array($0.body.readableBytesView)) }
    }
}

@Suite struct ArtifactIdempotencyTests {
    // MARK: Idempotency-Key

    @Test(arguments: ServerEngine.available) func aRetryWithTheSameKeyReplaysTheFirstArtifact(engine: ServerEngine)
        async throws
    {
        let s = try await ArtifactServer(engine: engine)
        try await s.test { http in
            let bytes = pattern(20_000, seed: 7)
            let digest = sha256Hex(bytes)
            let first = try await http.upload(bytes, query: "name=r.bin&sha256=\(digest)", headers: keyed("job-42"))
            #expect(first.status == .created, "\(first.text)")
            #expect(first.headers[replayedHeader] == nil)
            let id = try #require(first.json["artifact"]?["id"]?.stringValue)

            // The retry (same request) and a retry without sha256 whose body differs: the key
            // decides, and the stored record comes back unchanged.
            for (body, query) in [(bytes, "name=r.bin&sha256=\(digest)"), (pattern(5, seed: 1), "name=r.bin")] {
                let again = try await http.upload(body, query: query, headers: keyed("job-42"))
                #expect(again.status == .ok, "\(again.text)")
                #expect(again.json == first.json, "the same record, in the same shape")
                #expect(again.headers[replayedHeader] == "true")
                #expect(again.headers[.location] == "/artifacts/\(id)" && again.headers[.eTag] == "\"\(digest)\"")
                #expect(again.headers[.connection] != "close", "the body was read: the connection stays usable")
            }
            try await s.expectClean(artifacts: 1, blobs: 1, usage: 20_000)
            #expect(try await http.raw(.get, "/artifacts/\(id)").body == bytes)
            // Without the key, the same bytes make a second artifact as before.
            #expect(try await http.upload(bytes, query: "name=r.bin").status == .created)
            try await s.expectClean(artifacts: 2, blobs: 1, usage: 40_000)
        }
    }

    /// A client that waits for `100 Continue` is answered without sending its body.
    @Test(arguments: ServerEngine.available) func theReplayIsAnsweredBeforeTheBodyIsSent(engine: ServerEngine)
        async throws
    {
        let s = try await ArtifactServer(engine: engine)
        let id = try await s.test { http in
            try await http.uploadedId(pattern(100), query: "name=first", key: "k-before-body")
        }
        try await s.live { port in
            // Ten megabytes announced, none sent: only an answer that does not wait for the body
            // can arrive.
            let socket = try RawSocket(port: port)
            defer { socket.close() }
            await socket.send(
                "POST /artifacts?name=first HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-before-body\r\n"
                    + "Expect: 100-continue\r\nContent-Length: 10000000\r\n\r\n")
            let response = await socket.readResponse()
            #expect(response.hasPrefix("HTTP/1.1 200"), "\(response)")
            #expect(!response.contains("100 Continue"), "no body was asked for")
            #expect(response.lowercased().contains("idempotent-replayed: true"))
            #expect(response.lowercased().contains("connection: close"))
            #expect(response.contains(id))
        }
        try await s.expectClean(artifacts: 1, blobs: 1, usage: 100)
    }

    @Test(arguments: ServerEngine.available) func theSameKeyWithAnotherSHA256IsAConflict(engine: ServerEngine)
        async throws
    {
        let s = try await ArtifactServer(engine: engine)
        try await s.test { http in
            let bytes = pattern(3000, seed: 2)
            let id = try await http.uploadedId(bytes, query: "name=x", key: "reused")
            let other = pattern(4000, seed: 3)
            let reply = try await http.upload(
                other, query: "name=x&sha256=\(sha256Hex(other))", headers: keyed("reused"))
            #expect(reply.status == .conflict, "\(reply.text)")
            #expect(reply.json["code"] == .string("idempotency_key_reused"))
            #expect(reply.json["artifactId"] == .string(id) && reply.json["sha256"] == .string(sha256Hex(bytes)))
            #expect(reply.headers[replayedHeader] == nil)
            // Any case of the right digest is the same digest: a replay.
            let same = try await http.upload(
                bytes, query: "name=x&sha256=\(sha256Hex(bytes).uppercased())", headers: keyed("reused"))
            #expect(same.status == .ok && same.json["artifact"]?["id"] == .string(id))
        }
        try await s.expectClean(artifacts: 1, blobs: 1, usage: 3000)
    }

    @Test(arguments: ServerEngine.available) func concurrentUploadsWithTheSameKeyStoreExactlyOne(engine: ServerEngine)
        async throws
    {
        let s = try await ArtifactServer(engine: engine)
        let sizes = (0..<8).map { 1000 + $0 * 10 }
        let replies = try await s.test { http in
            try await withThrowingTaskGroup(of: BinaryReply.self) { group in
                for (i, size) in sizes.enumerated() {
                    group.addTask {
                        try await http.upload(
                            pattern(size, seed: UInt8(i + 1)), query: "name=c\(i)", headers: keyed("same-key"))
                    }
                }
                return try await group.reduce(into: [BinaryReply]()) { $0.append($1) }
            }
        }
        let created = replies.filter { $0.status == .created }
        #expect(created.count == 1, "\(replies.map(\.status))")
        let winner = try #require(created.first?.json["artifact"])
        let winnerId = try #require(winner["id"]?.stringValue)
        let replayed = replies.filter { $0.status == .ok }
        #expect(replayed.count == 7, "\(replies.map { "\($0.status) \($0.text)" })")
        for reply in replayed {
            #expect(reply.json["artifact"] == winner)
            #expect(reply.headers[replayedHeader] == "true")
            #expect(reply.headers[.location] == "/artifacts/\(winnerId)")
        }
        // Only the winner's row, reference, blob and bytes: the losers' blobs are gone.
        try await s.expectClean(artifacts: 1, blobs: 1, usage: Int64(try #require(winner["size"]?.intValue)))
        #expect(try s.blobFiles() == [try #require(winner["sha256"]?.stringValue)])
    }

    @Test(arguments: ServerEngine.available) func losingTheCommitRaceLeavesNothingAndAnswersWithTheWinner(
        engine: ServerEngine
    ) async throws {
        // Two attempts that both started before either committed (so `replay` found nothing for
        // either): the commit's transaction decides, deterministically here.
        let s = try await ArtifactServer(engine: engine)
        let service = s.server.artifacts
        func start(_ bytes: [UInt8], expect sha256: String? = nil) async throws -> ArtifactUpload {
            let request = ArtifactUploadRequest(
                name: "race", expectedSHA256: sha256, declaredLength: Int64(bytes.count), idempotencyKey: "race-key")
            #expect(try await service.replay(request, tenant: .default) == nil)
            let upload = try await service.beginUpload(request, tenant: .default)
            try bytes.withUnsafeBytes { try upload.append($0) }
            return upload
        }
        let winnerBytes = pattern(500, seed: 1)
        let loserBytes = pattern(700, seed: 2)
        let checkedBytes = pattern(900, seed: 3)
        let winner = try await start(winnerBytes)
        let loser = try await start(loserBytes)
        let checked = try await start(checkedBytes, expect: sha256Hex(checkedBytes))
        let sameContent = try await start(winnerBytes)
        #expect(try s.partFiles().count == 4)

        let won = try await winner.commit()
        #expect(!won.replayed && won.artifact.sha256 == sha256Hex(winnerBytes))
        let lost = try await loser.commit()
        #expect(lost.replayed && lost.artifact == won.artifact)
        // An attempt that expected other bytes is not a retry: 409, and it stores nothing either.
        await #expect(throws: ArtifactError.idempotencyKeyReused(key: "race-key", existing: won.artifact)) {
            try await checked.commit()
        }
        checked.abort()
        // Same bytes as the winner: the shared blob must survive the loser's cleanup.
        let same = try await sameContent.commit()
        #expect(same.replayed && same.artifact == won.artifact)

        try await s.expectClean(artifacts: 1, blobs: 1, usage: 500)
        #expect(try s.blobFiles() == [sha256Hex(winnerBytes)])
        #expect(try await service.usage(tenant: .default) == 500)
        #expect(try await service.sweep(staleAfterSeconds: 600) == ArtifactService.SweepReport())
    }

    @Test(arguments: ServerEngine.available) func keysBelongToOneTenantAndAreFreedByDeleteAndExpiry(
        engine: ServerEngine
    ) async throws {
        let root = "root-key-0123456789abcdef"
        let clock = ManualClock()
        let s = try await ArtifactServer(engine: engine, apiKey: root, clock: clock)
        try await s.test { http in
            func key(_ tenant: String) async throws -> HTTP {
                http.authorized(try await http.newKey(root: root, tenant: tenant))
            }
            let a = try await key("acme")
            let b = try await key("globex")
            let first = try await a.uploadedId(pattern(100, seed: 1), query: "name=x", key: "shared")
            let other = try await b.uploadedId(pattern(200, seed: 2), query: "name=x", key: "shared")
            #expect(first != other)
            // Each tenant's retry finds its own artifact.
            let replayA = try await a.upload(pattern(100, seed: 1), query: "name=x", headers: keyed("shared"))
            #expect(replayA.status == .ok && replayA.json["artifact"]?["id"] == .string(first))
            let replayB = try await b.upload(pattern(200, seed: 2), query: "name=x", headers: keyed("shared"))
            #expect(replayB.status == .ok && replayB.json["artifact"]?["id"] == .string(other))

            // Deleting frees the key: the next upload under it is a new artifact.
            #expect(try await a.raw(.delete, "/artifacts/\(first)").status == .ok)
            let second = try await a.uploadedId(pattern(300, seed: 3), query: "name=x", key: "shared")
            #expect(second != first)
            #expect(try await b.raw(.get, "/artifacts/\(other)").status == .ok)

            // An expired artifact (not swept yet) gives its key up too.
            let expiring = try await a.uploadedId(pattern(50, seed: 4), query: "name=e&ttl=1", key: "short-lived")
            clock.advance(milliseconds: 1_000)
            let fresh = try await a.upload(pattern(60, seed: 5), query: "name=e", headers: keyed("short-lived"))
            #expect(fresh.status == .created, "\(fresh.text)")
            #expect(fresh.json["artifact"]?["id"]?.stringValue != expiring)
        }
        #expect(try await s.server.store.artifactUsage(tenant: TenantID(rawValue: "acme")) == 300 + 50 + 60)
        #expect(try await s.server.store.artifactUsage(tenant: TenantID(rawValue: "globex")) == 200)
    }

    @Test(arguments: ServerEngine.available) func malformedKeysAreRefused(engine: ServerEngine) async throws {
        let s = try await ArtifactServer(engine: engine)
        try await s.test { http in
            let bad: [[HTTPField]] = [
                [HTTPField(name: idempotencyKey, value: "")],
                [HTTPField(name: idempotencyKey, value: String(repeating: "k", count: 256))],
                [HTTPField(name: idempotencyKey, value: "tab\there")],
                [HTTPField(name: idempotencyKey, lenientValue: Array("ctl\u{01}x".utf8))],
                [HTTPField(name: idempotencyKey, value: "caf\u{E9}")],
                [HTTPField(name: idempotencyKey, value: "one"), HTTPField(name: idempotencyKey, value: "two")],
            ]
            for fields in bad {
                let reply = try await http.uploadExact(pattern(10), fields: fields)
                #expect(reply.status == .badRequest, "\(fields): \(reply.text)")
                #expect(reply.json["code"] == .string("invalid_request"), "\(fields)")
                #expect(reply.json["field"] == .string("Idempotency-Key"), "\(fields)")
            }
            try await s.expectClean()
            // The longest key, and one with spaces and punctuation, are fine.
            for key in [String(repeating: "k", count: 255), "order 17/retry:#1 ~ok"] {
                let reply = try await http.uploadExact(
                    pattern(10), fields: [HTTPField(name: idempotencyKey, value: key)])
                #expect(reply.status == .created, "\(reply.text)")
            }
        }
        try await s.expectClean(artifacts: 2, blobs: 1, usage: 20)
    }

    // MARK: The server's maximum TTL

    @Test(arguments: ServerEngine.available) func theMaximumTTLRefusesLaterExpiriesAndBoundsUploadsWithout(
        engine: ServerEngine
    ) async throws {
        let s = try await ArtifactServer(engine: engine, maxArtifactTTLSeconds: 3600)
        try await s.test { http in
            for query in ["name=a&ttl=3601", "name=a&ttl=86400", "name=a&expiresAt=2100-01-01T00:00:00Z"] {
                let reply = try await http.upload(pattern(10), query: query)
                #expect(reply.status == .badRequest, "\(query): \(reply.text)")
                #expect(reply.json["code"] == .string("invalid_request") && reply.json["field"] == .string("expiresAt"))
                #expect(reply.json["error"]?.stringValue?.contains("3600") == true, "names the maximum")
            }
            try await s.expectClean()

            let before = Timestamp.now()
            let unbounded = try await http.upload(pattern(10), query: "name=none")
            let after = Timestamp.now()
            #expect(unbounded.status == .created, "\(unbounded.text)")
            let expiresAt = try #require(
                unbounded.json["artifact"]?["expiresAt"]?.stringValue.flatMap(Timestamp.init(iso8601:)))
            #expect(expiresAt >= before.adding(milliseconds: 3_600_000))
            #expect(expiresAt <= after.adding(milliseconds: 3_600_000))

            let within = try await http.upload(pattern(20), query: "name=within&ttl=60")
            #expect(within.status == .created, "\(within.text)")
            let withinExpiry = try #require(
                within.json["artifact"]?["expiresAt"]?.stringValue.flatMap(Timestamp.init(iso8601:)))
            #expect(withinExpiry <= Timestamp.now().adding(milliseconds: 60_000))
            #expect(try await http.upload(pattern(30), query: "name=max&ttl=3600").status == .created)
        }
        try await s.expectClean(artifacts: 3, blobs: 3, usage: 60)
    }

    @Test(arguments: ServerEngine.available) func withoutAMaximumUploadsMayNeverExpire(engine: ServerEngine)
        async throws
    {
        let s = try await ArtifactServer(engine: engine)
        try await s.test { http in
            let reply = try await http.upload(pattern(10), query: "name=forever")
            #expect(reply.status == .created && reply.json["artifact"]?["expiresAt"] == .null)
            #expect(try await http.upload(pattern(10), query: "name=long&ttl=86400000").status == .created)
        }
    }

    @Test func theMaximumTTLSettingIsValidated() throws {
        var c = ServerConfiguration()
        c.maxArtifactTTLSeconds = -1
        #expect(throws: ServerConfiguration.Invalid.self) { try c.validate() }
        c.maxArtifactTTLSeconds = ServerConfiguration.maxArtifactTTLLimit + 1
        #expect(throws: ServerConfiguration.Invalid.self) { try c.validate() }
        c.maxArtifactTTLSeconds = 0
        try c.validate()
        c.maxArtifactTTLSeconds = 86_400
        try c.validate()
        #expect(c.summary.contains { $0 == ("max-artifact-ttl-seconds", "86400") })
    }
}

extension RawSocket {
    /// One response: its head and the `Content-Length` bytes after it (or whatever arrives
    /// within 20 s), without waiting for the server to close the connection.
    func readResponse() async -> String {
        let fd = self.fd
        return await withCheckedContinuation { c in
            DispatchQueue.global().async {
                var out: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let text = String(decoding: out, as: UTF8.self)
                    if let end = text.range(of: "\r\n\r\n") {
                        let head = text[..<end.lowerBound].lowercased()
                        let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
                        if let length, out.count - text[..<end.upperBound].utf8.count >= length { break }
                    }
                    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n <= 0 { break }
                    out += buffer[0..<n]
                }
                c.resume(returning: String(decoding: out, as: UTF8.self))
            }
        }
    }
}

extension HTTP {
    func uploadedId(_ bytes: [UInt8], query: String, key: String) async throws -> String {
        let reply = try await upload(bytes, query: query, headers: keyed(key))
        #expect(reply.status == .created, "\(reply.text)")
        return try #require(reply.json["artifact"]?["id"]?.stringValue)
    }
}

@Suite struct ArtifactOpenAPITests {
    @Test(arguments: ServerEngine.available) func theDocumentDescribesIdempotentUploads(engine: ServerEngine)
        async throws
    {
        let s = try await ArtifactServer(engine: engine)
        try await s.test { http in
            let reply = try await http.raw(.get, "/openapi.json")
            #expect(reply.status == .ok)
            let post = try #require(reply.json["paths"]?["/artifacts"]?["post"])
            let parameters = post["parameters"]?.arrayValue ?? []
            let key = try #require(parameters.first { $0["name"] == .string("Idempotency-Key") })
            #expect(key["in"] == .string("header") && key["schema"]?["maxLength"]?.intValue == 255)
            #expect(post["responses"]?["200"]?["headers"]?["Idempotent-Replayed"] != nil)
            #expect(post["responses"]?["409"] != nil)
        }
    }
}
