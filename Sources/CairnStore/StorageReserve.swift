import CairnCore
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Space set aside in the data directory so the server can get itself out of a full disk.
///
/// A preallocated file holds `bytes` while there is room. The first write that fails for lack
/// of space starts a "disk full" episode: the file is deleted, so deletes and expiry (which
/// must write to the database before they free anything) still have room, and the episode is
/// logged once. After a write succeeds with enough space free again, the file is re-created
/// and the end of the episode logged.
public final class StorageReserve: Sendable {
    public let path: String
    public let bytes: Int64
    private let directory: String
    private let full = Mutex(false)
    private let logger: Logger

    /// Creates the reserve file if it is missing; when there is no room for it, the server
    /// starts in a disk-full episode.
    public init(directory: String, bytes: Int64, logger: Logger = Logger(label: "cairn.storage")) {
        self.directory = directory
        self.path = directory + "/reserve.space"
        self.bytes = max(0, bytes)
        self.logger = logger
        if !ensureFile() { noteFull(detail: "no room for the \(self.bytes)-byte reserve at start-up") }
    }

    /// Whether a disk-full episode is under way.
    public var isFull: Bool { full.withLock { $0 } }

    /// Notes an error: if it is `StorageFullError`, the episode starts (once).
    public func note(_ error: any Error) {
        if let full = error as? StorageFullError { noteFull(detail: full.detail) }
    }

    /// A write failed for lack of space: releases the reserve and logs, once per episode.
    public func noteFull(detail: String) {
        let started = full.withLock { full -> Bool in
            defer { full = true }
            return !full
        }
        guard started else { return }
        unlink(path)
        logger.error(
            "disk full: writes are refused with 507 Insufficient Storage until space is freed",
            metadata: [
                "directory": "\(directory)", "released-reserve-bytes": "\(bytes)", "first-failure": "\(detail)",
            ])
    }

    /// A write succeeded: during an episode, ends it if space has come back.
    public func noteWriteSucceeded() {
        if isFull { _ = endEpisodeIfSpaceReturned() }
    }

    /// Whether new data (an upload) may start: not during an episode, so uploads do not use
    /// up the space released for deletes, unless space has come back (which ends the episode).
    public func admitsNewData() -> Bool { !isFull || endEpisodeIfSpaceReturned() }

    /// Ends the episode if there is room for the reserve and as much again (so re-creating it
    /// does not fill the disk at once); returns whether it ended.
    private func endEpisodeIfSpaceReturned() -> Bool {
        var fs = statvfs()
        guard statvfs(directory, &fs) == 0 else { return false }
        let available = Int64(fs.f_bavail) * Int64(fs.f_frsize)
        guard available >= 2 * bytes + 1024 * 1024, ensureFile() else { return false }
        let ended = full.withLock { full -> Bool in
            defer { full = false }
            return full
        }
        if ended {
            logger.notice(
                "disk space available again: writes accepted", metadata: ["available-bytes": "\(available)"])
        }
        return true
    }

    /// Makes sure the reserve file exists at full size; false if there is no room for it.
    private func ensureFile() -> Bool {
        guard bytes > 0 else {
            unlink(path)  // a reserve from a run with a larger setting
            return true
        }
        var st = stat()
        if stat(path, &st) == 0, Int64(st.st_size) >= bytes { return true }
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        #if canImport(Glibc)
            var ok = posix_fallocate(fd, 0, off_t(bytes)) == 0
        #else
            var ok = false
        #endif
        if !ok {
            // File systems without fallocate: write the zeros.
            let chunk = [UInt8](repeating: 0, count: 64 * 1024)
            var written: Int64 = 0
            ok = true
            while written < bytes {
                let n = chunk.withUnsafeBytes {
                    write(fd, $0.baseAddress!, Int(min(Int64(chunk.count), bytes - written)))
                }
                if n < 0 {
                    if errno == EINTR { continue }
                    ok = false
                    break
                }
                written += Int64(n)
            }
        }
        if ok { ok = fsync(fd) == 0 }
        if !ok { unlink(path) }
        return ok
    }
}
