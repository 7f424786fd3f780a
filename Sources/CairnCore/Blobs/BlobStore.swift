/// Where blob bytes live, addressed by their SHA-256. Shared by every feature that keeps bytes
/// (artifacts now, workspace objects later); who references a blob is recorded in the database,
/// never here. The interface is narrow on purpose: a local directory implements it
/// (`LocalBlobStore`), and so does an S3-compatible bucket (`S3BlobStore`: a write spools to a
/// local file, `publish` uploads it under its digest, `read` is a ranged GET).
public protocol BlobStore: Sendable {
    /// Starts writing a new blob whose digest is not known yet.
    func beginWrite() throws -> any BlobWrite
    /// The size of the blob with this digest, or nil if the store does not hold it.
    func size(of digest: String) async throws -> Int64?
    /// Opens a blob for reading; nil if the store does not hold it. (Async: a remote store asks
    /// the server for the blob's size.)
    func open(_ digest: String) async throws -> (any BlobRead)?
    /// Removes a blob. Callers decide that nothing references it (under `BlobLocks`).
    func remove(_ digest: String) async throws
    /// Every digest the store holds (for the sweeper).
    func digests() async throws -> [String]
    /// Removes every unfinished write this process's store left (a crash or kill ended their
    /// uploads); called at start-up, before any upload runs. Returns how many were removed.
    func removeUnfinishedWrites() throws -> Int
    /// Removes unfinished writes older than `age` seconds that no live `BlobWrite` owns; returns
    /// how many were removed.
    func removeStaleWrites(olderThanSeconds age: Int64) async throws -> Int
}

/// One blob being written. Not shared between tasks: one upload owns it.
public protocol BlobWrite: AnyObject, Sendable {
    /// Appends bytes and feeds them to the running SHA-256.
    func write(_ bytes: UnsafeRawBufferPointer) throws
    var bytesWritten: Int64 { get }
    /// Ends the write: the bytes are durable in the temporary location and their digest known.
    func finish() async throws -> (sha256: String, size: Int64)
    /// Moves the finished bytes under their digest, durably (the rename and the directory entry
    /// are synced). If the store already holds that digest with the same size, the temporary
    /// copy is dropped instead. Returns whether this call created the blob. Call under the
    /// digest's lock in `BlobLocks`.
    func publish() async throws -> Bool
    /// Discards whatever was written; safe to call at any point, and more than once.
    func abort()
}

/// Reads ranges of one blob.
public protocol BlobRead: AnyObject, Sendable {
    var size: Int64 { get }
    /// Reads up to `buffer.count` bytes at `offset`; returns how many were read (0 at the end).
    /// Async: a remote store fetches the range over the network.
    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) async throws -> Int
    func close()
}
