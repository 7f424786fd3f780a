import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Moving a workspace (an S3 bucket of the tenant) in and out of a sandbox's `/work`: its
/// objects (current, or as of a snapshot) are copied in at creation; `/work` is written back
/// as the bucket's objects and snapshotted on request. Keys are paths beneath `/work`.
struct SandboxWorkspaces: Sendable {
    let workspaces: WorkspaceService
    /// A workspace larger than this is refused at creation (the copy would take the disk).
    let maxBytes: Int64
    static let maxObjects = 100_000

    /// Copies the bucket's objects into `files`' root.
    func materialize(_ mount: SandboxWorkspaceMount, tenant: TenantID, into files: SandboxFiles) async throws {
        var query = ObjectListQuery()
        var total: Int64 = 0
        var count = 0
        while true {
            let page = try await workspaces.list(
                tenant: tenant, bucket: mount.bucket, query: query, snapshotVersion: mount.snapshot)
            for version in page.objects {
                count += 1
                total += version.size
                guard count <= Self.maxObjects, total <= maxBytes else {
                    throw SandboxError.invalid(
                        "the workspace is larger than a sandbox takes (\(Self.maxObjects) objects, \(maxBytes) bytes)")
                }
                // Keys that are no path beneath /work ("a/../b", "/x", "dir/") are skipped.
                guard !version.key.hasSuffix("/"), (try? SandboxFiles.components(version.key)) != nil else { continue }
                let reader = try await workspaces.open(version)
                defer { reader.close() }
                try await files.writeStreaming(version.key) { sink in
                    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
                    defer { buffer.deallocate() }
                    var offset: Int64 = 0
                    while offset < version.size {
                        let n = try await reader.read(at: offset, into: buffer)
                        guard n > 0 else { break }
                        try sink(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
                        offset += Int64(n)
                    }
                }
            }
            guard page.isTruncated, let last = page.objects.last?.key else { break }
            query.after = last
        }
    }

    /// Makes the bucket hold exactly `/work`'s regular files (symlinks and special files are
    /// skipped), then snapshots it. Returns the snapshot's version.
    func writeBack(_ mount: SandboxWorkspaceMount, tenant: TenantID, from files: SandboxFiles) async throws -> String {
        guard mount.writable, mount.snapshot == nil else { throw SandboxError.notWritable }
        var present = Set<String>()
        for path in try files.regularFiles(limit: Self.maxObjects) {
            present.insert(path)
            let (fd, _) = try files.openFile(path)
            defer { close(fd) }
            let write = try workspaces.beginWrite()
            var digest = ObjectDigest(.md5)
            do {
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
                defer { buffer.deallocate() }
                while true {
                    let n = read(fd, buffer.baseAddress, buffer.count)
                    if n < 0 && errno == EINTR { continue }
                    if n < 0 { throw SandboxError.invalidPath("'\(path)' could not be read") }
                    if n == 0 { break }
                    let chunk = UnsafeRawBufferPointer(rebasing: buffer[..<n])
                    try write.write(chunk)
                    digest.update(chunk)
                }
                _ = try await workspaces.putObject(
                    tenant: tenant, bucket: mount.bucket, key: path, write: write, md5: digest.finalize().md5 ?? [],
                    headers: ObjectHeaders([("content-type", "application/octet-stream")]))
            } catch {
                write.abort()
                throw error
            }
        }
        var query = ObjectListQuery()
        var gone: [String] = []
        while true {
            let page = try await workspaces.list(tenant: tenant, bucket: mount.bucket, query: query)
            gone += page.objects.map(\.key).filter { !present.contains($0) }
            guard page.isTruncated, let last = page.objects.last?.key else { break }
            query.after = last
        }
        for key in gone {
            _ = try await workspaces.deleteObject(tenant: tenant, bucket: mount.bucket, key: key, versionId: nil)
        }
        return try await workspaces.snapshot(tenant: tenant, bucket: mount.bucket, snapshotName: nil).version
    }
}

extension SandboxFiles {
    /// Writes the file at `path` from what `body` hands its sink, replacing it atomically.
    func writeStreaming(
        _ path: String, _ body: (_ sink: (UnsafeRawBufferPointer) throws -> Void) async throws -> Void
    ) async throws {
        let replacement = try Replacement(self, path)
        do {
            try await body { try replacement.append($0) }
            try replacement.commit()
        } catch {
            replacement.abort()
            throw error
        }
    }

    /// Every regular file beneath the root, as relative paths (symlinks are not followed).
    func regularFiles(limit: Int) throws -> [String] {
        var found: [String] = []
        var pending: [[String]] = [[]]
        while let parts = pending.popLast() {
            let fd = try openDirectory(parts[...])
            for entry in try list(fd: fd) {
                switch entry.type {
                case .file: found.append((parts + [entry.name]).joined(separator: "/"))
                case .directory: pending.append(parts + [entry.name])
                case .symlink, .other: continue
                }
                if found.count > limit { throw SandboxError.invalid("/work holds more than \(limit) files") }
            }
        }
        return found.sorted()
    }
}
