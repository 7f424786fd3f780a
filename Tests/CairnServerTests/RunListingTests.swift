import CairnCore
import CairnServer
import Foundation
import HTTPTypes
import Testing

/// `GET /runs` pages with a cursor and filters by status, workflow, creation time and
/// stalled-ness; without parameters it answers as the reference server does.
@Suite struct RunListingTests {
    @Test func pagesCoverEveryRunOnceNewestFirst() async throws {
        let clock = ManualClock()
        let server = try TestServer(clock: clock)
        try await server.test { http in
            var created: [String] = []
            for i in 0..<25 {
                created.append(try await http.newRun(i % 2 == 0 ? "even" : "odd"))
                if i % 3 == 0 { clock.advance(milliseconds: 1) }  // some share a millisecond
            }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let reply = try await http.get("/runs?limit=7" + (cursor.map { "&cursor=" + $0 } ?? ""))
                #expect(reply.status == .ok)
                let page = reply.json["runs"]?.arrayValue ?? []
                #expect(page.count <= 7)
                seen += page.compactMap { $0["id"]?.stringValue }
                cursor = reply.json["nextCursor"]?.stringValue
            } while cursor != nil
            #expect(seen.count == 25)
            #expect(Set(seen) == Set(created))
            // Newest first: the creation times never increase along the listing.
            let all = try await http.get("/runs?limit=1000").json["runs"]?.arrayValue ?? []
            let times = all.compactMap { $0["createdAt"]?.stringValue }
            #expect(times == times.sorted(by: >))
            #expect(all.compactMap { $0["id"]?.stringValue } == seen)

            // No parameters: the newest 100 and no further page.
            let plain = try await http.get("/runs")
            #expect(plain.json["runs"]?.arrayValue?.count == 25)
            #expect(plain.json["nextCursor"]?.isNull == true)
        }
    }

    @Test func filtersByStatusWorkflowAndCreationTime() async throws {
        let clock = ManualClock()
        let server = try TestServer(clock: clock)
        try await server.test { http in
            let early = try await http.newRun("report")
            clock.advance(milliseconds: 60_000)
            let since = clock.now().iso8601
            let late = try await http.newRun("report")
            let other = try await http.newRun("other")
            #expect(try await http.post("/runs/\(late)/begin").status == .ok)
            func ids(_ query: String) async throws -> [String] {
                let reply = try await http.get("/runs?" + query)
                #expect(reply.status == .ok, "\(query): \(reply.text)")
                return reply.json["runs"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            }
            #expect(try await ids("workflow=report") == [late, early])
            #expect(try await ids("status=running") == [late])
            #expect(try await ids("status=pending&workflow=report") == [early])
            #expect(Set(try await ids("createdSince=" + since)) == [late, other])
        }
    }

    @Test func stalledRunsAreListedAndFlagged() async throws {
        let clock = ManualClock()
        let server = try TestServer(clock: clock)
        try await server.test { http in
            let stalled = try await http.newRun("agent")
            let healthy = try await http.newRun("agent")
            #expect(try await http.post("/runs/\(stalled)/begin").status == .ok)
            let owner = try #require(try await http.post("/runs/\(healthy)/begin").json["leaseOwner"]?.stringValue)
            #expect(try await http.get("/runs?stalled=true").json["runs"]?.arrayValue?.isEmpty == true)
            #expect(try await http.get("/runs/\(stalled)").json["stalled"]?.boolValue == false)

            // The lease (60 s by default) runs out with nobody renewing one of them.
            clock.advance(milliseconds: 30_000)
            #expect(try await http.post("/runs/\(healthy)/heartbeat", #"{"leaseOwner":"\#(owner)"}"#).status == .ok)
            clock.advance(milliseconds: 31_000)
            let listed = try await http.get("/runs?stalled=true").json["runs"]?.arrayValue ?? []
            #expect(listed.compactMap { $0["id"]?.stringValue } == [stalled])
            #expect(try await http.get("/runs/\(stalled)").json["stalled"]?.boolValue == true)
            #expect(try await http.get("/runs/\(healthy)").json["stalled"]?.boolValue == false)

            // Beginning it again (a worker resuming it) takes a new lease: no longer stalled.
            #expect(try await http.post("/runs/\(stalled)/begin").status == .ok)
            #expect(try await http.get("/runs?stalled=true").json["runs"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test(arguments: [
        "limit=0", "limit=1001", "limit=x", "limit=99999999999999999999", "status=sleeping", "createdSince=yesterday",
        "stalled=yes", "cursor=abc", "cursor=-1.run_x", "workflow=", "order=up", "order=",
    ])
    func badParametersAre400sNamingThem(query: String) async throws {
        let server = try TestServer()
        try await server.test { http in
            let reply = try await http.get("/runs?" + query)
            #expect(reply.status == .badRequest, "\(query): \(reply.status) \(reply.text)")
            let name = String(query.prefix { $0 != "=" })
            #expect(reply.text.contains("\"\(name)\""), "\(reply.text)")
        }
    }

    @Test func oldestFirstPagesContinueInTheirOwnOrder() async throws {
        let clock = ManualClock()
        let server = try TestServer(clock: clock)
        try await server.test { http in
            var created: [String] = []
            for i in 0..<9 {
                created.append(try await http.newRun("wf"))
                if i % 2 == 0 { clock.advance(milliseconds: 1) }
            }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let reply = try await http.get("/runs?order=asc&limit=4" + (cursor.map { "&cursor=" + $0 } ?? ""))
                #expect(reply.status == .ok, "\(reply.text)")
                seen += reply.json["runs"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
                cursor = reply.json["nextCursor"]?.stringValue
            } while cursor != nil
            let newest = try await http.get("/runs?order=desc").json["runs"]?.arrayValue ?? []
            #expect(seen == newest.compactMap { $0["id"]?.stringValue }.reversed())
            #expect(Set(seen) == Set(created) && seen.count == 9)
        }
    }

    @Test func aRunsForksAreListedWithWhereTheyCameFrom() async throws {
        let server = try TestServer(apiKey: "root-key-of-this-test")
        try await server.test { http in
            let http = http.authorized("root-key-of-this-test")
            let parent = try await http.newRun("wf")
            let owner = try #require(try await http.post("/runs/\(parent)/begin").json["leaseOwner"]?.stringValue)
            let step = try await http.post(
                "/runs/\(parent)/steps/begin", #"{"name":"s","inputHash":"h","leaseOwner":"\#(owner)"}"#)
            let stepId = try #require(step.json["step"]?["id"]?.stringValue, "\(step.text)")
            #expect(
                try await http.post(
                    "/runs/\(parent)/steps/\(stepId)/complete", #"{"leaseOwner":"\#(owner)","output":1}"#
                ).status == .ok)
            var forks: [String] = []
            for _ in 0..<3 {
                let reply = try await http.post("/runs/\(parent)/fork", #"{"step":"s"}"#)
                forks.append(try #require(reply.json["run"]?["id"]?.stringValue, "\(reply.text)"))
            }
            var listed: [String] = []
            var cursor: String?
            repeat {
                let reply = try await http.get("/runs/\(parent)/forks?limit=2" + (cursor.map { "&cursor=" + $0 } ?? ""))
                #expect(reply.status == .ok, "\(reply.text)")
                for item in reply.json["forks"]?.arrayValue ?? [] {
                    #expect(item["forkedFrom"]?["runId"]?.stringValue == parent)
                    #expect(item["forkedFrom"]?["step"]?.stringValue == "s")
                    listed.append(item["run"]?["id"]?.stringValue ?? "")
                }
                cursor = reply.json["nextCursor"]?.stringValue
            } while cursor != nil
            #expect(Set(listed) == Set(forks) && listed.count == 3)
            #expect(try await http.get("/runs/\(forks[0])/forks").json["forks"]?.arrayValue?.isEmpty == true)
            for bad in ["limit=0", "limit=x", "cursor=nope"] {
                #expect(try await http.get("/runs/\(parent)/forks?" + bad).status == .badRequest, "\(bad)")
            }
            #expect(try await http.get("/runs/run_missing/forks").status == .notFound)
            // Another tenant's key cannot list them.
            let other = http.authorized(
                try await http.newKey(root: "root-key-of-this-test", tenant: "other", scopes: ["read"]))
            #expect(try await other.get("/runs/\(parent)/forks").status == .notFound)
        }
    }
}
