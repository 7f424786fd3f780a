import Cairn
import CairnCore
import CairnServer
import CairnStore
import CairnTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// The live S3 listener of an HTTP test.
struct WorkspaceTestServer: Sendable {
    let url: String
    let admin: SigV4.Credentials

    /// A client with other credentials.
    func client(_ credentials: SigV4.Credentials) throws -> Workspaces {
        try Cairn.http(url: "http://127.0.0.1:1").workspaces(endpoint: url, credentials: credentials)
    }

    /// A plain S3 client with the admin key.
    func s3() throws -> S3Client {
        try S3Client(configuration: .init(endpoint: URL(string: url)!, credentials: admin))
    }
}

/// A workspace client: embedded on a fresh data directory, or over HTTP against a fresh live
/// server's S3 listener with an admin S3 key. `body` also gets the server (nil when embedded:
/// nothing checks credentials there).
func withWorkspaces(
    _ kind: TransportKind, _ body: @escaping @Sendable (Workspaces, WorkspaceTestServer?) async throws -> Void
) async throws {
    let directory = ScratchDirectory.path("cairn-sdk-ws")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    switch kind {
    case .embedded:
        try await body(try Cairn.embedded(dataDirectory: directory).workspaces(), nil)
    case .http:
        var configuration = ServerConfiguration()
        configuration.dataDirectory = directory
        let server = try CairnServer(configuration: configuration, registry: nil, logger: Logger(label: "sdk-test"))
        let admin = try await server.keys.createS3Key(tenant: "default", name: "sdk", scopes: [.admin])
        let keys = server.keys
        let listener = S3Listener(
            workspaces: server.workspaces, keys: { id in try await keys.activeS3Key(accessKeyId: id) },
            clock: server.workspaces.clock, logger: Logger(label: "sdk-test-s3"),
            iam: IAMService(store: server.store, clock: server.workspaces.clock))
        let app = Application(
            responder: listener.responder(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let server = WorkspaceTestServer(
                url: "http://127.0.0.1:\(try #require(client.port))",
                admin: SigV4.Credentials(accessKeyId: admin.accessKeyId, secretAccessKey: admin.secret))
            try await body(try server.client(server.admin), server)
        }
    }
}

/// A file of `size` deterministic bytes in the temporary directory.
func temporaryFile(size: Int, seed: UInt8 = 7) throws -> (path: String, bytes: [UInt8]) {
    let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* Int(seed) &+ $0 >> 13) }
    let path = ScratchDirectory.path("cairn-sdk-file")
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
        throw WorkspaceError.file("cannot create \(path)")
    }
    return (path, bytes)
}

func refusal(_ error: any Error) -> (status: Int, code: String)? {
    guard case WorkspaceError.refused(let status, let code, _) = error else { return nil }
    return (status, code)
}

