import CairnCore
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Blobs as files in a directory, named by their SHA-256:
///
///     <root>/sha256/<first two hex digits>/<64 hex digits>   published blobs
///     <root>/tmp/<32 hex digits>.part                        writes in progress
///
/// A write streams into a `.part` file, is fsynced, renamed under its digest, and the digest's
/// directory is fsynced, so a published blob survives power loss. Paths are built only from
/// validated digests and server-made names: nothing a client sends becomes a path.
public final class LocalBlobStore: BlobStore {
    public let root: String
    /// Told when a write fails for lack of space.
    let reserve: StorageReserve?
    /// Names of the `.part` files of live writes (the sweeper never touches them).
    private let live = Mutex<Set<String>>([])

    public convenience init(root: String, reserve: StorageReserve? = nil) throws {
        try self.init(root: root, reserve: reserve, publishes: true)
    }

    /// `publishes: false` makes only the `tmp` directory: a spool for another store (S3) that
    /// uses the writes' hashing and durability but publishes elsewhere.
    init(root: String, reserve: StorageReserve?, publishes: Bool) throws {
        self.root = root
        self.reserve = reserve
        for directory in [root, root + "/tmp"] + (publishes ? [root + "/sha256"] : []) {
            if mkdir(directory, 0o700) != 0 && errno != EEXIST { throw BlobIOError.failure("mkdir", directory) }
        }
    }

    var tmpDirectory: String { root + "/tmp" }

    func directory(of digest: String) -> String { root + "/sha256/" + digest.prefix(2) }

    func path(of digest: String) -> String { directory(of: digest) + "/" + digest }

    public func beginWrite() throws -> any BlobWrite { try beginLocalWrite() }

    func beginLocalWrite() throws -> LocalBlobWrite {
        if let reserve, !reserve.admitsNewData() {
            throw StorageFullError("new blob refused while the disk is full")
        }
        let name = Identifier.randomHex() + ".part"
        let path = tmpDirectory + "/" + name
        let fd = sysOpen(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw noted(BlobIOError.failure("open", path)) }
        live.withLock { _ = $0.insert(name) }
        return LocalBlobWrite(store: self, name: name, path: path, fd: fd)
    }

    func ended(_ name: String) { live.withLock { _ = $0.remove(name) } }

    /// Passes a failure on after telling the reserve about it (a full disk releases it).
    func noted(_ error: any Error) -> any Error {
        reserve?.note(error)
        return error
    }

    public func size(of digest: String) async throws -> Int64? {
        guard ArtifactNames.isValidDigest(digest) else { return nil }
        var st = stat()
        guard stat(path(of: digest), &st) == 0 else {
            if errno == ENOENT { return nil }
            throw BlobIOError.failure("stat", path(of: digest))
        }
        return Int64(st.st_size)
    }

    public func open(_ digest: String) async throws -> (any BlobRead)? {
        guard ArtifactNames.isValidDigest(digest) else { return nil }
        let fd = sysOpen(path(of: digest), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw BlobIOError.failure("open", path(of: digest))
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            sysClose(fd)
            throw BlobIOError.failure("fstat", path(of: digest))
        }
        return LocalBlobRead(fd: fd, size: Int64(st.st_size))
    }

    public func remove(_ digest: String) async throws {
        guard ArtifactNames.isValidDigest(digest) else { return }
        guard unlink(path(of: digest)) == 0 || errno == ENOENT else {
            throw BlobIOError.failure("unlink", path(of: digest))
        }
        try await Self.syncDirectory(directory(of: digest))
    }

    public func digests() async throws -> [String] {
        var result: [String] = []
        for fanout in try Self.entries(of: root + "/sha256") where fanout.utf8.count == 2 {
            for name in try Self.entries(of: root + "/sha256/" + fanout)
            where ArtifactNames.isValidDigest(name) && name.hasPrefix(fanout) {
                result.append(name)
            }
        }
        return result
    }

    public func removeStaleWrites(olderThanSeconds age: Int64) async throws -> Int {
        let cutoff = Timestamp.now().milliseconds / 1000 - age
        return try removeUnfinishedWrites { path in
            var st = stat()
            return stat(path, &st) == 0 && Int64(st.st_mtim.tv_sec) <= cutoff
        }
    }

    /// Removes every unfinished write no live `BlobWrite` owns, whatever its age: for start-up,
    /// when no upload can be running, so the files of uploads a crash killed do not pile up.
    /// Returns how many were removed.
    public func removeUnfinishedWrites() throws -> Int { try removeUnfinishedWrites { _ in true } }

    private func removeUnfinishedWrites(where shouldRemove: (String) -> Bool) throws -> Int {
        let running = live.withLock { $0 }
        var removed = 0
        for name in try Self.entries(of: tmpDirectory) where name.hasSuffix(".part") && !running.contains(name) {
            let path = tmpDirectory + "/" + name
            if shouldRemove(path), unlink(path) == 0 { removed += 1 }
        }
        return removed
    }

