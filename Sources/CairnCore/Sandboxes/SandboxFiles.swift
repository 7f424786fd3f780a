import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Files of a sandbox's directory, resolved beneath it one component at a time with
/// `O_NOFOLLOW`: a symlink anywhere on the path is refused, never followed, so code inside
/// cannot plant a link that makes the server read or write outside the sandbox. (The same
/// guarantee as `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, on every kernel.)
public struct SandboxFiles: Sendable {
    public let root: String
    /// Files the API reads or writes whole are at most this large.
    public static let maxFileBytes = 64 << 20
    static let maxPathBytes = 4096

    public enum EntryType: String, Sendable { case file, directory, symlink, other }

    public struct Entry: Sendable, Equatable {
        public var name: String
        public var type: EntryType
        public var size: Int64
    }

    public enum Node: Sendable {
        case directory([Entry])
        case file([UInt8])
    }

    /// The path's components: relative, no `.` or `..`, no empty components, no NUL.
    public static func components(_ path: String) throws -> [String] {
        if path.utf8.count > maxPathBytes {
            throw SandboxError.invalidPath("the path is longer than \(maxPathBytes) bytes")
        }
        if path.hasPrefix("/") { throw SandboxError.invalidPath("the path must be relative to /work") }
        if path.utf8.contains(0) { throw SandboxError.invalidPath("the path contains a NUL byte") }
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        for part in parts {
            if part == ".." || part == "." { throw SandboxError.invalidPath("the path may not contain '.' or '..'") }
            if part.utf8.count > 255 { throw SandboxError.invalidPath("a path component is longer than 255 bytes") }
        }
        return parts
    }