@Suite struct WorkspaceSDKTests {
    @Test(arguments: TransportKind.allCases)
    func objectsStreamToAndFromFilesAndCheckpointsReadTheirPast(_ kind: TransportKind) async throws {
        try await withWorkspaces(kind) { workspaces, _ in
            let workspace = try await workspaces.create("notes-\(kind)", ttlDays: 3)
            #expect(workspace.credentials == nil)
            #expect(try await workspaces.list().contains("notes-\(kind)"))

            try await workspaces.put(workspace.name, key: "plan.md", bytes: Array("draft 1".utf8))
            // 20 MiB: over HTTP a multipart upload of 8 MiB parts.
            let (path, bytes) = try temporaryFile(size: 20 << 20)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let reported = Counter()
            let eTag = try await workspaces.put(workspace.name, key: "data/big.bin", file: path) { sent, total in
                #expect(sent <= total ?? -1 && total == Int64(bytes.count))
                if sent == total { reported.bump("done") }
            }
            #expect(!eTag.isEmpty)
            #expect(reported["done"] >= 1)

            let listed = try await workspaces.objects(workspace.name)
            #expect(listed.map(\.key) == ["data/big.bin", "plan.md"])
            #expect(listed.first?.size == Int64(bytes.count))
            let info = try await workspaces.info(workspace.name, key: "data/big.bin")
            #expect(info.size == Int64(bytes.count) && info.eTag == eTag && info.lastModified != nil)
            #expect(try await workspaces.objects(workspace.name, prefix: "data/").map(\.key) == ["data/big.bin"])

            let copy = path + ".copy"
            defer { try? FileManager.default.removeItem(atPath: copy) }
            try await workspaces.download(workspace.name, key: "data/big.bin", to: copy)
            #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == Data(bytes))

            let first = try await workspaces.checkpoint(workspace.name, name: "before-edit")
            try await workspaces.put(workspace.name, key: "plan.md", bytes: Array("draft 2".utf8))
            try await workspaces.delete(workspace.name, key: "data/big.bin")
            #expect(try await workspaces.get(workspace.name, key: "plan.md") == Array("draft 2".utf8))
            #expect(
                try await workspaces.get(workspace.name, key: "plan.md", at: first.version) == Array("draft 1".utf8))
            #expect(try await workspaces.objects(workspace.name).map(\.key) == ["plan.md"])
            #expect(try await workspaces.objects(workspace.name, at: first.version).count == 2)
            let checkpoints = try await workspaces.checkpoints(workspace.name)
            #expect(checkpoints.contains { $0.version == first.version && $0.name == "before-edit" })

            do {
                _ = try await workspaces.get(workspace.name, key: "data/big.bin")
                Issue.record("a deleted key was read")
            } catch {
                #expect(refusal(error)?.code == "NoSuchKey" && refusal(error)?.status == 404)
            }

            // Restore by name: a fork as of the checkpoint; the source is unchanged.
            let restored = try await workspaces.restore(
                workspace.name, checkpoint: "before-edit", into: "restored-\(kind)")
            #expect(restored.forkedAt == first.version)
            #expect(try await workspaces.get(restored.name, key: "plan.md") == Array("draft 1".utf8))
            try await workspaces.download(restored.name, key: "data/big.bin", to: copy)
            #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == Data(bytes))
            #expect(try await workspaces.get(workspace.name, key: "plan.md") == Array("draft 2".utf8))

            try await workspaces.teardown(restored.name)
            try await workspaces.teardown(workspace.name)
            #expect(try await workspaces.list().isEmpty)
        }
    }

    @Test(arguments: TransportKind.allCases)
    func forksAreIndependentAndTornDownTogether(_ kind: TransportKind) async throws {
        try await withWorkspaces(kind) { workspaces, _ in
            let source = try await workspaces.create("source-\(kind)")
            try await workspaces.put(source.name, key: "shared.txt", bytes: Array("base".utf8))
            let forks = try await workspaces.createForks(source.name, count: 3, prefix: "try-\(kind)")
            #expect(forks.map(\.name) == ["try-\(kind)-1", "try-\(kind)-2", "try-\(kind)-3"])
            #expect(Set(forks.compactMap(\.forkedAt)).count == 1)
            for (index, fork) in forks.enumerated() {
                try await workspaces.put(fork.name, key: "result.txt", bytes: Array("answer \(index)".utf8))
                #expect(try await workspaces.get(fork.name, key: "shared.txt") == Array("base".utf8))
            }
            #expect(try await workspaces.get(forks[2].name, key: "result.txt") == Array("answer 2".utf8))
            #expect(try await workspaces.objects(source.name).map(\.key) == ["shared.txt"])

            try await workspaces.teardownForks(forks.map(\.name))
            #expect(try await workspaces.list() == [source.name])
            #expect(try await workspaces.get(source.name, key: "shared.txt") == Array("base".utf8))
        }
    }

    @Test(arguments: TransportKind.allCases)
    func changeEventsArriveFilteredAndResumable(_ kind: TransportKind) async throws {
        try await withWorkspaces(kind) { workspaces, _ in
            let workspace = try await workspaces.create("events-\(kind)")
            // An invalid filter is refused when it is set, never dropped at delivery.
            do {
                try await workspaces.setNotifications(
                    workspace.name, ObjectNotificationSettings(enabled: true, webHook: nil, filter: "WHERE `key` ==="))
                Issue.record("an invalid filter was accepted")
            } catch {
                #expect(refusal(error)?.status == 400)
            }
            try await workspaces.setNotifications(
                workspace.name,
                ObjectNotificationSettings(enabled: true, webHook: nil, filter: #"WHERE `key` REGEXP "^results/""#))
            try await workspaces.put(workspace.name, key: "scratch.txt", bytes: [1])
            try await workspaces.put(workspace.name, key: "results/a.json", bytes: Array("{}".utf8))
            try await workspaces.delete(workspace.name, key: "results/a.json")

            var iterator = workspaces.changes(workspace.name).makeAsyncIterator()
            let created = try #require(try await iterator.next())
            #expect(created.seq == 1 && created.eventName == "OBJECT_CREATED_PUT" && created.key == "results/a.json")
            #expect(created.size == 2 && created.bucket == workspace.name)
            let deleted = try #require(try await iterator.next())
            #expect(deleted.seq == 2 && deleted.eventName == "OBJECT_DELETED")

            // A live event arrives on the open stream; a new stream resumes after a number.
            try await workspaces.put(workspace.name, key: "results/b.json", bytes: Array("[]".utf8))
            let live = try #require(try await iterator.next())
            #expect(live.seq == 3 && live.key == "results/b.json")
            var resumed = workspaces.changes(workspace.name, after: 2).makeAsyncIterator()
            #expect(try await resumed.next()?.seq == 3)

            try await workspaces.clearNotifications(workspace.name)
            try await workspaces.teardown(workspace.name)
        }
    }

    @Test(arguments: TransportKind.allCases)
    func scopedCredentialsAreCreatedAndRevokedWithTheirWorkspace(_ kind: TransportKind) async throws {
        try await withWorkspaces(kind) { workspaces, server in
            let editor = try await workspaces.create("scoped-\(kind)", credentials: .editor)
            let other = try await workspaces.create("other-\(kind)")
            let credentials = try #require(editor.credentials)
            #expect(credentials.role == .editor && credentials.policyArn.hasSuffix(":policy/scoped-\(kind)-key-policy"))
            try await workspaces.put(editor.name, key: "seed.txt", bytes: [0])
            let reader = try await workspaces.fork(editor.name, into: "scoped-fork-\(kind)", credentials: .readOnly)
            #expect(reader.credentials?.accessKeyId != credentials.accessKeyId)

            if let server {
                // Over HTTP the server enforces the policies: Editor on its own bucket only, ReadOnly reads.
                let agent = try server.client(credentials.credentials)
                try await agent.put(editor.name, key: "mine.txt", bytes: [1, 2])
                #expect(try await agent.get(editor.name, key: "mine.txt") == [1, 2])
                do {
                    try await agent.put(other.name, key: "not-mine.txt", bytes: [3])
                    Issue.record("an Editor key wrote outside its workspace")
                } catch {
                    #expect(refusal(error)?.code == "AccessDenied")
                }
                let readOnly = try server.client(try #require(reader.credentials).credentials)
                #expect(try await readOnly.objects(reader.name).map(\.key) == ["seed.txt"])
                #expect(try await readOnly.get(reader.name, key: "seed.txt") == [0])
                do {
                    try await readOnly.put(reader.name, key: "x", bytes: [1])
                    Issue.record("a ReadOnly key wrote")
                } catch {
                    #expect(refusal(error)?.code == "AccessDenied")
                }

                // Teardown revokes the key: its next request is refused.
                try await workspaces.teardown(editor.name)
                do {
                    _ = try await agent.objects(other.name)
                    Issue.record("a revoked key was accepted")
                } catch {
                    #expect(refusal(error)?.status == 403)
                }
            } else {
                try await workspaces.teardown(editor.name)
            }
            // Nothing of the revoked credentials is left to find.
            #expect(try await workspaces.revokeCredentials(editor.name) == nil)
            #expect(try await workspaces.revokeCredentials(reader.name) == reader.credentials?.accessKeyId)
            try await workspaces.teardown(reader.name)
            try await workspaces.teardown(other.name)
        }
    }

    @Test(arguments: TransportKind.allCases)
    func badRequestsAreRefusedAndChangeNothing(_ kind: TransportKind) async throws {
        try await withWorkspaces(kind) { workspaces, _ in
            await #expect(throws: WorkspaceError.self) { try await workspaces.create("x", ttlDays: 0) }
            do {
                _ = try await workspaces.create("Not A Bucket")
                Issue.record("an invalid name was accepted")
            } catch {
                #expect(refusal(error)?.status == 400)
            }
            do {
                _ = try await workspaces.fork("missing-bucket", into: "fork-of-missing")
                Issue.record("a fork of a missing bucket was made")
            } catch {
                #expect(refusal(error)?.code == "NoSuchBucket")
            }
            await #expect(throws: WorkspaceError.self) {
                try await workspaces.put("missing-bucket", key: "k", file: "/nonexistent/file")
            }
            let left = try await workspaces.list()
            #expect(left.isEmpty)
        }
    }

    /// An upload that stopped part-way continues: parts stored with the same bytes are kept,
    /// a part stored with other bytes is sent again, and the object comes out whole.
    @Test func resumedUploadsContinueTheUnfinishedOne() async throws {
        try await withWorkspaces(.http) { workspaces, server in
            _ = try await workspaces.create("resume")
            let (path, bytes) = try temporaryFile(size: 26 << 20, seed: 11)
            defer { try? FileManager.default.removeItem(atPath: path) }
            // The first attempt "died" after storing part 1 correctly and part 2 with stale bytes.
            let s3 = try #require(server).s3()
            defer { Task { try? await s3.shutdown() } }
            let uploadId = try await s3.createMultipartUpload(bucket: "resume", key: "big.bin")
            _ = try await s3.uploadPart(
                bucket: "resume", key: "big.bin", uploadId: uploadId, partNumber: 1,
                body: ByteBuffer(bytes: bytes[0..<(8 << 20)]))
            _ = try await s3.uploadPart(
                bucket: "resume", key: "big.bin", uploadId: uploadId, partNumber: 2,
                body: ByteBuffer(repeating: 9, count: 8 << 20))
            let eTag = try await workspaces.put("resume", key: "big.bin", file: path, resume: true)
            #expect(eTag.hasSuffix("-4"))
            #expect(try await workspaces.get("resume", key: "big.bin", limit: 32 << 20) == bytes)
            // The unfinished upload was the one completed: none is left.
            #expect(try await s3.listMultipartUploads(bucket: "resume", prefix: "").uploads.isEmpty)
        }
    }
}
