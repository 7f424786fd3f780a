import CairnCore
import HTTPTypes
import Hummingbird
import NIOCore
import Testing

@testable import CairnServer

/// The IAM action and resource each S3 operation is checked against, for every operation the
/// router knows (the map's switch is exhaustive; this table proves each row), and the agent
/// kit's two roles applied through it.
@Suite struct S3PermissionsTests {
    struct Row {
        var method: HTTPRequest.Method
        var target: String
        var headers: [String: String] = [:]
        var expected: [String]
    }

    static let rows: [Row] = [
        Row(method: .get, target: "/", expected: ["s3:ListAllMyBuckets *"]),
        Row(
            method: .get, target: "/", headers: ["x-tigris-snapshot": "b"],
            expected: ["s3:ListBucket arn:aws:s3:::b"]),
        Row(method: .put, target: "/b", expected: ["s3:CreateBucket arn:aws:s3:::b"]),
        Row(
            method: .put, target: "/f", headers: ["x-tigris-fork-source-bucket": "b"],
            expected: [
                "s3:CreateBucket arn:aws:s3:::f", "s3:ListBucket arn:aws:s3:::b", "s3:GetObject arn:aws:s3:::b/*",
            ]),
        Row(method: .head, target: "/b", expected: ["s3:ListBucket arn:aws:s3:::b"]),
        Row(method: .delete, target: "/b", expected: ["s3:DeleteBucket arn:aws:s3:::b"]),
        Row(method: .put, target: "/b?versioning", expected: ["s3:PutBucketVersioning arn:aws:s3:::b"]),
        Row(method: .get, target: "/b?versioning", expected: ["s3:GetBucketVersioning arn:aws:s3:::b"]),
        Row(method: .put, target: "/b?lifecycle", expected: ["s3:PutLifecycleConfiguration arn:aws:s3:::b"]),
        Row(method: .get, target: "/b?lifecycle", expected: ["s3:GetLifecycleConfiguration arn:aws:s3:::b"]),
        Row(method: .delete, target: "/b?lifecycle", expected: ["s3:PutLifecycleConfiguration arn:aws:s3:::b"]),
        Row(method: .get, target: "/b?location", expected: ["s3:GetBucketLocation arn:aws:s3:::b"]),
        Row(method: .get, target: "/b", expected: ["s3:ListBucket arn:aws:s3:::b"]),
        Row(method: .get, target: "/b?list-type=2", expected: ["s3:ListBucket arn:aws:s3:::b"]),
        Row(method: .get, target: "/b?versions", expected: ["s3:ListBucketVersions arn:aws:s3:::b"]),
        Row(method: .get, target: "/b?uploads", expected: ["s3:ListBucketMultipartUploads arn:aws:s3:::b"]),
        // Checked per key once the body is read (compat: test_iam.py).
        Row(method: .post, target: "/b?delete", expected: []),
        Row(method: .put, target: "/b/k", expected: ["s3:PutObject arn:aws:s3:::b/k"]),
        Row(
            method: .put, target: "/b/k", headers: ["x-amz-copy-source": "/src/a%20b?versionId=1"],
            expected: ["s3:PutObject arn:aws:s3:::b/k", "s3:GetObject arn:aws:s3:::src/a b"]),
        Row(
            method: .put, target: "/b/k", headers: ["x-amz-copy-source": "src/old", "x-tigris-rename": "true"],
            expected: [
                "s3:PutObject arn:aws:s3:::b/k", "s3:GetObject arn:aws:s3:::src/old",
                "s3:DeleteObject arn:aws:s3:::src/old",
            ]),
        Row(method: .get, target: "/b/dir/k", expected: ["s3:GetObject arn:aws:s3:::b/dir/k"]),
        Row(method: .head, target: "/b/k", expected: ["s3:GetObject arn:aws:s3:::b/k"]),
        Row(method: .delete, target: "/b/k", expected: ["s3:DeleteObject arn:aws:s3:::b/k"]),
        Row(method: .post, target: "/b/k?uploads", expected: ["s3:PutObject arn:aws:s3:::b/k"]),
        Row(method: .put, target: "/b/k?uploadId=u&partNumber=1", expected: ["s3:PutObject arn:aws:s3:::b/k"]),
        Row(
            method: .put, target: "/b/k?uploadId=u&partNumber=1", headers: ["x-amz-copy-source": "/src/x"],
            expected: ["s3:PutObject arn:aws:s3:::b/k", "s3:GetObject arn:aws:s3:::src/x"]),
        Row(method: .post, target: "/b/k?uploadId=u", expected: ["s3:PutObject arn:aws:s3:::b/k"]),
        Row(method: .delete, target: "/b/k?uploadId=u", expected: ["s3:AbortMultipartUpload arn:aws:s3:::b/k"]),
        Row(method: .get, target: "/b/k?uploadId=u", expected: ["s3:ListMultipartUploadParts arn:aws:s3:::b/k"]),
        Row(method: .get, target: "/b?metadata", expected: ["s3:ListBucket arn:aws:s3:::b"]),
        // A settings PATCH is checked per setting once its body is read (S3Listener.patchSettingActions).
        Row(method: .patch, target: "/b", expected: []),
        Row(method: .post, target: "/b?bundle", expected: []),
    ]

