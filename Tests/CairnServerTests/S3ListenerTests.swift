import CairnCore
import CairnServer
import CairnTestSupport
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// The S3 listener end to end: signed requests through Hummingbird's in-process client, over a
/// server on a fresh data directory.
@Suite struct S3ListenerTests {
    static let writer = S3Key(
        accessKeyId: "CKWRITERA000000000001", tenant: TenantID(rawValue: "alpha"), secret: "writer-secret-alpha",
        scopes: [.write], name: nil, createdAt: Timestamp(milliseconds: 0), revokedAt: nil)
    static let reader = S3Key(
        accessKeyId: "CKREADERA000000000002", tenant: TenantID(rawValue: "alpha"), secret: "reader-secret-alpha",
        scopes: [.read], name: nil, createdAt: Timestamp(milliseconds: 0), revokedAt: nil)
    static let other = S3Key(
        accessKeyId: "CKWRITERB000000000003", tenant: TenantID(rawValue: "beta"), secret: "writer-secret-beta",
        scopes: [.admin], name: nil, createdAt: Timestamp(milliseconds: 0), revokedAt: nil)
    static let revoked = S3Key(
        accessKeyId: "CKREVOKED000000000004", tenant: TenantID(rawValue: "alpha"), secret: "revoked-secret",
        scopes: [.admin], name: nil, createdAt: Timestamp(milliseconds: 0), revokedAt: Timestamp(milliseconds: 1))

    struct Reply: Sendable {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        func header(_ name: String) -> String? { headers[HTTPField.Name(name)!] }
        /// The text of the first `<name>` element of an XML body.
        func xml(_ name: String) -> String? {
            guard let root = try? S3XML.parse(body) else { return nil }
            func find(_ e: S3XMLElement) -> String? {
                if e.name == name { return e.text }
                for child in e.children { if let found = find(child) { return found } }
                return nil
            }
            return find(root)
        }
        /// Every `<name>` element's text.
        func xmlAll(_ name: String) -> [String] {
            guard let root = try? S3XML.parse(body) else { return [] }
            var out: [String] = []
            func walk(_ e: S3XMLElement) {
                if e.name == name { out.append(e.text) }
                e.children.forEach(walk)
            }
            walk(root)
            return out
        }
    }

    /// A client that signs its requests (SigV4, header form) with one key.
    struct Client: Sendable {
        let client: any TestClientProtocol
        var key: S3Key
        var secret: String?

        func send(
            _ method: HTTPRequest.Method, _ path: String, query: [(String, String)] = [],
            headers extra: [(String, String)] = [], body: [UInt8] = [], signed: Bool = true,
            payloadHash hash: String? = nil
        ) async throws -> Reply {
            let payloadHash = hash ?? Array(SHA256.hash(data: body)).hexString
            var fields = HTTPFields()
            for (name, value) in extra { fields[HTTPField.Name(name)!] = value }
            if signed {
                let added = SigV4.sign(
                    method: method.rawValue, path: path, query: query.map { (name: $0.0, value: $0.1) },
                    headers: [("host", "localhost")] + extra.map { (name: $0.0.lowercased(), value: $0.1) },
                    payloadHash: payloadHash,
                    credentials: .init(accessKeyId: key.accessKeyId, secretAccessKey: secret ?? key.secret),
                    region: "us-east-1", service: "s3", time: Date())
                for (name, value) in added { fields[HTTPField.Name(name)!] = value }
            }
            var uri = SigV4.percentEncode(path, keepSlashes: true)
            if !query.isEmpty {
                uri +=
                    "?"
                    + query.map { SigV4.percentEncode($0.0) + "=" + SigV4.percentEncode($0.1) }
                    .joined(separator: "&")
            }
            return try await client.execute(
                uri: uri, method: method, headers: fields, body: body.isEmpty ? nil : ByteBuffer(bytes: body)
            ) { response in
                Reply(status: response.status, headers: response.headers, body: Array(buffer: response.body))
            }
        }

        func `as`(_ key: S3Key) -> Client { Client(client: client, key: key, secret: nil) }
    }

