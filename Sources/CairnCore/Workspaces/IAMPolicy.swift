/// An IAM identity policy: what an S3 key with the policy attached may do.
///
/// The subset parsed is what identity policies for S3 need: `Version`, optional `Id`, and
/// `Statement` (an array or a single object) of `Sid`, `Effect`, `Action` and `Resource`.
/// `NotAction`, `NotResource`, `Condition`, `Principal` and `NotPrincipal` are refused rather than
/// ignored: ignoring one would grant more than the author wrote.
public struct IAMPolicyDocument: Sendable, Equatable {
    public enum Effect: String, Sendable, Equatable {
        case allow = "Allow"
        case deny = "Deny"
    }

    public struct Statement: Sendable, Equatable {
        public var sid: String?
        public var effect: Effect
        /// Action patterns, lower-cased (actions match case-insensitively).
        public var actions: [String]
        /// Resource patterns, as written (resources match case-sensitively).
        public var resources: [String]

        public init(sid: String? = nil, effect: Effect, actions: [String], resources: [String]) {
            self.sid = sid
            self.effect = effect
            self.actions = actions.map { $0.lowercased() }
            self.resources = resources
        }

        func matches(_ request: IAMRequest) -> Bool {
            let action = request.action.lowercased()
            return actions.contains { IAMWildcard.matches($0, action) }
                && resources.contains { IAMWildcard.matches($0, request.resource) }
        }
    }

    public var version: String
    public var statements: [Statement]

    public init(version: String = "2012-10-17", statements: [Statement]) {
        self.version = version
        self.statements = statements
    }

    /// AWS's limit for a managed policy document, in characters (bytes here: stricter).
    public static let maxDocumentBytes = 6144
    static let maxStatements = 100
    static let maxEntries = 100

    /// Parses a policy document; anything malformed or unsupported is `MalformedPolicyDocument`.
    public static func parse(_ text: String) throws(IAMError) -> IAMPolicyDocument {
        guard text.utf8.count <= maxDocumentBytes else {
            throw .malformedPolicy("The policy document is longer than \(maxDocumentBytes) bytes.")
        }
        let json: JSONValue
        do { json = try JSONParser.parse(text) } catch { throw .malformedPolicy("The policy document is not JSON.") }
        guard let root = json.objectValue else { throw .malformedPolicy("The policy document is not a JSON object.") }
        var version = "2008-10-17"
        var statementValue: JSONValue?
        for (name, value) in root.pairs {
            switch name {
            case "Version":
                guard let text = value.stringValue, text == "2012-10-17" || text == "2008-10-17" else {
                    throw .malformedPolicy("Version must be \"2012-10-17\" or \"2008-10-17\".")
                }
                version = text
            case "Id":
                guard value.stringValue != nil else { throw .malformedPolicy("Id must be a string.") }
            case "Statement": statementValue = value
            default: throw .malformedPolicy("Unknown policy element \"\(name)\".")
            }
        }
        guard let statementValue else { throw .malformedPolicy("The policy has no Statement.") }
        let items: [JSONValue]
        if let array = statementValue.arrayValue { items = array } else { items = [statementValue] }
        guard !items.isEmpty else { throw .malformedPolicy("The policy's Statement is empty.") }
        guard items.count <= maxStatements else {
            throw .malformedPolicy("The policy has more than \(maxStatements) statements.")
        }
        return IAMPolicyDocument(version: version, statements: try items.map(statement))
    }

    static let unsupportedElements: Set<String> = [
        "NotAction", "NotResource", "Condition", "Principal", "NotPrincipal",
    ]

