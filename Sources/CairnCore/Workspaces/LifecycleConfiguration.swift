/// A bucket's lifecycle rules, parsed from the `LifecycleConfiguration` document S3 clients
/// send, and the times they make things expire. Parsing is the validation: a document that
/// parses is stored as received, and the sweeper parses it again to enforce it.
public struct LifecycleConfiguration: Sendable, Equatable {
    /// Which objects a rule applies to: a key prefix and optional size bounds (both exclusive,
    /// as in S3). Tag filters are refused: objects carry no tags here.
    public struct Filter: Sendable, Equatable {
        public var prefix = ""
        public var sizeGreaterThan: Int64?
        public var sizeLessThan: Int64?

        public init(prefix: String = "", sizeGreaterThan: Int64? = nil, sizeLessThan: Int64? = nil) {
            self.prefix = prefix
            self.sizeGreaterThan = sizeGreaterThan
            self.sizeLessThan = sizeLessThan
        }

        public func matches(key: String, size: Int64) -> Bool {
            guard key.hasPrefix(prefix) else { return false }
            if let bound = sizeGreaterThan, size <= bound { return false }
            if let bound = sizeLessThan, size >= bound { return false }
            return true
        }
    }

    public enum Expiration: Sendable, Equatable {
        /// The current version expires this many days after it was written.
        case days(Int)
        /// Every current version expires at this time (midnight UTC).
        case date(Timestamp)
    }

    public struct Rule: Sendable, Equatable {
        public var id: String?
        public var enabled: Bool
        public var filter: Filter
        public var expiration: Expiration?
        /// Remove a delete marker that no version is left behind.
        public var expiredObjectDeleteMarker = false
        /// Remove a version this many days after a newer one replaced it.
        public var noncurrentDays: Int?
        /// Keep this many newest noncurrent versions whatever their age.
        public var newerNoncurrentVersions: Int?
        /// Abort a multipart upload this many days after it was started.
        public var abortIncompleteUploadDays: Int?

        public init(id: String? = nil, enabled: Bool = true, filter: Filter = Filter()) {
            self.id = id
            self.enabled = enabled
            self.filter = filter
        }
    }

    public var rules: [Rule]

    public init(rules: [Rule]) { self.rules = rules }

    static let maxRules = 1000
    /// S3's bound for day counts is an int; this keeps `days × 86,400,000` far from overflow.
    static let maxDays = 1_000_000
    static let maxNewerNoncurrentVersions = 100

    /// Parses stored text (the sweeper's way in).
    public init(text: String) throws {
        try self.init(try S3XML.parse(Array(text.utf8)))
    }

    /// Parses and validates a document; every refusal is an `S3Error` naming what is wrong.
    public init(_ root: S3XMLElement) throws {
        guard root.name == "LifecycleConfiguration" else {
            throw S3Error.malformedXML("The root element must be LifecycleConfiguration.")
        }
        let elements = root.children("Rule")
        guard (1...Self.maxRules).contains(elements.count) else {
            throw S3Error.malformedXML("A lifecycle configuration has 1 to \(Self.maxRules) rules.")
        }
        var ids = Set<String>()
        rules = try elements.map { element in
            let rule = try Self.rule(element)
            if let id = rule.id, !ids.insert(id).inserted {
                throw S3Error.invalidArgument(
                    "Rule ID must be unique. Found the same ID for more than one rule: \(id).")
            }
            return rule
        }
    }

    /// The document with an `ID` given to each rule that has none, as S3 gives one; nil when
    /// every rule has its own (the document is then kept as sent).
    public static func namingRules(_ root: S3XMLElement, newID: () -> String) -> S3XMLElement? {
        guard root.children.contains(where: { $0.name == "Rule" && $0.child("ID") == nil }) else { return nil }
        var named = root
        for index in named.children.indices where named.children[index].name == "Rule" {
            if named.children[index].child("ID") == nil {
                named.children[index].children.insert(S3XMLElement(name: "ID", text: newID()), at: 0)
            }
        }
        return named
    }