    /// The names in a directory (without `.` and `..`).
    static func entries(of directory: String) throws -> [String] {
        guard let dir = opendir(directory) else {
            if errno == ENOENT { return [] }
            throw BlobIOError.failure("opendir", directory)
        }
        defer { closedir(dir) }
        var names: [String] = []
        // The name is read where it is: a directory entry is only as long as its name, so copying
        // the whole `d_name` array out of the last entry of a buffer could read past its page.
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        while let entry = readdir(dir) {
            let name = String(
                cString: UnsafeRawPointer(entry).advanced(by: nameOffset).assumingMemoryBound(to: CChar.self))
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Runs a blocking call off Swift's cooperative pool (fsync can take a while).
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }

    static func syncFile(_ fd: Int32, _ what: String) throws {
        #if canImport(Darwin)
            if fcntl(fd, F_FULLFSYNC) == 0 { return }
        #endif
        guard fsync(fd) == 0 else { throw BlobIOError.failure("fsync", what) }
    }

    /// Makes a directory's entries durable (a rename or unlink in it).
    static func syncDirectory(_ path: String) async throws {
        try await blocking {
            let fd = sysOpen(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw BlobIOError.failure("open", path) }
            defer { sysClose(fd) }
            try syncFile(fd, path)
        }
    }
}

/// A failed system call on the blob store's files.
public struct BlobIOError: Error, CustomStringConvertible {
    public let description: String
    init(_ call: String, _ path: String) { description = "\(call) \(path): \(String(cString: strerror(errno)))" }

    /// The error for a system call that just failed: `StorageFullError` when `errno` says the
    /// disk or quota is full, else a `BlobIOError` naming the call and path.
    static func failure(_ call: String, _ path: String) -> any Error {
        let code = errno
        if StorageFullError.isNoSpace(code) { return StorageFullError("\(call) \(path)") }
        return BlobIOError(call, path)
    }
}

final class LocalBlobWrite: BlobWrite {
    private struct State {
        var fd: Int32
        var hasher = SHA256Hasher()
        var written: Int64 = 0
        var digest: String?
        var ended = false
    }

    let store: LocalBlobStore
    let name: String
    let path: String
    private let state: Mutex<State>

    init(store: LocalBlobStore, name: String, path: String, fd: Int32) {
        self.store = store
        self.name = name
        self.path = path
        state = Mutex(State(fd: fd))
    }

    deinit { abort() }

    var bytesWritten: Int64 { state.withLock { $0.written } }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try state.withLock { s in
            guard s.fd >= 0, !s.ended else { throw BlobIOError("write", path + " (closed)") }
            var offset = 0
            while offset < bytes.count {
                let n = sysWrite(s.fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw store.noted(BlobIOError.failure("write", path))
                }
                offset += n
            }
            s.hasher.update(bytes)
            s.written += Int64(bytes.count)
        }
    }

    func finish() async throws -> (sha256: String, size: Int64) {
        let path = self.path
        let (fd, size) = try state.withLock { s -> (Int32, Int64) in
            guard s.fd >= 0, !s.ended else { throw BlobIOError("finish", path + " (closed)") }
            return (s.fd, s.written)
        }
        do {
            try await LocalBlobStore.blocking { try LocalBlobStore.syncFile(fd, path) }
        } catch {
            throw store.noted(error)
        }
        return state.withLock { s in
            sysClose(s.fd)
            s.fd = -1
            let digest = s.hasher.finalize()
            s.digest = digest
            return (digest, size)
        }
    }

    func publish() async throws -> Bool {
        do {
            return try await publishUnderDigest()
        } catch {
            throw store.noted(error)
        }
    }

    private func publishUnderDigest() async throws -> Bool {
        guard let digest = state.withLock({ $0.digest }), !state.withLock({ $0.ended }) else {
            throw BlobIOError("publish", path + " (not finished)")
        }
        let directory = store.directory(of: digest)
        let target = store.path(of: digest)
        if mkdir(directory, 0o700) == 0 {
            try await LocalBlobStore.syncDirectory(store.root + "/sha256")
        } else if errno != EEXIST {
            throw BlobIOError.failure("mkdir", directory)
        }
        let size = bytesWritten
        var st = stat()
        let created: Bool
        if stat(target, &st) == 0, Int64(st.st_size) == size {
            // Identical content is stored once: keep the existing file, drop this copy.
            unlink(path)
            created = false
        } else {
            guard rename(path, target) == 0 else { throw BlobIOError.failure("rename", target) }
            created = true
        }
        state.withLock { $0.ended = true }
        store.ended(name)
        // Also when the file existed: its entry may not have been synced by a write that died.
        try await LocalBlobStore.syncDirectory(directory)
        return created
    }

    func abort() {
        let unlinkPart = state.withLock { s -> Bool in
            if s.fd >= 0 {
                sysClose(s.fd)
                s.fd = -1
            }
            let wasLive = !s.ended
            s.ended = true
            return wasLive
        }
        if unlinkPart {
            unlink(path)
            store.ended(name)
        }
    }
}

final class LocalBlobRead: BlobRead {
    let fd: Int32
    let size: Int64
    private let closed = Mutex(false)

    init(fd: Int32, size: Int64) {
        self.fd = fd
        self.size = size
    }

    deinit { close() }

    /// A `pread` straight from the page cache, on the caller's thread as before the protocol
    /// became async (the route reads 1 MiB at a time).
    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        while true {
            let n = pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
            if n >= 0 { return n }
            if errno != EINTR { throw BlobIOError.failure("pread", "fd \(fd)") }
        }
    }

    func close() {
        let first = closed.withLock { c -> Bool in
            defer { c = true }
            return !c
        }
        if first { sysClose(fd) }
    }
}

// The C calls under names the types above do not shadow with their own methods.
private func sysOpen(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 { open(path, flags, mode) }
@discardableResult private func sysClose(_ fd: Int32) -> Int32 { close(fd) }
private func sysWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }
