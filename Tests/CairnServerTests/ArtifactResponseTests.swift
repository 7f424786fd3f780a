import CairnCore
import CairnServer
import CairnTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@Suite struct ArtifactResponseTests {
    /// Downloads are attachments with a safe file name, rendered (if a browser renders them at
    /// all) in a sandbox without scripts, and never sniffed.
    @Test(arguments: ServerEngine.available) func downloadsAreSandboxedAttachments(engine: ServerEngine) async throws {
        let s = try await ArtifactServer(engine: engine)
        try await s.test { http in
            var headers = HTTPFields()
            headers[.contentType] = "text/html; charset=utf-8"
            let page = Array("<script>alert(document.cookie)</script>".utf8)
            let created = try await http.upload(page, query: "name=pages/r%C3%A9sum%C3%A9%22%3B.html", headers: headers)
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.json["artifact"]?["id"]?.stringValue)
            for method in [HTTPRequest.Method.get, .head] {
                let got = try await http.raw(method, "/artifacts/\(id)")
                #expect(got.status == .ok)
                #expect(got.headers[.contentType] == "text/html; charset=utf-8")
                #expect(
                    got.headers[.contentDisposition]
                        == #"attachment; filename="r__sum____.html"; filename*=UTF-8''r%C3%A9sum%C3%A9%22%3B.html"#)
                #expect(got.headers[.contentSecurityPolicy] == "sandbox; default-src 'none'")
                #expect(got.headers[.xContentTypeOptions] == "nosniff")
            }
        }
    }

    @Test(arguments: ServerEngine.available) func everyResponseCarriesNoSniff(engine: ServerEngine) async throws {
        let s = try await ArtifactServer(engine: engine)
        try await s.test { http in
            let replies = [
                try await http.raw(.get, "/health"),
                try await http.raw(.get, "/artifacts/art_00000000000000000000000000000000"),
                try await http.raw(.post, "/runs/wf", body: Array("{not json".utf8)),
                try await http.raw(.get, "/no/such/route"),
                try await http.raw(.post, "/checkpoints", body: Array("{}".utf8)),
            ]
            for reply in replies {
                #expect(reply.headers[.xContentTypeOptions] == "nosniff", "\(reply.status) \(reply.text)")
            }
        }
    }

    @Test(arguments: [
        "text", "text/", "/html", "text/html extra", "text/html; charset", "text/html; =utf-8", "te xt/html",
        #"text/plain; charset="utf-8"#, "text/html;; a=b", String(repeating: "a", count: 251) + "/html",
    ])
    func malformedContentTypeIsRefused(_ contentType: String) async throws {
        let s = try await ArtifactServer()
        try await s.test { http in
            var headers = HTTPFields()
            headers[.contentType] = contentType
            let reply = try await http.upload([1, 2, 3], headers: headers)
            #expect(reply.status == .badRequest, "\(contentType): \(reply.text)")
            #expect(reply.json["field"] == .string("Content-Type"))
            try await s.expectClean()
        }
    }

    @Test(arguments: [
        "application/octet-stream", #"text/plain; charset="utf-8""#, "application/vnd.api+json; charset=UTF-8; q=1",
        "image/svg+xml",
    ])
    func validContentTypeIsKept(_ contentType: String) async throws {
        let s = try await ArtifactServer()
        try await s.test { http in
            var headers = HTTPFields()
            headers[.contentType] = contentType
            let reply = try await http.upload([1, 2, 3], headers: headers)
            #expect(reply.status == .created, "\(contentType): \(reply.text)")
            #expect(reply.json["artifact"]?["contentType"] == .string(contentType))
        }
    }

    /// Uploads a crash killed leave `.part` files; a start finds none live and removes them all,
    /// however recent.
    @Test func startUpRemovesUnfinishedUploads() throws {
        var configuration = ServerConfiguration()
        configuration.dataDirectory = ScratchDirectory.path("cairn-parts")
        let tmp = configuration.blobDirectory + "/tmp"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        for i in 0..<5 { #expect(FileManager.default.createFile(atPath: "\(tmp)/dead\(i).part", contents: Data([0]))) }
        _ = try CairnServer(configuration: configuration, registry: nil, logger: Logger(label: "test"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).filter { $0.hasSuffix(".part") } == [])
    }
}
