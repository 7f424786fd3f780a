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
/// `created_at, id`, newest or oldest first, checkpoint workflows by `last_activity_at DESC, workflow_id
/// DESC`, so the pair orders them totally). Its text form is opaque to clients:
/// `<milliseconds>.<id>`.
public struct ListCursor: Sendable, Equatable {
    public var createdAt: Timestamp
    public var id: String

    public init(createdAt: Timestamp, id: String) {
        self.createdAt = createdAt
        self.id = id
    }

    public init?(text: String) {
        guard text.utf8.count <= 200, let dot = text.firstIndex(of: "."),
            let ms = Int64(text[..<dot]), ms >= 0
        else { return nil }
        let id = String(text[text.index(after: dot)...])
        guard !id.isEmpty, id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        self.init(createdAt: Timestamp(milliseconds: ms), id: id)
    }

    public var text: String { "\(createdAt.milliseconds).\(id)" }
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
