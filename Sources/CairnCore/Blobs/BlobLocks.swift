import Synchronization

/// One async lock per blob digest. Publishing a blob plus committing its first reference, and
/// deciding that a blob is unreferenced plus removing it, each run under the digest's lock, so
/// a blob is never removed between an upload's rename and its commit.
public final class BlobLocks: Sendable {
    /// The name of the same lock across replicas (`RunWriteTransaction.lock`): an upload's commit
    /// and a sweeper's removal of the same bytes take it in the database too.
    public static func databaseKey(_ digest: String) -> String { "blob/" + digest }

    private let waiters = Mutex<[String: [CheckedContinuation<Void, Never>]]>([:])

    public init() {}

    public func withLock<T: Sendable>(_ digest: String, _ body: () async throws -> T) async throws -> T {
        await acquire(digest)
        defer { release(digest) }
        return try await body()
    }

    private func acquire(_ digest: String) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let acquired = waiters.withLock { w -> Bool in
                if w[digest] == nil {
                    w[digest] = []
                    return true
                }
                w[digest]!.append(c)
                return false
            }
            if acquired { c.resume() }
        }
    }

    private func release(_ digest: String) {
        let next = waiters.withLock { w -> CheckedContinuation<Void, Never>? in
            guard var queue = w[digest], !queue.isEmpty else {
                w[digest] = nil
                return nil
            }
            let first = queue.removeFirst()
            w[digest] = queue
            return first
        }
        next?.resume()
    }
}