    /// Opens the directory `parts` names, beneath the root, following no symlink.
    func openDirectory(_ parts: ArraySlice<String>, create: Bool = false) throws -> Int32 {
        var fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw SandboxError.notFound }
        for part in parts {
            var next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 && errno == ENOENT && create {
                if mkdirat(fd, part, 0o755) != 0 && errno != EEXIST {
                    let failure = errno
                    close(fd)
                    throw Self.error(failure, part)
                }
                next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if next >= 0 { Self.giveToSandbox(next) }
            }
            let failure = errno
            close(fd)
            guard next >= 0 else { throw Self.error(failure, part) }
            fd = next
        }
        return fd
    }

    static func error(_ code: Int32, _ part: String) -> SandboxError {
        switch code {
        case ENOENT: return .fileNotFound(part)
        case ELOOP, ENOTDIR: return .invalidPath("'\(part)' is a symlink or not a directory; links are not followed")
        default: return .invalidPath("'\(part)': \(String(cString: strerror(code)))")
        }
    }

    /// A directory's entries, or a file's bytes.
    public func read(_ path: String) throws -> Node {
        let parts = try Self.components(path)
        guard let last = parts.last else { return .directory(try list(fd: try openDirectory([]))) }
        let directory = try openDirectory(parts.dropLast())
        defer { close(directory) }
        let fd = openat(directory, last, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw Self.error(errno, last) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            throw Self.error(errno, last)
        }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: return .directory(try list(fd: fd))
        case S_IFREG:
            defer { close(fd) }
            guard info.st_size <= Self.maxFileBytes else {
                throw SandboxError.invalid(
                    "the file is larger than \(Self.maxFileBytes) bytes; save it as an artifact instead")
            }
            return .file(try Self.readAll(fd, limit: Self.maxFileBytes))
        default:
            close(fd)
            throw SandboxError.invalidPath("'\(last)' is not a regular file or directory")
        }
    }

    /// Opens a regular file for streaming (the caller closes the descriptor).
    public func openFile(_ path: String) throws -> (fd: Int32, size: Int64) {
        let parts = try Self.components(path)
        guard let last = parts.last else { throw SandboxError.invalidPath("the path names /work itself") }
        let directory = try openDirectory(parts.dropLast())
        defer { close(directory) }
        let fd = openat(directory, last, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw Self.error(errno, last) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw SandboxError.invalidPath("'\(last)' is not a regular file")
        }
        return (fd, Int64(info.st_size))
    }

    static func readAll(_ fd: Int32, limit: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return bytes }
            if n < 0 {
                if errno == EINTR { continue }
                throw SandboxError.invalidPath("read failed: \(String(cString: strerror(errno)))")
            }
            bytes += chunk[0..<n]
            if bytes.count > limit { throw SandboxError.invalid("the file is larger than \(limit) bytes") }
        }
    }

    func list(fd: Int32) throws -> [Entry] {
        guard let dir = fdopendir(fd) else {
            close(fd)
            throw SandboxError.invalidPath("cannot list the directory")
        }
        defer { closedir(dir) }
        var entries: [Entry] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name == "." || name == ".." { continue }
            var info = stat()
            guard fstatat(dirfd(dir), name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            let type: EntryType
            switch info.st_mode & S_IFMT {
            case S_IFREG: type = .file
            case S_IFDIR: type = .directory
            case S_IFLNK: type = .symlink
            default: type = .other
            }
            entries.append(Entry(name: name, type: type, size: Int64(info.st_size)))
            if entries.count >= 10_000 { break }
        }
        return entries.sorted { $0.name < $1.name }
    }

    /// Writes `bytes` at `path` (parent directories made), replacing a file atomically.
    public func write(_ path: String, bytes: [UInt8]) throws {
        let replacement = try Replacement(self, path)
        do {
            try bytes.withUnsafeBytes { try replacement.append($0) }
            try replacement.commit()
        } catch {
            replacement.abort()
            throw error
        }
    }

    /// A file being written beside its final name, then renamed over it: readers of the name
    /// see the old file or the whole new one.
    final class Replacement {
        let directory: Int32
        let name: String
        let temporary = ".cairn-write-" + Identifier.randomHex()
        private var fd: Int32

        init(_ files: SandboxFiles, _ path: String) throws {
            let parts = try SandboxFiles.components(path)
            guard let last = parts.last else { throw SandboxError.invalidPath("the path names /work itself") }
            directory = try files.openDirectory(parts.dropLast(), create: true)
            name = last
            fd = openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                let failure = errno
                close(directory)
                throw SandboxFiles.error(failure, last)
            }
        }

        func append(_ bytes: UnsafeRawBufferPointer) throws {
            do {
                try FileDescriptors.writeAll(fd, bytes)
            } catch let error as POSIXError {
                throw SandboxError.setupFailed("writing '\(name)': \(error.localizedDescription)")
            }
        }

        /// Puts the file in place. A symlink at the name is refused like one on the way
        /// (renameat would replace the link itself, never write through it, so a link made
        /// after this check is harmless); a directory there is refused too.
        func commit() throws {
            SandboxFiles.giveToSandbox(fd)
            close(fd)
            fd = -1
            if SandboxFiles.isSymlink(directory, name) { throw SandboxFiles.error(ELOOP, name) }
            guard renameat(directory, temporary, directory, name) == 0 else {
                let failure = errno
                throw failure == EISDIR
                    ? SandboxError.invalidPath("'\(name)' is a directory") : SandboxFiles.error(failure, name)
            }
        }

        func abort() {
            if fd >= 0 { close(fd) }
            fd = -1
            unlinkat(directory, temporary, 0)
        }

        deinit {
            if fd >= 0 { close(fd) }
            close(directory)
        }
    }

    /// Removes a file, a symlink (not what it points to) or an empty directory.
    public func delete(_ path: String) throws {
        let parts = try Self.components(path)
        guard let last = parts.last else { throw SandboxError.invalidPath("the path names /work itself") }
        let directory = try openDirectory(parts.dropLast())
        defer { close(directory) }
        if unlinkat(directory, last, 0) == 0 { return }
        if errno == EISDIR, unlinkat(directory, last, AT_REMOVEDIR) == 0 { return }
        if errno == ENOTEMPTY { throw SandboxError.invalidPath("'\(last)' is a directory that is not empty") }
        throw Self.error(errno, last)
    }

    static func isSymlink(_ directory: Int32, _ name: String) -> Bool {
        var info = stat()
        return fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFLNK
    }

    /// Files the server makes belong to the sandbox's user, so code inside can change them.
    static func giveToSandbox(_ fd: Int32) {
        if geteuid() == 0 { _ = fchown(fd, sandboxUser, sandboxUser) }
    }
}

/// A sandbox's file saved as an artifact: streamed from the file into the blob store, under
/// the artifact limits and the tenant's quota.
public enum SandboxArtifacts {
    public static func save(
        _ path: String, of files: SandboxFiles, name: String?, contentType: String?, owner: String,
        into artifacts: ArtifactService, tenant: TenantID
    ) async throws -> Artifact {
        let (fd, size) = try files.openFile(path)
        defer { close(fd) }
        var request = ArtifactUploadRequest(name: name ?? LocalPath.lastComponent(path))
        request.owner = owner
        request.declaredLength = size
        if let contentType { request.contentType = contentType }
        let upload = try await artifacts.beginUpload(request, tenant: tenant)
        do {
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { chunk.deallocate() }
            while true {
                let n = read(fd, chunk.baseAddress, chunk.count)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw SandboxError.invalidPath("'\(path)' could not be read") }
                if n == 0 { break }
                try upload.append(UnsafeRawBufferPointer(rebasing: chunk[..<n]))
            }
            return try await upload.commit().artifact
        } catch {
            upload.abort()
            throw error
        }
    }
}
