import Testing

@testable import CairnCore

/// Timestamp arithmetic never traps, ISO 8601 parsing refuses out-of-range fields, and the
/// manual clock moves only when told.
@Suite struct ClockTests {
    @Test func addingSaturatesInsteadOfOverflowing() {
        let t = Timestamp(milliseconds: 1_000)
        #expect(t.adding(milliseconds: .max) == .distantFuture)
        #expect(Timestamp(milliseconds: -1_000).adding(milliseconds: .min) == .distantPast)
        #expect(Timestamp.distantFuture.adding(milliseconds: 1) == .distantFuture)
        #expect(Timestamp.distantPast.adding(milliseconds: -1) == .distantPast)
        #expect(t.adding(milliseconds: -500) == Timestamp(milliseconds: 500))
        #expect(Timestamp.distantFuture.adding(milliseconds: -1).milliseconds == .max - 1)
    }

    @Test func extremeInstantsStillFormat() {
        // Formatting must not trap on any stored value, however far out.
        #expect(!Timestamp.distantFuture.iso8601.isEmpty)
        #expect(!Timestamp.distantPast.iso8601.isEmpty)
    }

    @Test(arguments: [
        ("2026-06-12T10:31:00+23:59", Int64(1_781_260_260_000) - 86_340_000),
        ("2026-06-12T10:31:00-23:59", Int64(1_781_260_260_000) + 86_340_000),
        ("2026-06-12T10:31:00.5+02:00", Int64(1_781_260_260_500) - 7_200_000),
        ("2026-06-12T10:31:00Z", Int64(1_781_260_260_000)),
        // More than three fractional digits (trapped once): truncated to milliseconds.
        ("2026-06-12T10:31:00.1234Z", Int64(1_781_260_260_123)),
        ("2026-06-12T10:31:00.123456789+00:00", Int64(1_781_260_260_123)),
        ("2026-06-12T10:31:00.05Z", Int64(1_781_260_260_050)),
    ])
    func offsetsWithinADayAreAccepted(text: String, milliseconds: Int64) {
        #expect(Timestamp(iso8601: text)?.milliseconds == milliseconds)
    }

    @Test(arguments: [
        "2026-06-12T10:31:00-99:99", "2026-06-12T10:31:00+24:00", "2026-06-12T10:31:00+05:60",
        "2026-06-12T10:31:00+99:00", "2026-13-12T10:31:00Z", "2026-00-12T10:31:00Z", "2026-02-30T10:31:00Z",
        "2026-06-00T10:31:00Z", "2026-06-12T24:00:00Z", "2026-06-12T10:60:00Z", "2026-06-12T10:31:61Z",
        "2026-06-12T10:31:00+05", "2026-06-12T10:31:00+0500", "2026-06-12T10:31:00",
    ])
    func outOfRangeFieldsAreRefused(text: String) {
        #expect(Timestamp(iso8601: text) == nil)
    }

    @Test func manualClockMovesOnlyWhenTold() {
        let clock = ManualClock(Timestamp(milliseconds: 10))
        #expect(clock.now() == Timestamp(milliseconds: 10))
        #expect(clock.now() == Timestamp(milliseconds: 10))
        clock.advance(milliseconds: 5)
        #expect(clock.now() == Timestamp(milliseconds: 15))
        clock.advance(milliseconds: .max)
        #expect(clock.now() == .distantFuture)
        clock.set(Timestamp(milliseconds: 0))
        #expect(clock.now() == Timestamp(milliseconds: 0))
    }

    @Test func integralNumbersBeyondInt64FormatWithoutTrapping() {
        #expect(JSONValue.format(double: 1e20) == "1e+20")
        #expect(JSONValue.format(double: -1e19) == "-1e+19")
        #expect(JSONValue.format(double: 42) == "42")
        #expect(JSONValue.format(double: 0.25) == "0.25")
    }
}