    static func rule(_ element: S3XMLElement) throws -> Rule {
        guard let status = element.childValue("Status"), status == "Enabled" || status == "Disabled" else {
            throw S3Error.malformedXML("A rule's Status must be Enabled or Disabled.")
        }
        var rule = Rule(id: element.childValue("ID"), enabled: status == "Enabled")
        if let id = rule.id, id.utf8.count > 255 {
            throw S3Error.invalidArgument("A rule's ID is at most 255 characters.")
        }
        switch (element.child("Filter"), element.child("Prefix")) {
        case (let filter?, nil): rule.filter = try Self.filter(filter)
        case (nil, let prefix?): rule.filter = Filter(prefix: prefix.text)
        case (nil, nil): throw S3Error.malformedXML("A rule needs a Filter (or the older Prefix).")
        case (_?, _?): throw S3Error.malformedXML("A rule has a Filter or a Prefix, not both.")
        }

        var acts = false
        if let expiration = element.child("Expiration") {
            let given = ["Days", "Date", "ExpiredObjectDeleteMarker"].filter { expiration.child($0) != nil }
            guard given.count == 1 else {
                throw S3Error.malformedXML("An Expiration has one of Days, Date and ExpiredObjectDeleteMarker.")
            }
            if expiration.child("Days") != nil {
                rule.expiration = .days(try Self.days(expiration, "Days", what: "Expiration Days"))
            } else if let text = expiration.childValue("Date") {
                rule.expiration = .date(try Self.midnight(text, what: "Expiration Date"))
            } else {
                switch expiration.childValue("ExpiredObjectDeleteMarker") {
                case "true": rule.expiredObjectDeleteMarker = true
                case "false": break
                default: throw S3Error.malformedXML("ExpiredObjectDeleteMarker is true or false.")
                }
            }
            acts = true
        }
        if let noncurrent = element.child("NoncurrentVersionExpiration") {
            rule.noncurrentDays = try Self.days(noncurrent, "NoncurrentDays", what: "NoncurrentDays")
            if noncurrent.child("NewerNoncurrentVersions") != nil {
                let count = try Self.days(noncurrent, "NewerNoncurrentVersions", what: "NewerNoncurrentVersions")
                guard count <= Self.maxNewerNoncurrentVersions else {
                    throw S3Error.invalidArgument(
                        "NewerNoncurrentVersions is at most \(Self.maxNewerNoncurrentVersions).")
                }
                rule.newerNoncurrentVersions = count
            }
            acts = true
        }
        if let abort = element.child("AbortIncompleteMultipartUpload") {
            rule.abortIncompleteUploadDays = try Self.days(abort, "DaysAfterInitiation", what: "DaysAfterInitiation")
            acts = true
        }
        // Transitions are refused only once the rule is otherwise valid, so a malformed one is
        // still a client error (400), as S3 answers it.
        let transitions = element.children("Transition") + element.children("NoncurrentVersionTransition")
        for transition in transitions {
            if let text = transition.childValue("Date") { _ = try Self.midnight(text, what: "Transition Date") }
            for days in ["Days", "NoncurrentDays"] where transition.child(days) != nil {
                _ = try Self.days(transition, days, what: "Transition \(days)")
            }
        }
        if !transitions.isEmpty { throw S3Error.notImplemented("Lifecycle transitions are not supported.") }
        guard acts else {
            throw S3Error.malformedXML(
                "A rule needs an Expiration, a NoncurrentVersionExpiration or an AbortIncompleteMultipartUpload.")
        }
        return rule
    }

    /// A rule's date: ISO 8601, at midnight GMT.
    static func midnight(_ text: String, what: String) throws -> Timestamp {
        guard let date = Timestamp(iso8601: text) else {
            throw S3Error.invalidArgument("\(what) must be an ISO 8601 date-time.")
        }
        guard date.milliseconds % Self.dayMilliseconds == 0 else {
            throw S3Error.invalidArgument("'Date' must be at midnight GMT.")
        }
        return date
    }

    static func filter(_ element: S3XMLElement) throws -> Filter {
        guard element.children.count <= 1 else {
            throw S3Error.malformedXML("A Filter has one condition; combine several with And.")
        }
        var filter = Filter()
        guard let condition = element.children.first else { return filter }
        let conditions = condition.name == "And" ? condition.children : [condition]
        var seen = Set<String>()
        for c in conditions {
            guard seen.insert(c.name).inserted else {
                throw S3Error.malformedXML("A Filter names \(c.name) once.")
            }
            switch c.name {
            case "Prefix": filter.prefix = c.text
            case "ObjectSizeGreaterThan": filter.sizeGreaterThan = try Self.size(c)
            case "ObjectSizeLessThan": filter.sizeLessThan = try Self.size(c)
            case "Tag": throw S3Error.notImplemented("Lifecycle filters on object tags are not supported.")
            default: throw S3Error.malformedXML("Unknown lifecycle filter condition: \(c.name).")
            }
        }
        if let low = filter.sizeGreaterThan, let high = filter.sizeLessThan, low >= high {
            throw S3Error.invalidArgument("ObjectSizeGreaterThan must be less than ObjectSizeLessThan.")
        }
        return filter
    }

