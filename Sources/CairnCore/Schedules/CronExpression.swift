// A 5-field cron expression evaluated in UTC, matching the Tidebase server's cron.ts dialect:
//
//   minute (0-59)  hour (0-23)  day-of-month (1-31)  month (1-12)  day-of-week (0-7, 0 and 7 = Sunday)
//
// Each field is a comma list of terms; a term is `*`, `n`, `a-b`, optionally followed by `/step`
// (`n/step` means `n-max/step`). No names, `?`, `L`, `W` or `#`.
// When both day-of-month and day-of-week are restricted (neither is a literal `*`), a day matches
// if either matches (Vixie cron semantics).
//
// Date arithmetic is done on epoch days with Howard Hinnant's civil-date algorithms, so there is
// no dependency on Foundation or on the process time zone.

/// A parse error. `field` is the offending field's name, or nil when the field count is wrong.
public struct CronError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public let field: String?

    public init(message: String, field: String?) {
        self.message = message
        self.field = field
    }

    public var description: String { message }
}

public struct CronExpression: Sendable, Equatable {
    /// The expression exactly as given to `init(parsing:)`.
    public let text: String

    // Bit i set <=> value i is allowed. Day-of-week uses bits 0-6 (7 is folded into 0).
    private let minutes: UInt64
    private let hours: UInt64
    private let daysOfMonth: UInt64
    private let months: UInt64
    private let daysOfWeek: UInt64
    // Only a literal `*` is unrestricted; `*/1` or `1-31` count as restricted for the OR rule.
    private let dayOfMonthRestricted: Bool
    private let dayOfWeekRestricted: Bool

    public init(parsing text: String) throws(CronError) {
        let fields = text.split(whereSeparator: { $0.isWhitespace })
        guard fields.count == 5 else {
            throw CronError(
                message: "invalid cron \"\(text)\": expected 5 fields, got \(fields.count)",
                field: nil
            )
        }
        self.text = text
        minutes = try FieldSpec.minute.parse(fields[0])
        hours = try FieldSpec.hour.parse(fields[1])
        daysOfMonth = try FieldSpec.dayOfMonth.parse(fields[2])
        months = try FieldSpec.month.parse(fields[3])
        let dow = try FieldSpec.dayOfWeek.parse(fields[4])
        daysOfWeek = (dow | ((dow >> 7) & 1)) & 0x7F  // fold 7 (Sunday) into 0
        dayOfMonthRestricted = fields[2] != "*"
        dayOfWeekRestricted = fields[4] != "*"
    }

    /// How far ahead `nextFire` looks before giving up (e.g. "0 0 30 2 *" never fires).
    static let searchHorizonMinutes: Int64 = 5 * 366 * minutesPerDay

    /// The first whole minute strictly after `afterMilliseconds` (Unix epoch ms, UTC) that matches,
    /// as epoch milliseconds, or nil if there is none within about 5 years.
    public func nextFire(afterMilliseconds: Int64) -> Int64? {
        // Truncate to the containing minute (floor, so pre-1970 instants work too), then step past it.
        let start = floorDiv(afterMilliseconds, msPerMinute) + 1
        let limit = min(start + Self.searchHorizonMinutes, Int64.max / msPerMinute)

        var t = start
        while t <= limit {
            let day = floorDiv(t, minutesPerDay)
            let minuteOfDay = t - day * minutesPerDay
            let date = civilFromDays(day)

            guard months.has(date.month) else {
                // Jump to the first day of the next month.
                let (y, m) = date.month == 12 ? (date.year + 1, Int64(1)) : (date.year, date.month + 1)
                t = daysFromCivil(year: y, month: m, day: 1) * minutesPerDay
                continue
            }
            guard dayMatches(dayOfMonth: date.day, weekday: weekday(ofEpochDay: day)) else {
                t = (day + 1) * minutesPerDay
                continue
            }
            let hour = minuteOfDay / 60
            guard let h = hours.firstSet(atOrAfter: hour) else {
                t = (day + 1) * minutesPerDay
                continue
            }
            // If we moved to a later hour, any minute in it is acceptable.
            let minuteFloor = h == hour ? minuteOfDay % 60 : 0
            guard let m = minutes.firstSet(atOrAfter: minuteFloor) else {
                t = day * minutesPerDay + (h + 1) * 60
                continue
            }
            let found = day * minutesPerDay + h * 60 + m
            return found <= limit ? found * msPerMinute : nil
        }
        return nil
    }