    static func statement(_ value: JSONValue) throws(IAMError) -> Statement {
        guard let object = value.objectValue else { throw .malformedPolicy("A statement is not a JSON object.") }
        var sid: String?
        var effect: Effect?
        var actions: [String]?
        var resources: [String]?
        for (name, value) in object.pairs {
            switch name {
            case "Sid":
                guard let text = value.stringValue, text.utf8.count <= 128,
                    text.unicodeScalars.allSatisfy(IAMName.isLetterOrDigit)
                else { throw .malformedPolicy("Sid must be up to 128 letters and digits.") }
                sid = text
            case "Effect":
                guard let text = value.stringValue, let parsed = Effect(rawValue: text) else {
                    throw .malformedPolicy("Effect must be \"Allow\" or \"Deny\".")
                }
                effect = parsed
            case "Action":
                actions = try strings(value, element: "Action")
                for action in actions! where !isValidAction(action) {
                    throw .malformedPolicy(
                        "Action \"\(action)\" is not \"*\" or \"service:action\" (letters, digits, * and ?).")
                }
            case "Resource":
                resources = try strings(value, element: "Resource")
                for resource in resources! where resource != "*" && !resource.hasPrefix("arn:") {
                    throw .malformedPolicy("Resource \"\(resource)\" is not \"*\" or an ARN.")
                }
                for resource in resources! where resource.contains("${") {
                    throw .malformedPolicy("Policy variables (${…}) are not supported: \"\(resource)\".")
                }
            default:
                if unsupportedElements.contains(name) {
                    throw .malformedPolicy("The statement element \(name) is not supported.")
                }
                throw .malformedPolicy("Unknown statement element \"\(name)\".")
            }
        }
        guard let effect else { throw .malformedPolicy("A statement has no Effect.") }
        guard let actions else { throw .malformedPolicy("A statement has no Action.") }
        guard let resources else { throw .malformedPolicy("A statement has no Resource.") }
        return Statement(sid: sid, effect: effect, actions: actions, resources: resources)
    }

    /// A string or a non-empty array of strings.
    static func strings(_ value: JSONValue, element: String) throws(IAMError) -> [String] {
        if let text = value.stringValue { return [text] }
        guard let array = value.arrayValue, !array.isEmpty, array.count <= maxEntries else {
            throw .malformedPolicy("\(element) must be a string or an array of 1–\(maxEntries) strings.")
        }
        var out: [String] = []
        for item in array {
            guard let text = item.stringValue else {
                throw .malformedPolicy("\(element) holds a value that is not a string.")
            }
            out.append(text)
        }
        return out
    }

    static func isValidAction(_ action: String) -> Bool {
        if action == "*" { return true }
        let parts = action.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return false }
        let service = parts[0].unicodeScalars.allSatisfy { IAMName.isLetterOrDigit($0) || $0 == "-" }
        let name = parts[1].unicodeScalars.allSatisfy { IAMName.isLetterOrDigit($0) || $0 == "*" || $0 == "?" }
        return service && name
    }

    /// What this policy says about a request: an explicit deny, an allow, or nothing.
    public func decision(for request: IAMRequest) -> IAMDecision {
        var allowed = false
        for statement in statements where statement.matches(request) {
            if statement.effect == .deny { return .denied }
            allowed = true
        }
        return allowed ? .allowed : .notAllowed
    }

    /// Whether a set of policies allows a request: an explicit deny in any of them wins; otherwise
    /// one of them must allow it.
    public static func decision(for request: IAMRequest, under policies: [IAMPolicyDocument]) -> IAMDecision {
        var allowed = false
        for policy in policies {
            switch policy.decision(for: request) {
            case .denied: return .denied
            case .allowed: allowed = true
            case .notAllowed: break
            }
        }
        return allowed ? .allowed : .notAllowed
    }
}

/// One thing a request does, as IAM names it: `s3:GetObject` on `arn:aws:s3:::bucket/key`.
public struct IAMRequest: Sendable, Equatable, CustomStringConvertible {
    public var action: String
    public var resource: String

    public init(action: String, resource: String) {
        self.action = action
        self.resource = resource
    }

    public static func bucketARN(_ bucket: String) -> String { "arn:aws:s3:::" + bucket }
    public static func objectARN(_ bucket: String, _ key: String) -> String { "arn:aws:s3:::" + bucket + "/" + key }

    public var description: String { action + " on " + resource }
}

public enum IAMDecision: Sendable, Equatable {
    case allowed
    /// A statement with `"Effect": "Deny"` matched.
    case denied
    /// No statement matched.
    case notAllowed
}

/// IAM's wildcards: `*` matches any run of characters (none included), `?` exactly one.
enum IAMWildcard {
    /// Greedy matching that remembers only the last `*` (retrying from there on a mismatch): at most
    /// pattern × text steps, never the exponential backtracking of a naive recursive matcher.
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.unicodeScalars)
        let t = Array(text.unicodeScalars)
        var pi = 0
        var ti = 0
        var star: Int?
        var resume = 0
        while ti < t.count {
            if pi < p.count, p[pi] == "*" {
                star = pi
                pi += 1
                resume = ti
            } else if pi < p.count, p[pi] == "?" || p[pi] == t[ti] {
                pi += 1
                ti += 1
            } else if let star {
                pi = star + 1
                resume += 1
                ti = resume
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}

/// The characters IAM's names and ids are made of.
enum IAMName {
    /// An ASCII letter or digit.
    static func isLetterOrDigit(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c)
    }
}
