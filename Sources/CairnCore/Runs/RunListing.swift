/// Which runs a listing returns: newest first, filtered, one page at a time.
public struct RunListQuery: Sendable, Equatable {
    public static let maxLimit = 1000

    /// At most this many runs (1...`maxLimit`).
    public var limit: Int
    public var status: RunStatus?
    public var workflowName: String?
    /// Only runs created at or after this time.
    public var createdSince: Timestamp?
    /// Only stalled runs (see `Run.isStalled(at:)`).
    public var stalledOnly: Bool
    /// Continue after this run (the `next` cursor of the previous page, listed in the same order).
    public var after: ListCursor?
    /// Oldest first (`created_at, id` ascending) instead of newest first.
    public var oldestFirst: Bool

    public init(
        limit: Int = 100, status: RunStatus? = nil, workflowName: String? = nil, createdSince: Timestamp? = nil,
        stalledOnly: Bool = false, after: ListCursor? = nil, oldestFirst: Bool = false
    ) {
        self.limit = limit
        self.status = status
        self.workflowName = workflowName
        self.createdSince = createdSince
        self.stalledOnly = stalledOnly
        self.after = after
        self.oldestFirst = oldestFirst
    }
}

/// Where a page of a listing ended: the last record's time and id (runs are listed by
/// `created_at, id`, newest or oldest first, checkpoint workflows by `last_activity_at DESC,
/// workflow_id DESC`, so the pair orders them totally). Its text form is opaque to clients and
/// safe in a URL query unescaped: `<milliseconds>.<id>` when the id is printable ASCII without
/// spaces, else `<milliseconds>~<the id's UTF-8 in unpadded base64url>` (checkpoint workflow
/// ids may hold spaces or any Unicode).
public struct ListCursor: Sendable, Equatable {
    public var createdAt: Timestamp
    public var id: String

    public init(createdAt: Timestamp, id: String) {
        self.createdAt = createdAt
        self.id = id
    }

    public init?(text: String) {
        guard text.utf8.count <= 400 else { return nil }
        let bytes = Array(text.utf8)
        guard let separator = bytes.firstIndex(where: { !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            separator > 0, let ms = Int64(String(decoding: bytes[..<separator], as: UTF8.self))
        else { return nil }
        let rest = Array(bytes[(separator + 1)...])
        let id: String
        switch bytes[separator] {
        case UInt8(ascii: "."):
            guard !rest.isEmpty, rest.allSatisfy(Self.isPlain) else { return nil }
            id = String(decoding: rest, as: UTF8.self)
        case UInt8(ascii: "~"):
            guard let decoded = Self.base64URLDecode(rest), !decoded.isEmpty,
                let text = String(validating: decoded, as: UTF8.self)
            else { return nil }
            id = text
        default: return nil
        }
        self.init(createdAt: Timestamp(milliseconds: ms), id: id)
    }

    public var text: String {
        if id.utf8.allSatisfy(Self.isPlain) { return "\(createdAt.milliseconds).\(id)" }
        return "\(createdAt.milliseconds)~" + Self.base64URLEncode(Array(id.utf8))
    }

    private static func isPlain(_ byte: UInt8) -> Bool { byte > 0x20 && byte < 0x7F }

    private static func base64URLEncode(_ bytes: [UInt8]) -> String {
        String(
            Base64.encode(bytes).compactMap { c -> Character? in
                switch c {
                case "+": "-"
                case "/": "_"
                case "=": nil
                default: c
                }
            })
    }

    private static func base64URLDecode(_ bytes: [UInt8]) -> [UInt8]? {
        var standard = bytes.map { b -> UInt8 in
            switch b {
            case UInt8(ascii: "-"): UInt8(ascii: "+")
            case UInt8(ascii: "_"): UInt8(ascii: "/")
            default: b
            }
        }
        // The unpadded form never leaves a single character over, nor holds padding itself.
        guard standard.count % 4 != 1, !standard.contains(UInt8(ascii: "=")) else { return nil }
        while standard.count % 4 != 0 { standard.append(UInt8(ascii: "=")) }
        return Base64.decode(String(decoding: standard, as: UTF8.self))
    }
}

public struct RunPage: Sendable, Equatable {
    public var runs: [Run]
    /// Where the next page starts; nil on the last page.
    public var next: ListCursor?

    public init(runs: [Run], next: ListCursor?) {
        self.runs = runs
        self.next = next
    }
}

extension Run {
    /// A run nothing will move on its own: it is running, its lease has expired (its worker
    /// died or hung), and it has neither a queue (whose reconciler would requeue it) nor a
    /// recovery webhook (which the reconciler would call). A worker resumes it by beginning
    /// it again with the same run id once the lease has expired.
    public func isStalled(at now: Timestamp) -> Bool {
        guard status == .running, queue == nil, recoveryWebhook == nil, let expires = leaseExpiresAt else {
            return false
        }
        return expires < now
    }
}
