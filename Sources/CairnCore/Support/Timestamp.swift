#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A point in time with millisecond precision (what the wire protocols expose), stored as
/// milliseconds since the Unix epoch so both SQL engines compare it as a plain integer.
public struct Timestamp: Sendable, Hashable, Comparable {
    public let milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(milliseconds: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
    }

    /// The earliest and latest representable instants; `adding` saturates at them.
    public static let distantPast = Timestamp(milliseconds: .min)
    public static let distantFuture = Timestamp(milliseconds: .max)

    /// `delta` later (or earlier). Saturates instead of overflowing, so no offset, however
    /// large, can trap; callers bound offsets taken from the wire before they get here.
    public func adding(milliseconds delta: Int64) -> Timestamp {
        let (sum, overflow) = milliseconds.addingReportingOverflow(delta)
        if overflow { return delta > 0 ? .distantFuture : .distantPast }
        return Timestamp(milliseconds: sum)
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.milliseconds < b.milliseconds }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`, as JavaScript's `toISOString()`.
    public var iso8601: String {
        let (totalSeconds, ms) = milliseconds.flooredDivision(by: 1000)
        let (days, secondsOfDay) = totalSeconds.flooredDivision(by: 86_400)
        let (y, m, d) = Timestamp.civil(fromDays: days)
        // Written straight into the string's storage: a listing formats thousands of these.
        return String(unsafeUninitializedCapacity: 24) { out in
            var at = 0
            func pad(_ v: Int, _ width: Int) {
                var v = v
                var i = at + width - 1
                while i >= at {
                    out[i] = UInt8(0x30 + v % 10)
                    v /= 10
                    i -= 1
                }
                at += width
            }
            func put(_ c: UInt8) {
                out[at] = c
                at += 1
            }
            pad(Int(y), 4); put(0x2D); pad(m, 2); put(0x2D); pad(d, 2)
            put(UInt8(ascii: "T"))
            pad(secondsOfDay / 3600, 2); put(0x3A); pad(secondsOfDay / 60 % 60, 2); put(0x3A)
            pad(secondsOfDay % 60, 2); put(0x2E); pad(ms, 3); put(UInt8(ascii: "Z"))
            return at
        }
    }

    /// Parses an ISO 8601 date-time in UTC (`Z`) or with a numeric offset within ±23:59;
    /// fractional seconds beyond milliseconds are truncated. Any field out of its range
    /// (month 13, hour 24, offset -99:99, ...) is refused.
    public init?(iso8601 text: String) {
        let b = Array(text.utf8)
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from + len <= b.count else { return nil }
            var v = 0
            for i in from..<(from + len) {
                guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        guard b.count >= 20, let y = num(0, 4), b[4] == 0x2D, let mo = num(5, 2), b[7] == 0x2D, let d = num(8, 2),
            b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"), let h = num(11, 2), b[13] == 0x3A,
            let mi = num(14, 2), b[16] == 0x3A, let s = num(17, 2),
            (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61
        else { return nil }
        var i = 19
        var ms = 0
        if i < b.count, b[i] == 0x2E {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                if digits < 3 { ms = ms * 10 + Int(b[i] - 0x30) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            // Fewer than three digits are tenths or hundredths; more are truncated above.
            for _ in 0..<max(0, 3 - digits) { ms *= 10 }
        }
        var offsetSeconds = 0
        guard i < b.count else { return nil }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign = b[i] == UInt8(ascii: "+") ? 1 : -1
            guard let oh = num(i + 1, 2), b.count > i + 3, b[i + 3] == 0x3A, let om = num(i + 4, 2), oh < 24, om < 60
            else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        guard d <= Timestamp.daysInMonth(year: y, month: mo) else { return nil }
        let days = Timestamp.days(fromCivil: Int64(y), mo, d)
        let seconds = days * 86_400 + Int64(h * 3600 + mi * 60 + s) - Int64(offsetSeconds)
        self.milliseconds = seconds * 1000 + Int64(ms)
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's civil-date algorithms.
    static func civil(fromDays z0: Int64) -> (Int64, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        return (m <= 2 ? y + 1 : y, m, d)
    }

    static func days(fromCivil y0: Int64, _ m: Int, _ d: Int) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64(m > 2 ? m - 3 : m + 9)
        let doy = (153 * mp + 2) / 5 + Int64(d) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

extension Int64 {
    /// Quotient rounded toward negative infinity and a remainder in `0..<d`; never overflows
    /// for a positive `d`, even at `Int64.min`.
    fileprivate func flooredDivision(by d: Int64) -> (quotient: Int64, remainder: Int) {
        let (q, r) = quotientAndRemainder(dividingBy: d)
        return r < 0 ? (q - 1, Int(r + d)) : (q, Int(r))
    }
}