    /// Runs `body` against an S3 listener over a fresh server's workspaces.
    func withS3(_ body: @escaping @Sendable (Client) async throws -> Void) async throws {
        var configuration = ServerConfiguration()
        configuration.dataDirectory = ScratchDirectory.path("cairn-s3")
        let server = try CairnServer(configuration: configuration, registry: nil, logger: Logger(label: "test"))
        let known = [Self.writer, Self.reader, Self.other, Self.revoked]
        let listener = S3Listener(
            workspaces: server.workspaces, keys: { id in known.first { $0.accessKeyId == id } },
            clock: SystemClock(), logger: Logger(label: "test.s3"))
        let app = Application(responder: listener.responder())
        try await app.test(.router) { client in
            try await body(Client(client: client, key: Self.writer, secret: nil))
        }
    }

    @Test func bucketAndObjectRoundTrip() async throws {
        try await withS3 { s3 in
            let created = try await s3.send(.put, "/photos")
            #expect(created.status == .ok)
            #expect(created.header("location") == "/photos")
            #expect(created.header("x-amz-request-id")?.count == 16)
            #expect(try await s3.send(.put, "/photos").status == .conflict)

            let content = Array("hello, workspace".utf8)
            let md5 = Array(Insecure.MD5.hash(data: content))
            let key = "dir/a b+c.txt"
            let put = try await s3.send(
                .put, "/photos/" + key,
                headers: [
                    ("content-type", "text/plain"), ("x-amz-meta-color", "blue"), ("content-md5", Base64.encode(md5)),
                ], body: content)
            #expect(put.status == .ok, "\(put.text)")
            #expect(put.header("etag") == "\"" + md5.hexString + "\"")
            #expect(put.header("x-amz-version-id") == nil)

            // A body that does not match its Content-MD5 is refused and not stored.
            let bad = try await s3.send(
                .put, "/photos/bad", headers: [("content-md5", Base64.encode(md5))], body: Array("other".utf8))
            #expect(bad.status == .badRequest)
            #expect(bad.xml("Code") == "BadDigest")

            let got = try await s3.send(.get, "/photos/" + key)
            #expect(got.status == .ok)
            #expect(got.body == content)
            #expect(got.header("content-type") == "text/plain")
            #expect(got.header("x-amz-meta-color") == "blue")
            #expect(got.header("last-modified")?.hasSuffix(" GMT") == true)

            let ranged = try await s3.send(.get, "/photos/" + key, headers: [("range", "bytes=7-15")])
            #expect(ranged.status == .partialContent)
            #expect(ranged.text == "workspace")
            #expect(ranged.header("content-range") == "bytes 7-15/\(content.count)")
            let unsatisfiable = try await s3.send(.get, "/photos/" + key, headers: [("range", "bytes=100-")])
            #expect(unsatisfiable.status == .rangeNotSatisfiable)

            let head = try await s3.send(.head, "/photos/" + key)
            #expect(head.status == .ok)
            #expect(head.header("content-length") == String(content.count))
            #expect(head.body.isEmpty)

            let list = try await s3.send(.get, "/photos", query: [("list-type", "2"), ("encoding-type", "url")])
            #expect(list.status == .ok)
            #expect(list.xmlAll("Key") == ["dir/a%20b%2Bc.txt"])
            #expect(list.xml("KeyCount") == "1")
            let rolled = try await s3.send(.get, "/photos", query: [("list-type", "2"), ("delimiter", "/")])
            #expect(rolled.xmlAll("Prefix").contains("dir/"))
            #expect(rolled.xmlAll("Key").isEmpty)

            let buckets = try await s3.send(.get, "/")
            #expect(buckets.xmlAll("Name") == ["photos"])
            #expect(buckets.xml("ID") == "alpha")

            #expect(try await s3.send(.delete, "/photos").status == .conflict)
            #expect(try await s3.send(.delete, "/photos/" + key).status == .noContent)
            let gone = try await s3.send(.get, "/photos/" + key)
            #expect(gone.status == .notFound)
            #expect(gone.xml("Code") == "NoSuchKey")
            #expect(gone.xml("Resource") == "/photos/" + key)
            let goneHead = try await s3.send(.head, "/photos/" + key)
            #expect(goneHead.status == .notFound)
            #expect(goneHead.body.isEmpty)
            #expect(try await s3.send(.delete, "/photos").status == .noContent)
            #expect(try await s3.send(.head, "/photos").status == .notFound)
        }
    }

