import CairnCore
import CairnServer
import Foundation
import HTTPTypes
import Testing

/// The sandbox routes refuse bad input with a clear 4xx and change nothing; another tenant's
/// sandbox is unknown; the py-code-mode routes refuse in FastAPI's shape.
@Suite struct SandboxRoutesTests {
    let root = "sandbox-routes-root-key-0123456789"

    func server() throws -> TestServer {
        try TestServer(apiKey: root) { $0.sandboxBackend = "process" }
    }

    @Test func badCreateRequestsAre400AndCreateNothing() async throws {
        let server = try server()
        defer { Task { await server.server.sandboxes.shutdown() } }
        try await server.test { http in
            let http = http.authorized(root)
            let bad = [
                #"{"language":"cobol"}"#, #"{"backend":"vm"}"#, #"{"limits":{"memory_bytes":-1}}"#,
                #"{"limits":{"timeout_ms":"soon"}}"#, #"{"limits":{"processes":0}}"#, #"{"limits":{"cpu":1}}"#,
                #"{"require":["teleport"]}"#, #"{"require":"network_off"}"#, #"{"ttl_seconds":0}"#,
                #"{"surprise":true}"#, #"{"workspace":{"bucket":"b"}}"#,
                #"{"workspace":{"bucket":"bucket","snapshot":"1","mode":"rw"}}"#, "[1]", "{",
            ]
            for body in bad {
                let reply = try await http.post("/sandboxes", body)
                #expect(reply.status == .badRequest, "\(body) → \(reply.status) \(reply.text)")
            }
            #expect(try await http.get("/sandboxes").json["sandboxes"]?.arrayValue?.count == 0)
            let refused = try await http.post(
                "/sandboxes", #"{"backend":"process","limits":{"memory_bytes":67108864}}"#)
            #expect(refused.status == .unprocessableContent)
            #expect(refused.json["code"]?.stringValue == "capability_unavailable")
            #expect(refused.json["missing"]?.arrayValue?.compactMap(\.stringValue) == ["memory_limit"])
            #expect(try await http.get("/sandboxes").json["sandboxes"]?.arrayValue?.count == 0)
        }
    }

    @Test func badExecAndFileRequestsAreRefusedAndAnotherTenantsSandboxIsUnknown() async throws {
        let server = try server()
        defer { Task { await server.server.sandboxes.shutdown() } }
        try await server.test { http in
            let admin = http.authorized(root)
            let created = try await admin.post("/sandboxes", "{}")
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.json["id"]?.stringValue)
            for body in [
                "{}", #"{"code":"1","command":["true"]}"#, #"{"command":[]}"#, #"{"command":"ls"}"#,
                #"{"code":"1","stdin":"x"}"#, #"{"code":"1","timeout_ms":0}"#, #"{"code":7}"#,
            ] {
                let reply = try await admin.post("/sandboxes/\(id)/exec", body)
                #expect(reply.status == .badRequest, "\(body) → \(reply.status) \(reply.text)")
            }
            let huge = #"{"code":""# + String(repeating: "x", count: (1 << 20) + 70_000) + #""}"#
            #expect(try await admin.post("/sandboxes/\(id)/exec", huge).status == .contentTooLarge)
            for path in ["../x", "/etc/passwd", "a/./b"] {
                let encoded = path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? path
                let reply = try await admin.get("/sandboxes/\(id)/files?path=\(encoded)")
                #expect(reply.status == .badRequest, "\(path) → \(reply.status)")
            }
            #expect(try await admin.get("/sandboxes/\(id)/files").status == .badRequest)
            #expect(try await admin.get("/sandboxes/\(id)/files?path=missing").status == .notFound)
            #expect(try await admin.get("/sandboxes/sbx_00000000000000000000000000000000").status == .notFound)
            let other = admin.authorized(try await http.newKey(root: root, tenant: "other", scopes: ["write"]))
            #expect(try await other.get("/sandboxes/\(id)").status == .notFound)
            #expect(try await other.post("/sandboxes/\(id)/exec", #"{"code":"1"}"#).status == .notFound)
            #expect(try await other.call(.delete, "/sandboxes/\(id)").status == .notFound)
            #expect(try await admin.call(.delete, "/sandboxes/\(id)").status == .noContent)
            #expect(try await admin.get("/sandboxes/\(id)").status == .notFound)
        }
    }

    @Test func codeModeRefusesInFastAPIsShapeAndHealthNeedsNoKey() async throws {
        let server = try server()
        defer { Task { await server.server.sandboxes.shutdown() } }
        try await server.test { http in
            #expect(try await http.get("/codemode/health").json["status"]?.stringValue == "healthy")
            #expect(try await http.post("/codemode/execute", #"{"code":"1"}"#).status == .unauthorized)
            let admin = http.authorized(root)
            let noCode = try await admin.post("/codemode/execute", "{}")
            #expect(noCode.status == .unprocessableContent && noCode.json["detail"]?.stringValue != nil)
            let badSkill = try await admin.post(
                "/codemode/api/skills", #"{"name":"list","source":"async def run():\n  pass"}"#)
            #expect(badSkill.status == .badRequest && badSkill.json["detail"]?.stringValue != nil)
            #expect(try await admin.get("/codemode/api/artifacts/missing").status == .notFound)
            #expect(try await admin.get("/codemode/api/skills/missing").text == "null")
        }
    }
}
