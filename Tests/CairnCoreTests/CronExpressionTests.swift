import Testing

@testable import CairnCore

// Expected instants are epoch milliseconds computed independently with Python, e.g.
//   python3 -c 'import datetime as d; print(int(d.datetime(2026,6,12,10,45,tzinfo=d.timezone.utc).timestamp()*1000))'
// The comment on each constant gives the UTC instant it stands for.

private let base: Int64 = 1_781_260_230_000  // 2026-06-12T10:30:30Z (a Friday)
private let minute: Int64 = 60_000
private let day: Int64 = 86_400_000

private func cron(_ text: String) throws -> CronExpression {
    try CronExpression(parsing: text)
}

/// Successive fire times starting after `start`.
private func fires(_ text: String, after start: Int64, count: Int) throws -> [Int64?] {
    let expression = try cron(text)
    var out: [Int64?] = []
    var t = start
    for _ in 0..<count {
        let next = expression.nextFire(afterMilliseconds: t)
        out.append(next)
        guard let next else { break }
        t = next
    }
    return out
}

/// Which minutes-of-hour (or other small values) match, probed via `matches(epochMinute:)`.
private func matchingMinutes(_ text: String) throws -> [Int64] {
    let expression = try cron(text)
    let hourStart: Int64 = 1_781_258_400_000 / minute  // 2026-06-12T10:00Z
    return (0..<60).filter { expression.matches(epochMinute: hourStart + $0) }
}

/// Days (0 = Sunday) on which a "0 0 * * <dow>" style expression fires, over one week.
private func matchingWeekdays(_ dowField: String) throws -> [Int64] {
    let expression = try cron("0 0 * * \(dowField)")
    let sunday: Int64 = 1_781_395_200_000 / minute  // 2026-06-14T00:00Z, a Sunday
    return (0..<7).filter { expression.matches(epochMinute: sunday + $0 * 1_440) }
}

// MARK: - Examples from the spec

@Test func everyFifteenMinutes() throws {
    #expect(try cron("*/15 * * * *").nextFire(afterMilliseconds: base) == 1_781_261_100_000)  // 2026-06-12T10:45Z
}

@Test func firstOfMonthAtMidnight() throws {
    #expect(try cron("0 0 1 * *").nextFire(afterMilliseconds: base) == 1_782_864_000_000)  // 2026-07-01T00:00Z
}

@Test func mondayMorning() throws {
    #expect(try cron("30 8 * * 1").nextFire(afterMilliseconds: base) == 1_781_512_200_000)  // 2026-06-15T08:30Z
}

@Test func sundayIsBothZeroAndSeven() throws {
    let sundayMidnight: Int64 = 1_781_395_200_000  // 2026-06-14T00:00Z
    #expect(try cron("0 0 * * 7").nextFire(afterMilliseconds: base) == sundayMidnight)
    #expect(try cron("0 0 * * 0").nextFire(afterMilliseconds: base) == sundayMidnight)
    #expect(try matchingWeekdays("7") == [0])
    #expect(try matchingWeekdays("0,7") == [0])
    #expect(try matchingWeekdays("5-7") == [0, 5, 6])
}

// MARK: - Strictly-after and truncation

@Test func exactlyOnBoundaryMovesToNextSlot() throws {
    let expression = try cron("*/15 * * * *")
    let at1045: Int64 = 1_781_261_100_000  // 2026-06-12T10:45:00.000Z
    #expect(expression.nextFire(afterMilliseconds: at1045) == 1_781_262_000_000)  // 11:00Z
    #expect(expression.nextFire(afterMilliseconds: at1045 - 1) == at1045)  // from 10:44:59.999
    // 10:30:00.000 matches, but the result must be strictly after it.
    #expect(expression.nextFire(afterMilliseconds: 1_781_260_200_000) == at1045)
}

@Test func everyMinuteTruncatesSeconds() throws {
    #expect(try cron("* * * * *").nextFire(afterMilliseconds: base) == 1_781_260_260_000)  // 10:31:00Z
}