    @Test func refusesBadCredentials() async throws {
        try await withS3 { s3 in
            _ = try await s3.send(.put, "/docs")
            var forged = s3
            forged.secret = "not-the-secret"
            let wrong = try await forged.send(.get, "/docs", query: [("list-type", "2")])
            #expect(wrong.status == .forbidden)
            #expect(wrong.header("content-type") == "application/xml")
            #expect(wrong.xml("Code") == "SignatureDoesNotMatch")
            #expect(wrong.xml("RequestId") == wrong.header("x-amz-request-id"))

            let anonymous = try await s3.send(.get, "/docs", signed: false)
            #expect(anonymous.status == .forbidden)
            #expect(anonymous.xml("Code") == "AccessDenied")

            let revoked = try await s3.as(Self.revoked).send(.get, "/")
            #expect(revoked.status == .forbidden)
            #expect(revoked.xml("Code") == "InvalidAccessKeyId")
        }
    }

    @Test func readScopeCannotWrite() async throws {
        try await withS3 { s3 in
            _ = try await s3.send(.put, "/shared")
            let reader = s3.as(Self.reader)
            #expect(try await reader.send(.get, "/shared", query: [("list-type", "2")]).status == .ok)
            let put = try await reader.send(.put, "/shared/file", body: Array("x".utf8))
            #expect(put.status == .forbidden)
            #expect(put.xml("Code") == "AccessDenied")
            #expect(try await reader.send(.delete, "/shared").status == .forbidden)
            #expect(try await s3.send(.get, "/shared/file").status == .notFound)
        }
    }

    @Test func tenantsDoNotSeeEachOthersBuckets() async throws {
        try await withS3 { s3 in
            _ = try await s3.send(.put, "/private-a")
            _ = try await s3.send(.put, "/private-a/secret", body: Array("a".utf8))
            let beta = s3.as(Self.other)
            let listed = try await beta.send(.get, "/private-a", query: [("list-type", "2")])
            #expect(listed.status == .notFound)
            #expect(listed.xml("Code") == "NoSuchBucket")
            #expect(try await beta.send(.get, "/private-a/secret").status == .notFound)
            #expect(try await beta.send(.get, "/").xmlAll("Name").isEmpty)
        }
    }

