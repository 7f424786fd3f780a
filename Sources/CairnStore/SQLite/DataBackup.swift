import CairnCore
import Foundation
import VaporCSQLite

/// Online backup and verified restore of a data directory: the database, copied as one
/// consistent snapshot with SQLite's backup API while the server keeps running, and the blobs
/// that snapshot references. A backup directory is laid out like a data directory
/// (`cairn.sqlite`, `blobs/sha256/…`) plus `cairn-backup.json`, which records the database's
/// SHA-256 and the blobs' count and bytes so a restore can check everything before it copies.
public enum DataBackup {
    public static let manifestName = "cairn-backup.json"
    public static let databaseName = "cairn.sqlite"

    public struct Report: Sendable, Equatable {
        public var databaseBytes: Int64
        public var blobs: Int
        public var blobBytes: Int64
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Copies `dataDirectory` into `destination`, which must not exist or be empty. A blob
    /// deleted between the snapshot and its copy makes the attempt start over (at most three).
    public static func backup(dataDirectory: String, to destination: String) throws -> Report {
        let source = LocalPath.join(dataDirectory, databaseName)
        guard FileManager.default.fileExists(atPath: source) else {
            throw Failure("no Cairn database at \(source)")
        }
        try requireEmptyOrAbsent(destination)
        var lastMissing = ""
        for _ in 0..<3 {
            try? FileManager.default.removeItem(atPath: destination)
            try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
            let target = LocalPath.join(destination, databaseName)
            try copyDatabase(from: source, to: target)
            var report = Report(databaseBytes: try fileSize(target), blobs: 0, blobBytes: 0)
            var missing: String?
            for digest in try referencedDigests(database: target) {
                let from = blobPath(dataDirectory, digest)
                guard FileManager.default.fileExists(atPath: from) else {
                    missing = digest
                    break
                }
                let bytes = try copyVerified(from: from, to: blobPath(destination, digest), digest: digest)
                report.blobs += 1
                report.blobBytes += bytes
            }
            if let missing {
                lastMissing = missing
                continue
            }
            let manifest = JSONValue.object(
                JSONObject([
                    ("format", .int(1)), ("cairnVersion", .string(CairnVersion.string)),
                    ("createdAt", .string(Timestamp.now().iso8601)),
                    ("database", .string(databaseName)), ("databaseSHA256", .string(try sha256(file: target))),
                    ("databaseBytes", .int(Int(report.databaseBytes))), ("blobs", .int(report.blobs)),
                    ("blobBytes", .int(Int(report.blobBytes))),
                ]))
            try writeDurably(Array(manifest.jsonText.utf8), to: LocalPath.join(destination, manifestName))
            return report
        }
        throw Failure(
            "blob \(lastMissing) kept disappearing while it was copied (artifacts deleted meanwhile); try again")
    }

    /// Checks a backup completely: the manifest, the database's SHA-256 and integrity, and
    /// every referenced blob's bytes against its digest.
    public static func verify(backup: String) throws -> Report {
        let manifestPath = LocalPath.join(backup, manifestName)
        guard let data = FileManager.default.contents(atPath: manifestPath),
            let manifest = try? JSONParser.parse(bytes: Array(data)), manifest["format"]?.intValue == 1
        else { throw Failure("\(backup) is not a Cairn backup (no readable \(manifestName))") }
        let database = LocalPath.join(backup, databaseName)
        guard FileManager.default.fileExists(atPath: database) else { throw Failure("\(database) is missing") }
        guard try sha256(file: database) == manifest["databaseSHA256"]?.stringValue else {
            throw Failure("\(database) does not match the SHA-256 recorded at backup time")
        }
        try checkIntegrity(database: database)
        var report = Report(databaseBytes: try fileSize(database), blobs: 0, blobBytes: 0)
        for digest in try referencedDigests(database: database) {
            let path = blobPath(backup, digest)
            guard FileManager.default.fileExists(atPath: path) else { throw Failure("blob \(digest) is missing") }
            guard try sha256(file: path) == digest else { throw Failure("blob \(digest) is damaged") }
            report.blobs += 1
            report.blobBytes += try fileSize(path)
        }
        guard report.blobs == manifest["blobs"]?.intValue,
            Int(report.blobBytes) == manifest["blobBytes"]?.intValue
        else { throw Failure("the blobs differ from what the manifest recorded") }
        return report
    }

    /// Verifies `backup`, then copies it into `dataDirectory` (which must not exist or be empty;
    /// the server must not be running on it). The copy is made beside the target and renamed
    /// into place, so an interrupted restore leaves no half-restored data directory.
    public static func restore(from backup: String, into dataDirectory: String) throws -> Report {
        let report = try verify(backup: backup)
        try requireEmptyOrAbsent(dataDirectory)
        let staging = dataDirectory + ".restoring-" + Identifier.randomHex()
        defer { try? FileManager.default.removeItem(atPath: staging) }
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        _ = try copyVerified(
            from: LocalPath.join(backup, databaseName), to: LocalPath.join(staging, databaseName), digest: nil)
        for digest in try referencedDigests(database: LocalPath.join(staging, databaseName)) {
            _ = try copyVerified(from: blobPath(backup, digest), to: blobPath(staging, digest), digest: digest)
        }
        if FileManager.default.fileExists(atPath: dataDirectory) {
            try FileManager.default.removeItem(atPath: dataDirectory)  // empty, checked above
        }
        guard rename(staging, dataDirectory) == 0 else {
            throw Failure("cannot move the restored copy to \(dataDirectory): \(String(cString: strerror(errno)))")
        }
        return report
    }

    // MARK: Pieces

