/// HTTP dates (RFC 9110's IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`): `Last-Modified` and the
/// conditional-request headers, without Foundation or a locale.
extension Timestamp {
    static let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
    static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The instant as an IMF-fixdate, to the second (rounded down).
    public var httpDate: String {
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let day = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - day * 86_400
        let (y, m, d) = Timestamp.civil(fromDays: day)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(Self.weekdays[Int(((day % 7) + 7) % 7)]), \(two(Int64(d))) \(Self.monthNames[m - 1]) \(y) "
            + "\(two(secondOfDay / 3600)):\(two(secondOfDay % 3600 / 60)):\(two(secondOfDay % 60)) GMT"
    }

    /// Parses an IMF-fixdate; nil when malformed (the weekday is not checked, as RFC 9110 allows).
    public init?(httpDate text: String) {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", parts[1].count == 2, let d = Int(parts[1]),
            let monthIndex = Self.monthNames.firstIndex(of: String(parts[2])), parts[3].count == 4,
            let y = Int64(parts[3])
        else { return nil }
        let clock = parts[4].split(separator: ":")
        guard clock.count == 3, clock.allSatisfy({ $0.count == 2 }), let h = Int64(clock[0]),
            let mi = Int64(clock[1]), let s = Int64(clock[2]), h < 24, mi < 60, s < 61,
            (1...Timestamp.daysInMonth(year: Int(y), month: monthIndex + 1)).contains(d)
        else { return nil }
        let days = Timestamp.days(fromCivil: y, monthIndex + 1, d)
        self.init(milliseconds: (days * 86_400 + h * 3600 + mi * 60 + s) * 1000)
    }
}
