import CairnCore
import Testing

@testable import CairnStore

/// The notices a replica sends after its commits (`EventNoticeSender`).
@Suite struct EventNoticesTests {
    static func event(_ run: String, _ seq: Int64) -> RunEvent {
        RunEvent(
            id: seq, runId: run, seq: seq, type: "t", payload: RawJSON("{}"), createdAt: Timestamp(milliseconds: 0))
    }

    /// Every line of the notices, without the sender lines.
    static func lines(_ payloads: [String], sender: String) -> [String] {
        payloads.flatMap { payload -> [Substring] in
            let lines = payload.split(separator: "\n")
            #expect(lines.first.map(String.init) == sender)
            return Array(lines.dropFirst())
        }.map(String.init)
    }

    @Test func eachRunIsOneLineFromItsLowestToItsHighestNumber() {
        let events = [
            Self.event("run_b", 7), Self.event("run_a", 3), Self.event("run_b", 9), Self.event("run_a", 2),
            Self.event("run_b", 8),
        ]
        var ranges = EventNoticeSender.Ranges()
        ranges.add(Array(events.prefix(2)))
        ranges.add(Array(events.dropFirst(2)))
        #expect(EventNoticeSender.payloads(sender: "me", ranges: ranges) == ["me\nrun_b 7 9\nrun_a 2 3"])
        #expect(EventNoticeSender.payloads(sender: "me", ranges: .init()).isEmpty)
    }

    @Test func noticesStayUnderTheLimitAndNameEveryRunOnce() {
        let runs = (0..<1_000).map { "run_\(String(repeating: "0", count: 28))\(1_000 + $0)" }
        let events = runs.enumerated().flatMap { i, run in [Self.event(run, Int64(i)), Self.event(run, Int64(i + 3))] }
        var ranges = EventNoticeSender.Ranges()
        ranges.add(events)
        let payloads = EventNoticeSender.payloads(sender: "replica-a", ranges: ranges)
        #expect(payloads.count > 1)
        for payload in payloads { #expect(payload.utf8.count <= EventNoticeSender.payloadLimit) }
        let lines = Self.lines(payloads, sender: "replica-a")
        #expect(lines == runs.enumerated().map { i, run in "\(run) \(i) \(i + 3)" })
    }
}