@Test func instantsBeforeTheEpoch() throws {
    let everyMinute = try cron("* * * * *")
    #expect(everyMinute.nextFire(afterMilliseconds: -1) == 0)
    #expect(everyMinute.nextFire(afterMilliseconds: -minute) == 0)
    #expect(everyMinute.nextFire(afterMilliseconds: -minute - 1) == -minute)
    let from: Int64 = -31_536_060_000  // 1968-12-31T23:59Z
    #expect(try cron("0 0 1 1 *").nextFire(afterMilliseconds: from) == -31_536_000_000)  // 1969-01-01T00:00Z
    #expect(try cron("0 12 * * *").nextFire(afterMilliseconds: from) == -31_492_800_000)  // 1969-01-01T12:00Z
    #expect(try cron("0 12 * * 3").nextFire(afterMilliseconds: -day) == -43_200_000)  // Wed 1969-12-31T12:00Z
}

// MARK: - Day-of-month / day-of-week (Vixie OR semantics)

@Test func dayOfMonthOrDayOfWeekWhenBothRestricted() throws {
    // The 13th or any Friday.
    #expect(
        try fires("0 0 13 * 5", after: base, count: 6) == [
            1_781_308_800_000,  // 2026-06-13 (Sat, the 13th)
            1_781_827_200_000,  // 2026-06-19 (Fri)
            1_782_432_000_000,  // 2026-06-26 (Fri)
            1_783_036_800_000,  // 2026-07-03 (Fri)
            1_783_641_600_000,  // 2026-07-10 (Fri)
            1_783_900_800_000,  // 2026-07-13 (Mon, the 13th)
        ])
}

@Test func onlyTheRestrictedDayFieldApplies() throws {
    // Day-of-week only: the 13th (a Saturday) does not fire.
    #expect(try cron("0 0 * * 5").nextFire(afterMilliseconds: base) == 1_781_827_200_000)  // 2026-06-19
    // Day-of-month only: Fridays do not fire.
    let june13: Int64 = 1_781_308_800_000
    #expect(try cron("0 0 13 * *").nextFire(afterMilliseconds: june13) == 1_783_900_800_000)  // 2026-07-13
}

@Test func steppedStarCountsAsRestricted() throws {
    // "*/2" is odd days of the month; Sunday 2026-06-14 still fires through the OR.
    let june13: Int64 = 1_781_308_800_000
    #expect(try cron("0 0 */2 * 0").nextFire(afterMilliseconds: june13) == 1_781_395_200_000)  // 2026-06-14
    #expect(try cron("0 0 */2 * *").nextFire(afterMilliseconds: june13) == 1_781_481_600_000)  // 2026-06-15
}

// MARK: - Calendar edges

@Test func leapDays() throws {
    #expect(
        try fires("0 0 29 2 *", after: base, count: 2) == [
            1_835_395_200_000,  // 2028-02-29
            1_961_625_600_000,  // 2032-02-29
        ])
    // 2000 is a leap year (divisible by 400).
    // 1997-01-01 → 2000-02-29
    #expect(try cron("0 0 29 2 *").nextFire(afterMilliseconds: 852_076_800_000) == 951_782_400_000)
}

@Test func impossibleDatesNeverFire() throws {
    #expect(try cron("0 0 30 2 *").nextFire(afterMilliseconds: base) == nil)
    #expect(try cron("0 0 31 4 *").nextFire(afterMilliseconds: base) == nil)
    #expect(try cron("0 0 31 2,4,6,9,11 *").nextFire(afterMilliseconds: base) == nil)
}

@Test func searchStopsAtTheHorizon() throws {
    // 2100 is not a leap year, so from 2097-03-01 the next Feb 29 is 2104, beyond ~5 years.
    #expect(try cron("0 0 29 2 *").nextFire(afterMilliseconds: 4_012_934_400_000) == nil)
    #expect(try cron("* * * * *").nextFire(afterMilliseconds: Int64.max) == nil)
}