    @Test func snapshotsAndPointInTimeReads() async throws {
        try await withS3 { s3 in
            let created = try await s3.send(.put, "/snaps", headers: [("X-Tigris-Enable-Snapshot", "true")])
            #expect(created.status == .ok)
            let first = try await s3.send(.put, "/snaps/k", body: Array("one".utf8))
            #expect(first.header("x-amz-version-id") != nil)
            let snap = try await s3.send(.put, "/snaps", headers: [("X-Tigris-Snapshot", "true; name=before")])
            #expect(snap.status == .ok)
            let version = try #require(snap.header("x-tigris-snapshot-version"))
            _ = try await s3.send(.put, "/snaps/k", body: Array("two".utf8))
            _ = try await s3.send(.put, "/snaps/later", body: Array("new".utf8))

            #expect(try await s3.send(.get, "/snaps/k").text == "two")
            let old = try await s3.send(.get, "/snaps/k", headers: [("X-Tigris-Snapshot-Version", version)])
            #expect(old.status == .ok)
            #expect(old.text == "one")
            #expect(old.header("x-amz-version-id") == first.header("x-amz-version-id"))
            let listed = try await s3.send(
                .get, "/snaps", query: [("list-type", "2")], headers: [("X-Tigris-Snapshot-Version", version)])
            #expect(listed.xmlAll("Key") == ["k"])
            let missing = try await s3.send(.get, "/snaps/later", headers: [("X-Tigris-Snapshot-Version", version)])
            #expect(missing.status == .notFound)

            let snapshots = try await s3.send(.get, "/", headers: [("X-Tigris-Snapshot", "snaps")])
            #expect(snapshots.xmlAll("Name") == [version + "; name=before"])
            #expect(snapshots.xmlAll("CreationDate").count == 1)

            let head = try await s3.send(.head, "/snaps")
            #expect(head.header("x-tigris-enable-snapshot") == "true")
            #expect(head.header("x-tigris-fork-source-bucket") == nil)

            #expect(
                try await s3.send(.delete, "/snaps", headers: [("X-Tigris-Snapshot-Version", version)]).status
                    == .noContent)
            #expect(try await s3.send(.get, "/", headers: [("X-Tigris-Snapshot", "snaps")]).xmlAll("Name").isEmpty)
        }
    }

    @Test func forksAreIsolated() async throws {
        try await withS3 { s3 in
            _ = try await s3.send(.put, "/source", headers: [("X-Tigris-Enable-Snapshot", "true")])
            _ = try await s3.send(.put, "/source/shared", body: Array("base".utf8))
            let fork = try await s3.send(.put, "/branch", headers: [("X-Tigris-Fork-Source-Bucket", "source")])
            #expect(fork.status == .ok, "\(fork.text)")
            #expect(fork.header("location") == "/branch")

            let head = try await s3.send(.head, "/branch")
            #expect(head.header("x-tigris-fork-source-bucket") == "source")
            #expect(head.header("x-tigris-fork-source-bucket-snapshot")?.isEmpty == false)
            #expect(head.header("x-tigris-enable-snapshot") == "true")

            #expect(try await s3.send(.get, "/branch/shared").text == "base")
            _ = try await s3.send(.put, "/branch/shared", body: Array("forked".utf8))
            _ = try await s3.send(.put, "/branch/own", body: Array("mine".utf8))
            _ = try await s3.send(.put, "/source/after", body: Array("later".utf8))

            #expect(try await s3.send(.get, "/source/shared").text == "base")
            #expect(try await s3.send(.get, "/source/own").status == .notFound)
            #expect(try await s3.send(.get, "/branch/shared").text == "forked")
            #expect(try await s3.send(.get, "/branch/after").status == .notFound)
            let branch = try await s3.send(.get, "/branch", query: [("list-type", "2")])
            #expect(branch.xmlAll("Key") == ["own", "shared"])
            let source = try await s3.send(.get, "/source", query: [("list-type", "2")])
            #expect(source.xmlAll("Key") == ["after", "shared"])

            // A delete in the fork leaves the source's key alone.
            _ = try await s3.send(.delete, "/branch/shared")
            #expect(try await s3.send(.get, "/branch/shared").status == .notFound)
            #expect(try await s3.send(.get, "/source/shared").text == "base")
        }
    }

    @Test func unsupportedSubresourcesAreNotImplemented() async throws {
        try await withS3 { s3 in
            _ = try await s3.send(.put, "/plain")
            for name in ["policy", "cors", "tagging"] {
                let reply = try await s3.send(.put, "/plain", query: [(name, "")], body: Array("<x/>".utf8))
                #expect(reply.status == .notImplemented, "\(name)")
                #expect(reply.xml("Code") == "NotImplemented")
            }
            #expect(try await s3.send(.get, "/plain", query: [("policy", "")]).status == .notImplemented)
        }
    }

    @Test func streamingUploadsCheckTheirTrailer() async throws {
        try await withS3 { s3 in
            _ = try await s3.send(.put, "/stream")
            func upload(_ key: String, checksum: String) async throws -> Reply {
                try await s3.send(
                    .put, "/stream/" + key,
                    headers: [
                        ("content-encoding", "aws-chunked"), ("x-amz-decoded-content-length", "5"),
                        ("x-amz-trailer", "x-amz-checksum-crc32"),
                    ],
                    body: Array("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:\(checksum)\r\n\r\n".utf8),
                    payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
            }
            let good = try await upload("good", checksum: "NhCmhg==")
            #expect(good.status == .ok, "\(good.text)")
            #expect(good.header("x-amz-checksum-crc32") == "NhCmhg==")
            let got = try await s3.send(.get, "/stream/good")
            #expect(got.text == "hello")
            #expect(got.header("content-encoding") == nil)

            let bad = try await upload("bad", checksum: "AAAAAA==")
            #expect(bad.status == .badRequest)
            #expect(bad.xml("Code") == "XAmzContentChecksumMismatch")
            #expect(try await s3.send(.get, "/stream/bad").status == .notFound)

            let mismatch = try await s3.send(
                .put, "/stream/sha", body: Array("abc".utf8), payloadHash: String(repeating: "0", count: 64))
            #expect(mismatch.xml("Code") == "XAmzContentSHA256Mismatch")
            #expect(try await s3.send(.get, "/stream/sha").status == .notFound)
        }
    }

    @Test func multipartCopyAndRename() async throws {
        try await withS3 { s3 in
            _ = try await s3.send(.put, "/multi")
            let created = try await s3.send(.post, "/multi/big", query: [("uploads", "")])
            let uploadId = try #require(created.xml("UploadId"))
            let part = try await s3.send(
                .put, "/multi/big", query: [("partNumber", "1"), ("uploadId", uploadId)], body: Array("part-one".utf8))
            #expect(part.status == .ok, "\(part.text)")
            let etag = try #require(part.header("etag"))
            let parts = try await s3.send(.get, "/multi/big", query: [("uploadId", uploadId)])
            #expect(parts.xmlAll("PartNumber") == ["1"])
            let uploads = try await s3.send(.get, "/multi", query: [("uploads", "")])
            #expect(uploads.xmlAll("UploadId") == [uploadId])
            let complete = try await s3.send(
                .post, "/multi/big", query: [("uploadId", uploadId)],
                body: Array(
                    ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\(etag)</ETag></Part>"
                        + "</CompleteMultipartUpload>").utf8))
            #expect(complete.status == .ok, "\(complete.text)")
            #expect(complete.xml("ETag")?.hasSuffix("-1\"") == true)
            #expect(try await s3.send(.get, "/multi/big").text == "part-one")

            let copy = try await s3.send(.put, "/multi/copy", headers: [("x-amz-copy-source", "/multi/big")])
            #expect(copy.status == .ok, "\(copy.text)")
            #expect(copy.xml("ETag") == complete.xml("ETag"))
            let refused = try await s3.send(
                .put, "/multi/copy2",
                headers: [("x-amz-copy-source", "multi/big"), ("x-amz-copy-source-if-match", "\"nope\"")])
            #expect(refused.status == .preconditionFailed)

            let moved = try await s3.send(
                .put, "/multi/moved name", headers: [("x-amz-copy-source", "multi/copy"), ("X-Tigris-Rename", "true")])
            #expect(moved.status == .ok)
            #expect(try await s3.send(.get, "/multi/copy").status == .notFound)
            #expect(try await s3.send(.get, "/multi/moved name").text == "part-one")
        }
    }

    @Test func versionsAndDeleteObjects() async throws {
        try await withS3 { s3 in
            _ = try await s3.send(.put, "/ver")
            let enable = try await s3.send(
                .put, "/ver", query: [("versioning", "")],
                body: Array("<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>".utf8))
            #expect(enable.status == .ok, "\(enable.text)")
            let v1 = try #require(try await s3.send(.put, "/ver/a", body: Array("1".utf8)).header("x-amz-version-id"))
            _ = try await s3.send(.put, "/ver/a", body: Array("2".utf8))
            _ = try await s3.send(.put, "/ver/b", body: Array("b".utf8))
            #expect(try await s3.send(.get, "/ver/a", query: [("versionId", v1)]).text == "1")

            let delete = try await s3.send(
                .post, "/ver", query: [("delete", "")],
                body: Array("<Delete><Object><Key>a</Key></Object><Object><Key>b</Key></Object></Delete>".utf8))
            #expect(delete.status == .ok, "\(delete.text)")
            #expect(delete.xmlAll("DeleteMarker") == ["true", "true"])
            let marker = try await s3.send(.get, "/ver/a")
            #expect(marker.status == .notFound)
            #expect(marker.header("x-amz-delete-marker") == "true")

            let versions = try await s3.send(.get, "/ver", query: [("versions", "")])
            #expect(versions.xmlAll("VersionId").count == 5)
            #expect(versions.xmlAll("IsLatest").filter { $0 == "true" }.count == 2)
            let listed = try await s3.send(.get, "/ver", query: [("list-type", "2")])
            #expect(listed.xmlAll("Key").isEmpty)
            #expect(try await s3.send(.get, "/ver", query: [("versioning", "")]).xml("Status") == "Enabled")

            #expect(try await s3.send(.get, "/ver", query: [("lifecycle", "")]).status == .notFound)
            let rule =
                "<LifecycleConfiguration><Rule><ID>ttl</ID><Status>Enabled</Status><Filter><Prefix/></Filter>"
                + "<Expiration><Days>7</Days></Expiration></Rule></LifecycleConfiguration>"
            let lifecycle = try await s3.send(.put, "/ver", query: [("lifecycle", "")], body: Array(rule.utf8))
            #expect(lifecycle.status == .ok, "\(lifecycle.text)")
            #expect(try await s3.send(.get, "/ver", query: [("lifecycle", "")]).xml("Days") == "7")
            let invalid = "<LifecycleConfiguration><Rule><Status>Enabled</Status></Rule></LifecycleConfiguration>"
            let refused = try await s3.send(.put, "/ver", query: [("lifecycle", "")], body: Array(invalid.utf8))
            #expect(refused.status == .badRequest)
            #expect(try await s3.send(.delete, "/ver", query: [("lifecycle", "")]).status == .noContent)
            #expect(try await s3.send(.get, "/ver", query: [("lifecycle", "")]).status == .notFound)
        }
    }
}