    static func route(_ row: Row) throws -> (S3Operation, [IAMRequest]) {
        var fields = HTTPFields()
        for (name, value) in row.headers { fields[HTTPField.Name(name)!] = value }
        let request = Request(
            head: HTTPRequest(
                method: row.method, scheme: "http", authority: "localhost", path: row.target, headerFields: fields),
            body: .init(buffer: ByteBuffer()))
        let call = try S3Call(request: request)
        let operation = try S3Operation.route(call, method: row.method)
        return (operation, try operation.iamRequests { fields.value($0) })
    }

    /// The operation's case name, without its bucket and key.
    static func caseName(_ operation: S3Operation) -> String {
        String("\(operation)".prefix { $0 != "(" })
    }

    @Test func everyOperationMapsAsDocumented() throws {
        var covered: Set<String> = []
        for row in Self.rows {
            let (operation, requests) = try Self.route(row)
            covered.insert(Self.caseName(operation))
            #expect(requests.map { $0.action + " " + $0.resource } == row.expected, "\(row.method) \(row.target)")
        }
        // Every case of S3Operation (copyObject is reached through putObject with a copy source).
        let all: Set<String> = [
            "listBuckets", "createBucket", "headBucket", "deleteBucket", "putVersioning", "getVersioning",
            "putLifecycle", "getLifecycle", "deleteLifecycle", "getLocation", "listObjects", "listObjectsV2",
            "listVersions", "listUploads", "deleteObjects", "putObject", "getObject", "headObject", "deleteObject",
            "createUpload", "uploadPart", "completeUpload", "abortUpload", "listParts", "bucketMetadata",
            "patchBucket", "bundle",
        ]
        #expect(covered == all)
        let copy = try S3Operation.copyObject("b", "k").iamRequests { $0 == "x-amz-copy-source" ? "s/k2" : nil }
        #expect(copy.map(\.action) == ["s3:PutObject", "s3:GetObject"])
    }

    @Test func aMalformedCopySourceIsRefusedBeforeAnythingRuns() {
        #expect(throws: S3Error.self) {
            _ = try S3Operation.putObject("b", "k").iamRequests { $0 == "x-amz-copy-source" ? "nokey" : nil }
        }
    }

    static func allowed(_ policy: String, _ row: Row) throws -> Bool {
        let document = try IAMPolicyDocument.parse(policy)
        return try route(row).1.allSatisfy {
            IAMPolicyDocument.decision(for: $0, under: [document]) == .allowed
        }
    }

    @Test func theAgentKitRolesThroughTheMap() throws {
        let resources = #"["arn:aws:s3:::fork-1","arn:aws:s3:::fork-1/*"]"#
        let editor =
            #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":\#(resources)}]}"#
        let reader = """
            {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":\
            ["s3:GetObject","s3:ListBucket","s3:GetBucketLocation"],"Resource":\(resources)}]}
            """
        func row(_ method: HTTPRequest.Method, _ target: String, _ headers: [String: String] = [:]) -> Row {
            Row(method: method, target: target, headers: headers, expected: [])
        }
        for r in [
            row(.get, "/fork-1/k"), row(.put, "/fork-1/k"), row(.delete, "/fork-1/k"), row(.get, "/fork-1?list-type=2"),
            row(.post, "/fork-1?delete"), row(.get, "/fork-1?versions"), row(.put, "/fork-1?lifecycle"),
            row(.put, "/fork-1/k2", ["x-amz-copy-source": "fork-1/k"]),
        ] {
            #expect(try Self.allowed(editor, r), "\(r.target)")
        }
        for r in [
            row(.get, "/"), row(.get, "/fork-2/k"), row(.put, "/fork-2"), row(.get, "/fork-10?list-type=2"),
            row(.put, "/fork-1/k", ["x-amz-copy-source": "fork-2/secret"]),
            row(.put, "/fork-2", ["x-tigris-fork-source-bucket": "fork-1"]),
        ] {
            #expect(try !Self.allowed(editor, r), "\(r.target)")
        }
        for r in [row(.get, "/fork-1/k"), row(.head, "/fork-1/k"), row(.get, "/fork-1"), row(.get, "/fork-1?location")]
        {
            #expect(try Self.allowed(reader, r), "\(r.target)")
        }
        for r in [
            row(.put, "/fork-1/k"), row(.delete, "/fork-1/k"), row(.get, "/fork-1?versions"), row(.get, "/"),
            row(.get, "/fork-2/k"), row(.delete, "/fork-1"),
        ] {
            #expect(try !Self.allowed(reader, r), "\(r.target)")
        }
    }
}
