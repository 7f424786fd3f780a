import CairnCore
import HTTPTypes
import Testing

@testable import CairnServer

/// `GET /workflows` (a Cairn extension) lists a tenant's live checkpointed workflows, most
/// recently active first, a page at a time; expired ones and other tenants' are not listed.
@Suite struct WorkflowListingTests {
    @Test func pagesOfLiveWorkflowsMostRecentFirst() async throws {
        let clock = ManualClock()
        try await TestServer(clock: clock) { $0.rateLimit = 0 }.test { http in
            for i in 0..<7 {
                let ttl =
                    i == 0
                    ? #"{"workflow_id":"short","step":1,"state":{}}"#
                    : #"{"workflow_id":"w\#(i)","step":1,"state":{"i":\#(i)}}"#
                var headers = http
                if i == 0 { headers.headers[HTTPField.Name("X-Checkpoint-TTL")!] = "10" }
                #expect(try await headers.post("/checkpoints", ttl).status == .created)
                clock.advance(milliseconds: 1_000)
            }
            clock.advance(milliseconds: 5_000)  // "short" (10 s TTL) is gone; the others live a week
            var seen: [String] = []
            var cursor: String?
            repeat {
                let reply = try await http.get("/workflows?limit=4" + (cursor.map { "&cursor=" + $0 } ?? ""))
                #expect(reply.status == .ok, "\(reply.text)")
                seen += reply.json["workflows"]?.arrayValue?.compactMap { $0["workflow_id"]?.stringValue } ?? []
                cursor = reply.json["next_cursor"]?.stringValue
            } while cursor != nil
            #expect(seen == ["w6", "w5", "w4", "w3", "w2", "w1"])
            #expect(try await http.get("/workflows?limit=0").status == .badRequest)
            #expect(try await http.get("/workflows?cursor=nonsense").status == .badRequest)
            #expect(try await http.get("/workflows?other=1").status == .badRequest)
        }
    }

    /// Workflow ids may hold spaces and any Unicode: the cursor still carries them, and stays
    /// usable in a query string without escaping.
    @Test func pagesContinueAfterIdsWithSpacesAndUnicode() async throws {
        let clock = ManualClock()
        try await TestServer(clock: clock) { $0.rateLimit = 0 }.test { http in
            let ids = ["plain-id", "with space", "naïve café", "日本語 id", "a~b.c"]
            for id in ids {
                #expect(
                    try await http.post("/checkpoints", #"{"workflow_id":"\#(id)","step":1,"state":{}}"#).status
                        == .created)
                clock.advance(milliseconds: 1_000)
            }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let reply = try await http.get("/workflows?limit=1" + (cursor.map { "&cursor=" + $0 } ?? ""))
                #expect(reply.status == .ok, "\(reply.text)")
                seen += reply.json["workflows"]?.arrayValue?.compactMap { $0["workflow_id"]?.stringValue } ?? []
                cursor = reply.json["next_cursor"]?.stringValue
                if let cursor {
                    #expect(
                        cursor.utf8.allSatisfy {
                            $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "%") && $0 != UInt8(ascii: "&")
                        })
                }
            } while cursor != nil
            #expect(seen == ids.reversed())
        }
    }

    @Test(arguments: ["plain", "with space", "naïve café", "日本語", "a~b.c", "%41", String(repeating: "é", count: 128)])
    func cursorsRoundTripAnyId(id: String) throws {
        let cursor = ListCursor(createdAt: Timestamp(milliseconds: 1_764_000_000_123), id: id)
        #expect(ListCursor(text: cursor.text) == cursor)
    }

    @Test(arguments: ["", ".x", "12", "12.", "12~", "12~!!", "12~A", "-1.x", "12.a b", "12~_w", "x.y", "12,x"])
    func malformedCursorsAreRefused(text: String) {
        #expect(ListCursor(text: text) == nil)
    }
}
