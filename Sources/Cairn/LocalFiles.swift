import CairnCore
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writing a downloaded file all or nothing.
enum AtomicFile {
    /// Runs `body` with a new temporary file beside `path` (its descriptor and name), then syncs
    /// it and renames it to `path`. If anything fails, the temporary file is removed and nothing
    /// is left at `path`. Local file failures are thrown as `failure(message)`.
    static func write<T>(
        _ path: String, failure: (String) -> any Error = WorkspaceError.file,
        _ body: (Int32, String) async throws -> T
    ) async throws -> T {
        let name = LocalPath.lastComponent(path)
        guard !name.isEmpty, name != "/", name != ".", name != ".." else {
            throw failure("\(path) names a directory, not a file")
        }
        let temporary = LocalPath.join(
            LocalPath.directory(path), "." + name + "." + UUID().uuidString.lowercased() + ".part")
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("cannot create \(temporary)") }
        var renamed = false
        defer { if !renamed { unlink(temporary) } }
        let result: T
        do {
            defer { close(fd) }
            result = try await body(fd, temporary)
            guard fsync(fd) == 0 else { throw failure("cannot sync \(temporary)") }
        }
        guard rename(temporary, path) == 0 else { throw failure("cannot rename to \(path)") }
        renamed = true
        return result
    }
}

/// Plain file descriptor I/O that finishes what it starts.
enum FileIO {
    /// Writes all of `bytes`, retrying short writes and interruptions.
    static func writeAll(
        _ fd: Int32, _ bytes: UnsafeRawBufferPointer, describedAs description: String,
        failure: (String) -> any Error = WorkspaceError.file
    ) throws {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw failure("cannot write \(description)") }
            offset += n
        }
    }

    /// Reads exactly `count` bytes at `offset` (fewer only at the end of the file).
    static func read(_ fd: Int32, at offset: Int64, count: Int, describedAs description: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        try bytes.withUnsafeMutableBytes { raw in
            while filled < count {
                let n = pread(fd, raw.baseAddress! + filled, count - filled, off_t(offset) + off_t(filled))
                if n < 0, errno == EINTR { continue }
                guard n >= 0 else { throw WorkspaceError.file("cannot read \(description)") }
                if n == 0 { break }
                filled += n
            }
        }
        bytes.removeLast(count - filled)
        return bytes
    }

    /// The size of the regular file at `path`.
    static func regularFileSize(_ path: String, failure: (String) -> any Error = WorkspaceError.file) throws -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw failure("\(path) is not a readable regular file")
        }
        return Int64(st.st_size)
    }

    static func openForReading(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WorkspaceError.file("cannot open \(path)") }
        return fd
    }
}