    static func days(_ element: S3XMLElement, _ name: String, what: String) throws -> Int {
        guard let text = element.childValue(name), let n = Int(text), n > 0, n <= Self.maxDays else {
            throw S3Error.invalidArgument("\(what) must be a positive integer of at most \(Self.maxDays).")
        }
        return n
    }

    static func size(_ element: S3XMLElement) throws -> Int64 {
        guard let n = Int64(element.text.trimmedXMLSpace), n >= 0 else {
            throw S3Error.invalidArgument("\(element.name) must be a non-negative integer.")
        }
        return n
    }

    // MARK: Expiry times

    static let dayMilliseconds: Int64 = 86_400_000

    /// When something that started at `start` expires after `days`: S3's rule, the start plus
    /// the days, rounded up to the next midnight UTC.
    public static func expiry(after start: Timestamp, days: Int) -> Timestamp {
        let end = start.milliseconds + Int64(days) * dayMilliseconds
        let remainder = ((end % dayMilliseconds) + dayMilliseconds) % dayMilliseconds
        return Timestamp(milliseconds: remainder == 0 ? end : end - remainder + dayMilliseconds)
    }

    /// Whether an enabled rule expires the current version `key` (of `size`, written at
    /// `created`) at `now`.
    public func expiresCurrent(key: String, size: Int64, created: Timestamp, now: Timestamp) -> Bool {
        rules.contains { rule in
            guard rule.enabled, let expiration = rule.expiration, rule.filter.matches(key: key, size: size) else {
                return false
            }
            switch expiration {
            case .days(let days): return now >= Self.expiry(after: created, days: days)
            case .date(let date): return now >= date
            }
        }
    }

    /// Whether an enabled rule removes a noncurrent version of `key` that a newer version
    /// replaced at `noncurrentSince`, when `newer` noncurrent versions of the key are newer than it.
    public func expiresNoncurrent(key: String, size: Int64, noncurrentSince: Timestamp, newer: Int, now: Timestamp)
        -> Bool
    {
        rules.contains { rule in
            guard rule.enabled, let days = rule.noncurrentDays, rule.filter.matches(key: key, size: size) else {
                return false
            }
            if let keep = rule.newerNoncurrentVersions, newer < keep { return false }
            return now >= Self.expiry(after: noncurrentSince, days: days)
        }
    }

    /// Whether an enabled rule removes a delete marker left with no version behind it.
    public func removesExpiredDeleteMarker(key: String) -> Bool {
        rules.contains { $0.enabled && $0.expiredObjectDeleteMarker && $0.filter.matches(key: key, size: 0) }
    }

    /// Whether an enabled rule aborts an upload of `key` started at `started`.
    public func abortsUpload(key: String, started: Timestamp, now: Timestamp) -> Bool {
        rules.contains { rule in
            guard rule.enabled, let days = rule.abortIncompleteUploadDays, key.hasPrefix(rule.filter.prefix) else {
                return false
            }
            return now >= Self.expiry(after: started, days: days)
        }
    }

    /// Whether any enabled rule expires current versions (what makes a bucket a TTL'd one).
    public var expiresCurrentVersions: Bool { rules.contains { $0.enabled && $0.expiration != nil } }
    public var expiresNoncurrentVersions: Bool {
        rules.contains { $0.enabled && ($0.noncurrentDays != nil || $0.expiredObjectDeleteMarker) }
    }
    public var abortsUploads: Bool { rules.contains { $0.enabled && $0.abortIncompleteUploadDays != nil } }
}

extension S3XMLElement {
    /// The text of the first child named `name`, without surrounding XML white space.
    public func childValue(_ name: String) -> String? {
        child(name)?.text.trimmedXMLSpace
    }
}

extension String {
    /// Without leading and trailing XML white space (space, tab, CR, LF).
    var trimmedXMLSpace: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