    /// Where a blob lives under a data directory (the layout of `LocalBlobStore`).
    static func blobPath(_ dataDirectory: String, _ digest: String) -> String {
        LocalPath.join(dataDirectory, "blobs/sha256/\(digest.prefix(2))/\(digest)")
    }

    static func requireEmptyOrAbsent(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else { throw Failure("not a directory: \(path)") }
        guard (try FileManager.default.contentsOfDirectory(atPath: path)).isEmpty else {
            throw Failure("\(path) is not empty; name a new directory")
        }
    }

    static func openDatabase(_ path: String, flags: Int32) throws -> OpaquePointer {
        var db: OpaquePointer?
        let rc = sqlite_nio_sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite_nio_sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite_nio_sqlite3_close(db) }
            throw Failure("\(path): \(message)")
        }
        sqlite_nio_sqlite3_busy_timeout(db, 10_000)
        return db
    }

    /// SQLite's online backup: one consistent snapshot, even while the server writes.
    static func copyDatabase(from source: String, to target: String) throws {
        let from = try openDatabase(source, flags: SQLITE_OPEN_READONLY)
        defer { sqlite_nio_sqlite3_close(from) }
        let to = try openDatabase(target, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        defer { sqlite_nio_sqlite3_close(to) }
        guard let backup = sqlite_nio_sqlite3_backup_init(to, "main", from, "main") else {
            throw Failure("cannot start the backup: \(String(cString: sqlite_nio_sqlite3_errmsg(to)))")
        }
        // All pages in one step: the copy is one read transaction on the source.
        let rc = sqlite_nio_sqlite3_backup_step(backup, -1)
        let finish = sqlite_nio_sqlite3_backup_finish(backup)
        guard rc == SQLITE_DONE, finish == SQLITE_OK else {
            throw Failure("the database copy failed: \(String(cString: sqlite_nio_sqlite3_errmsg(to)))")
        }
        // A backup stands alone: one file, no write-ahead log beside it.
        guard sqlite_nio_sqlite3_exec(to, "PRAGMA journal_mode = DELETE", nil, nil, nil) == SQLITE_OK else {
            throw Failure("cannot finish the database copy")
        }
    }

    static func checkIntegrity(database: String) throws {
        let db = try openDatabase(database, flags: SQLITE_OPEN_READONLY)
        defer { sqlite_nio_sqlite3_close(db) }
        let rows = try strings(db, "PRAGMA integrity_check")
        guard rows == ["ok"] else { throw Failure("\(database) fails SQLite's integrity check: \(rows.prefix(3))") }
    }

    static func referencedDigests(database: String) throws -> [String] {
        let db = try openDatabase(database, flags: SQLITE_OPEN_READONLY)
        defer { sqlite_nio_sqlite3_close(db) }
        let digests = try strings(db, "SELECT DISTINCT sha256 FROM blobs WHERE refcount > 0 ORDER BY sha256")
        for digest in digests where !ArtifactNames.isValidDigest(digest) {
            throw Failure("the database references a malformed blob digest")
        }
        return digests
    }

    static func strings(_ db: OpaquePointer, _ sql: String) throws -> [String] {
        var statement: OpaquePointer?
        guard sqlite_nio_sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw Failure("cannot read the database: \(String(cString: sqlite_nio_sqlite3_errmsg(db)))")
        }
        defer { sqlite_nio_sqlite3_finalize(statement) }
        var out: [String] = []
        while true {
            let rc = sqlite_nio_sqlite3_step(statement)
            if rc == SQLITE_DONE { return out }
            guard rc == SQLITE_ROW else {
                throw Failure("cannot read the database: \(String(cString: sqlite_nio_sqlite3_errmsg(db)))")
            }
            out.append(sqlite_nio_sqlite3_column_text(statement, 0).map { String(cString: $0) } ?? "")
        }
    }

    static func fileSize(_ path: String) throws -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0 else { throw Failure("cannot stat \(path)") }
        return Int64(st.st_size)
    }

    static func sha256(file path: String) throws -> String {
        var hasher = SHA256Hasher()
        try readChunks(path) { hasher.update($0) }
        return hasher.finalize()
    }

    static func readChunks(_ path: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure("cannot read \(path)") }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw Failure("cannot read \(path)") }
            if n == 0 { return }
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    /// Copies through a temporary file that is synced and renamed into place; with `digest`,
    /// the bytes must hash to it. Returns the bytes copied.
    static func copyVerified(from: String, to: String, digest: String?) throws -> Int64 {
        try FileManager.default.createDirectory(
            atPath: LocalPath.directory(to), withIntermediateDirectories: true)
        let temporary = to + ".part"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        var hasher = SHA256Hasher()
        var bytes: Int64 = 0
        do {
            defer { close(fd) }
            try readChunks(from) { chunk in
                try writeAll(fd, chunk, path: temporary)
                hasher.update(chunk)
                bytes += Int64(chunk.count)
            }
            guard fsync(fd) == 0 else { throw Failure("cannot sync \(temporary)") }
        } catch {
            unlink(temporary)
            throw error
        }
        if let digest, hasher.finalize() != digest {
            unlink(temporary)
            throw Failure("blob \(digest) changed while it was copied")
        }
        guard rename(temporary, to) == 0 else { throw Failure("cannot rename \(temporary)") }
        return bytes
    }

    static func writeDurably(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure("cannot write \(path)") }
        defer { close(fd) }
        try bytes.withUnsafeBytes { try writeAll(fd, $0, path: path) }
        guard fsync(fd) == 0 else { throw Failure("cannot sync \(path)") }
    }

    static func writeAll(_ fd: Int32, _ chunk: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < chunk.count {
            let n = write(fd, chunk.baseAddress! + offset, chunk.count - offset)
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw Failure("cannot write \(path): \(String(cString: strerror(errno)))") }
            offset += n
        }
    }
}