@Test func yearRollover() throws {
    #expect(try cron("0 0 1 1 *").nextFire(afterMilliseconds: base) == 1_798_761_600_000)  // 2027-01-01T00:00Z
    let dec31At2359: Int64 = 1_798_761_540_000  // 2026-12-31T23:59Z (Thursday)
    #expect(try cron("* * * * *").nextFire(afterMilliseconds: dec31At2359 + 30_000) == 1_798_761_600_000)
    // 2027-12-31T23:59Z
    #expect(try cron("59 23 31 12 *").nextFire(afterMilliseconds: dec31At2359) == 1_830_297_540_000)
    #expect(try cron("0 0 * * 1").nextFire(afterMilliseconds: dec31At2359) == 1_799_020_800_000)  // 2027-01-04 (Mon)
}

@Test func skipsToLaterHoursAndDays() throws {
    #expect(try cron("0 3 * * *").nextFire(afterMilliseconds: base) == 1_781_319_600_000)  // 2026-06-13T03:00Z
    #expect(try cron("0 9 * * *").nextFire(afterMilliseconds: base) == 1_781_341_200_000)  // 2026-06-13T09:00Z
    #expect(try cron("0 0 1 1,7 *").nextFire(afterMilliseconds: base) == 1_782_864_000_000)  // 2026-07-01
}

// MARK: - Field syntax

@Test func rangeWithStep() throws {
    #expect(try matchingMinutes("10-20/5 * * * *") == [10, 15, 20])
    #expect(
        try fires("10-20/5 * * * *", after: base, count: 4) == [
            1_781_262_600_000,  // 11:10Z
            1_781_262_900_000,  // 11:15Z
            1_781_263_200_000,  // 11:20Z
            1_781_266_200_000,  // 12:10Z
        ])
}

@Test func lists() throws {
    #expect(try matchingMinutes("1,5-7,*/20 * * * *") == [0, 1, 5, 6, 7, 20, 40])
    #expect(
        try fires("0,30 9,17 * * *", after: base, count: 3) == [
            1_781_283_600_000,  // 2026-06-12T17:00Z
            1_781_285_400_000,  // 2026-06-12T17:30Z
            1_781_341_200_000,  // 2026-06-13T09:00Z
        ])
}

@Test func bareNumberWithStepRunsToFieldMaximum() throws {
    #expect(try matchingMinutes("5/15 * * * *") == [5, 20, 35, 50])
    #expect(try cron("5/15 * * * *").nextFire(afterMilliseconds: base) == 1_781_260_500_000)  // 10:35Z
    // 1/2 in day-of-week is 1,3,5,7 — and 7 is Sunday.
    #expect(try matchingWeekdays("1/2") == [0, 1, 3, 5])
    #expect(try matchingMinutes("59/10 * * * *") == [59])
}

@Test func textAndEquality() throws {
    let expression = try cron("  0  0 * * 0\t")
    #expect(expression.text == "  0  0 * * 0\t")
    #expect(expression.nextFire(afterMilliseconds: base) == 1_781_395_200_000)
    #expect(try cron("*/5 * * * *") == cron("*/5 * * * *"))
    #expect(try cron("*/5 * * * *") != cron("*/10 * * * *"))
}

/// The month/day/hour skipping must agree with a plain minute-by-minute scan using `matches`.
@Test(arguments: [
    "*/7 */5 * * *", "0 0 13 * 5", "15 3 */3 * 1-5", "0 12 1,15 * 0", "30 23 31 * *", "0 0 * * 6,7",
])
func agreesWithBruteForce(_ text: String) throws {
    let expression = try cron(text)
    // 2026-06-12, 2026-12-31T23:59:30, 2028-02-28T00:10
    let starts: [Int64] = [base, 1_798_761_570_000, 1_835_309_400_000]
    for start in starts {
        var brute: Int64?
        for m in (start / minute + 1)...(start / minute + 70 * 1_440) where expression.matches(epochMinute: m) {
            brute = m * minute
            break
        }
        #expect(brute != nil)
        #expect(expression.nextFire(afterMilliseconds: start) == brute, "\(text) after \(start)")
    }
}

