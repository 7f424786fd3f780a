import CairnCore
import CairnServer
import Foundation
import HTTPTypes
import Testing

@testable import CairnStore

@Suite struct DiskFullResponseTests {
    /// A database that cannot grow fails exactly as on a full disk (`SQLITE_FULL`): each
    /// protocol answers 507 in its own error shape, and the store keeps working afterwards.
    @Test func fullDiskIs507InEachProtocolsShape() async throws {
        let s = try TestServer()
        try await (s.server.store as! SQLiteStore).writeSQLite { tx in
            try tx.connection.execute(script: "PRAGMA max_page_count = 1")
        }
        let big = String(repeating: "x", count: 400_000)
        try await s.test { http in
            let run = try await http.post("/runs/wf", #"{"input":"\#(big)"}"#)
            #expect(run.status.code == 507, "\(run.text)")
            #expect(run.json["error"]?.stringValue?.contains("disk is full") == true, "\(run.text)")
            #expect(run.json["code"] == .string("storage_full"))

            let saved = try await http.post(
                "/checkpoints", #"{"workflow_id":"wf","step":1,"state":{"blob":"\#(big)"}}"#)
            #expect(saved.status.code == 507, "\(saved.text)")
            #expect(saved.json["error"]?["code"] == .string("INSUFFICIENT_STORAGE"), "\(saved.text)")
            #expect(saved.json["error"]?["message"]?.stringValue?.contains("disk is full") == true)

            try await (s.server.store as! SQLiteStore).writeSQLite { tx in
                try tx.connection.execute(script: "PRAGMA max_page_count = 1073741823")
            }
            #expect(try await http.post("/runs/wf", #"{"input":"\#(big)"}"#).status == .ok)
        }
    }
}