    /// Whether the minute `epochMinute` (minutes since 1970-01-01T00:00Z) matches the expression.
    public func matches(epochMinute: Int64) -> Bool {
        let day = floorDiv(epochMinute, minutesPerDay)
        let minuteOfDay = epochMinute - day * minutesPerDay
        let date = civilFromDays(day)
        return minutes.has(minuteOfDay % 60)
            && hours.has(minuteOfDay / 60)
            && months.has(date.month)
            && dayMatches(dayOfMonth: date.day, weekday: weekday(ofEpochDay: day))
    }

    private func dayMatches(dayOfMonth: Int64, weekday: Int64) -> Bool {
        let domOK = daysOfMonth.has(dayOfMonth)
        let dowOK = daysOfWeek.has(weekday)
        // An unrestricted field has every bit set, so AND reduces to "only the other restricts".
        return dayOfMonthRestricted && dayOfWeekRestricted ? (domOK || dowOK) : (domOK && dowOK)
    }
}

// MARK: - Field parsing

private struct FieldSpec {
    let name: String
    let min: Int
    let max: Int

    static let minute = FieldSpec(name: "minute", min: 0, max: 59)
    static let hour = FieldSpec(name: "hour", min: 0, max: 23)
    static let dayOfMonth = FieldSpec(name: "day-of-month", min: 1, max: 31)
    static let month = FieldSpec(name: "month", min: 1, max: 12)
    static let dayOfWeek = FieldSpec(name: "day-of-week", min: 0, max: 7)

    /// Parses a comma list of terms into a bitmask of allowed values.
    func parse(_ field: Substring) throws(CronError) -> UInt64 {
        var mask: UInt64 = 0
        for term in field.split(separator: ",", omittingEmptySubsequences: false) {
            mask |= try parseTerm(term)
        }
        return mask
    }

    private func parseTerm(_ term: Substring) throws(CronError) -> UInt64 {
        var base = term
        var step: Int?
        // The step is validated before the base, so "a/0" reports the step.
        if let slash = term.firstIndex(of: "/") {
            base = term[..<slash]
            guard let s = parseUnsigned(term[term.index(after: slash)...]), s >= 1 else {
                throw CronError(message: "invalid cron step \"\(term)\" in \(name)", field: name)
            }
            step = s
        }

        let valueError = CronError(
            message: "invalid cron value \"\(term)\" in \(name) (\(min)-\(max))",
            field: name
        )
        let lo: Int
        let hi: Int
        if base == "*" {
            (lo, hi) = (min, max)
        } else if let dash = base.firstIndex(of: "-") {
            guard let a = parseUnsigned(base[..<dash]),
                let b = parseUnsigned(base[base.index(after: dash)...])
            else { throw valueError }
            (lo, hi) = (a, b)
        } else {
            guard let n = parseUnsigned(base) else { throw valueError }
            // A bare number with a step runs to the field maximum: "5/15" == "5-59/15".
            (lo, hi) = (n, step == nil ? n : max)
        }
        guard min <= lo, lo <= hi, hi <= max else { throw valueError }

        var mask: UInt64 = 0
        for v in stride(from: lo, through: hi, by: step ?? 1) {
            mask |= 1 << UInt64(v)
        }
        return mask
    }
}

/// Non-empty ASCII digits only (Swift's `Int("+5")` would accept a sign). Nil on overflow.
private func parseUnsigned(_ s: Substring) -> Int? {
    guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
    return Int(s)
}

// MARK: - Bitmask helpers

extension UInt64 {
    fileprivate func has(_ value: Int64) -> Bool {
        value >= 0 && value < 64 && self & (1 << UInt64(value)) != 0
    }

    /// The smallest set bit index >= `value`, if any.
    fileprivate func firstSet(atOrAfter value: Int64) -> Int64? {
        guard value >= 0, value < 64 else { return nil }
        let rest = self >> UInt64(value)
        return rest == 0 ? nil : value + Int64(rest.trailingZeroBitCount)
    }
}

// MARK: - Civil calendar (proleptic Gregorian, UTC)

private let msPerMinute: Int64 = 60_000
private let minutesPerDay: Int64 = 1_440

private func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

/// 0 = Sunday ... 6 = Saturday; epoch day 0 (1970-01-01) was a Thursday.
private func weekday(ofEpochDay day: Int64) -> Int64 {
    let r = (day + 4) % 7
    return r < 0 ? r + 7 : r
}

// Civil-date arithmetic lives in `Timestamp`; these adapt its types.
private func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
    Timestamp.days(fromCivil: year, Int(month), Int(day))
}

private func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
    let (year, month, day) = Timestamp.civil(fromDays: days)
    return (year, Int64(month), Int64(day))
}