// MARK: - Errors

@Test(
    arguments: [
        // Field count
        ("* * * *", "invalid cron \"* * * *\": expected 5 fields, got 4", nil),
        ("* * * * * *", "invalid cron \"* * * * * *\": expected 5 fields, got 6", nil),
        ("", "invalid cron \"\": expected 5 fields, got 0", nil),
        // Steps
        ("*/0 * * * *", "invalid cron step \"*/0\" in minute", "minute"),
        ("* */x * * *", "invalid cron step \"*/x\" in hour", "hour"),
        ("* * 1-10/ * *", "invalid cron step \"1-10/\" in day-of-month", "day-of-month"),
        ("* * * */-1 *", "invalid cron step \"*/-1\" in month", "month"),
        ("* * * * */2/3", "invalid cron step \"*/2/3\" in day-of-week", "day-of-week"),
        // Values out of range
        ("60 * * * *", "invalid cron value \"60\" in minute (0-59)", "minute"),
        ("* 24 * * *", "invalid cron value \"24\" in hour (0-23)", "hour"),
        ("* * 0 * *", "invalid cron value \"0\" in day-of-month (1-31)", "day-of-month"),
        ("* * 32 * *", "invalid cron value \"32\" in day-of-month (1-31)", "day-of-month"),
        ("* * * 0 *", "invalid cron value \"0\" in month (1-12)", "month"),
        ("* * * 13 *", "invalid cron value \"13\" in month (1-12)", "month"),
        ("* * * * 8", "invalid cron value \"8\" in day-of-week (0-7)", "day-of-week"),
        ("50-60 * * * *", "invalid cron value \"50-60\" in minute (0-59)", "minute"),
        ("99999999999999999999 * * * *", "invalid cron value \"99999999999999999999\" in minute (0-59)", "minute"),
        // Reversed range
        ("* * * * 5-1", "invalid cron value \"5-1\" in day-of-week (0-7)", "day-of-week"),
        ("* * * * 5-1/2", "invalid cron value \"5-1/2\" in day-of-week (0-7)", "day-of-week"),
        // Garbage
        ("1- * * * *", "invalid cron value \"1-\" in minute (0-59)", "minute"),
        ("-1 * * * *", "invalid cron value \"-1\" in minute (0-59)", "minute"),
        ("+5 * * * *", "invalid cron value \"+5\" in minute (0-59)", "minute"),
        ("1-2-3 * * * *", "invalid cron value \"1-2-3\" in minute (0-59)", "minute"),
        ("a * * * *", "invalid cron value \"a\" in minute (0-59)", "minute"),
        ("a/2 * * * *", "invalid cron value \"a/2\" in minute (0-59)", "minute"),
        ("1,,2 * * * *", "invalid cron value \"\" in minute (0-59)", "minute"),
        ("1, * * * *", "invalid cron value \"\" in minute (0-59)", "minute"),
        // Unsupported syntax
        ("* * * JAN *", "invalid cron value \"JAN\" in month (1-12)", "month"),
        ("* * * * MON", "invalid cron value \"MON\" in day-of-week (0-7)", "day-of-week"),
        ("* * ? * *", "invalid cron value \"?\" in day-of-month (1-31)", "day-of-month"),
        ("* * L * *", "invalid cron value \"L\" in day-of-month (1-31)", "day-of-month"),
        ("* * * * 5#2", "invalid cron value \"5#2\" in day-of-week (0-7)", "day-of-week"),
    ] as [(String, String, String?)])
func rejectsInvalidExpressions(_ text: String, _ message: String, _ field: String?) {
    #expect(throws: CronError(message: message, field: field)) {
        try CronExpression(parsing: text)
    }
}

@Test func errorDescriptionIsItsMessage() {
    let error = CronError(message: "invalid cron value \"60\" in minute (0-59)", field: "minute")
    #expect(error.description == error.message)
    #expect("\(error)" == error.message)
}
