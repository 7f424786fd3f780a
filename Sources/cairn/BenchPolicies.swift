import ArgumentParser
import AsyncHTTPClient
import CairnCore
import Foundation
import NIOCore
import NIOHTTP1

/// What IAM policies cost per S3 request: sequential 64-byte GETs with a key that has the agent
/// kit's Editor policy attached against a key without policies (both made through the IAM API,
/// taking turns), and the in-process evaluation of that policy alone.
struct PoliciesBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "policies")

    @Option(name: .customLong("s3-url"), help: "The S3 listener's URL.") var s3URL = "http://127.0.0.1:7374"
    @Option(name: .customLong("access-key"), help: "An admin S3 access key id.") var accessKey: String
    @Option(name: .customLong("secret-key"), help: "Its secret.") var secretKey: String
    @Option(help: "Sequential GETs timed per key.") var gets = 2_000
    @Option(help: "In-process evaluations timed.") var evaluations = 1_000_000

    func run() async throws {
        let http = HTTPClient(
            eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        do {
            try await measure(http)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    func client(_ http: HTTPClient, _ id: String, _ secret: String) throws -> S3BenchClient {
        try S3BenchClient(
            http: http, url: s3URL, credentials: .init(accessKeyId: id, secretAccessKey: secret), region: "us-east-1")
    }

    /// One IAM Query API call; returns the response body.
    func iam(_ admin: S3BenchClient, _ parameters: [(String, String)]) async throws -> String {
        let form = (parameters + [("Version", "2010-05-08")]).map { name, value in
            name + "=" + (value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value)
        }.joined(separator: "&")
        let reply = try await admin.send(
            .POST, "/", headers: [(name: "content-type", value: "application/x-www-form-urlencoded")],
            body: Array(form.utf8), service: "iam")
        return String(buffer: reply.body)
    }

    static func element(_ name: String, in xml: String) throws -> String {
        guard let open = xml.range(of: "<\(name)>"),
            let close = xml.range(of: "</\(name)>", range: open.upperBound..<xml.endIndex)
        else { throw CLIError("no <\(name)> in \(xml.prefix(300))") }
        return String(xml[open.upperBound..<close.lowerBound])
    }

    func newKey(_ admin: S3BenchClient) async throws -> (String, String) {
        let created = try await iam(admin, [("Action", "CreateAccessKey")])
        return (try Self.element("AccessKeyId", in: created), try Self.element("SecretAccessKey", in: created))
    }

    func measure(_ http: HTTPClient) async throws {
        let admin = try client(http, accessKey, secretKey)
        let bucket = "policies-\(Identifier.randomHex().prefix(8))"
        try await admin.send(.PUT, "/\(bucket)")
        try await admin.send(.PUT, "/\(bucket)/k", body: Array(repeating: 0x61, count: 64))

        let document =
            #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::\#(bucket)","arn:aws:s3:::\#(bucket)/*"]}]}"#
        let (editorId, editorSecret) = try await newKey(admin)
        let policy = try await iam(
            admin, [("Action", "CreatePolicy"), ("PolicyName", "\(bucket)-editor"), ("PolicyDocument", document)])
        let arn = try Self.element("Arn", in: policy)
        _ = try await iam(admin, [("Action", "AttachUserPolicy"), ("UserName", editorId), ("PolicyArn", arn)])
        let (plainId, plainSecret) = try await newKey(admin)
        let editor = try client(http, editorId, editorSecret)
        let plain = try client(http, plainId, plainSecret)

        for _ in 0..<100 {  // warm-up
            try await editor.send(.GET, "/\(bucket)/k")
            try await plain.send(.GET, "/\(bucket)/k")
        }
        var withPolicy: [Duration] = []
        var without: [Duration] = []
        for _ in 0..<gets {
            withPolicy.append(try await WorkspacesBench.timed { try await editor.send(.GET, "/\(bucket)/k") })
            without.append(try await WorkspacesBench.timed { try await plain.send(.GET, "/\(bucket)/k") })
        }
        print(WorkspacesBench.line("GET 64 B, key with the Editor policy (\(gets) sequential)", withPolicy))
        print(WorkspacesBench.line("GET 64 B, key without policies (\(gets) sequential, taking turns)", without))
        let a = WorkspacesBench.percentiles(withPolicy), b = WorkspacesBench.percentiles(without)
        print(String(format: "  difference at p50: %.3f ms", a.p50 - b.p50))

        let parsed = try IAMPolicyDocument.parse(document)
        let request = IAMRequest(action: "s3:GetObject", resource: IAMRequest.objectARN(bucket, "some/key.json"))
        var allowed = 0
        let start = ContinuousClock.now
        for _ in 0..<evaluations where parsed.decision(for: request) == .allowed { allowed += 1 }
        let elapsed = ContinuousClock.now - start
        print(
            String(
                format: "policy evaluation in process (Editor policy, s3:GetObject): %.0f ns each (%d evaluations)",
                elapsed.seconds * 1e9 / Double(evaluations), allowed))
    }
}
