import ArgumentParser
import Cairn
import CairnCore
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `cairn workspaces`: workspaces on a server's S3 listener, through the SDK.
struct WorkspacesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workspaces",
        abstract: "Create, list, checkpoint, fork, restore, copy to and from, and remove workspaces.",
        discussion: """
            Talks to the server's S3 listener (--s3-url or CAIRN_S3_URL; default http://127.0.0.1:7374) \
            with an S3 key (--access-key-id and --secret-access-key, or AWS_ACCESS_KEY_ID and \
            AWS_SECRET_ACCESS_KEY; `cairn keys create --s3` makes one). Remote paths are written \
            ws://BUCKET/KEY (s3:// works too) for cp, and BUCKET[/PREFIX] for ls.
            """,
        subcommands: [
            Create.self, List.self, Remove.self, Snapshot.self, Snapshots.self, Fork.self, RestoreSnapshot.self,
            Copy.self,
        ])

    struct Connection: ParsableArguments {
        @Option(name: .customLong("s3-url"), help: "The S3 listener (CAIRN_S3_URL; default http://127.0.0.1:7374).")
        var s3URL: String?
        @Option(name: .customLong("access-key-id"), help: "S3 access key id (AWS_ACCESS_KEY_ID).")
        var accessKeyId: String?
        @Option(name: .customLong("secret-access-key"), help: "S3 secret (AWS_SECRET_ACCESS_KEY).")
        var secretAccessKey: String?

        func workspaces() throws -> Workspaces {
            guard (accessKeyId == nil) == (secretAccessKey == nil) else {
                throw ValidationError("pass --access-key-id and --secret-access-key together")
            }
            let credentials = accessKeyId.map {
                SigV4.Credentials(accessKeyId: $0, secretAccessKey: secretAccessKey ?? "")
            }
            do {
                return try Cairn.http(url: "http://127.0.0.1:7373").workspaces(
                    endpoint: s3URL, credentials: credentials)
            } catch WorkspaceError.noCredentials {
                throw ValidationError(
                    "no S3 key: pass --access-key-id and --secret-access-key, or set AWS_ACCESS_KEY_ID and "
                        + "AWS_SECRET_ACCESS_KEY (cairn keys create --s3 makes one)")
            }
        }
    }

    enum Role: String, ExpressibleByArgument, CaseIterable {
        case editor, readonly

        var role: WorkspaceRole { self == .editor ? .editor : .readOnly }
    }

    /// Prints a workspace, and its scoped credentials when it has them.
    static func report(_ workspace: Workspace, json: Bool) {
        if json {
            var pairs: [(String, JSONValue)] = [("name", .string(workspace.name))]
            if let at = workspace.forkedAt { pairs.append(("forkedAt", .string(at))) }
            if let c = workspace.credentials {
                pairs.append(
                    (
                        "credentials",
                        .object(
                            JSONObject([
                                ("accessKeyId", .string(c.accessKeyId)),
                                ("secretAccessKey", .string(c.secretAccessKey)),
                                ("role", .string(c.role.rawValue)), ("policyArn", .string(c.policyArn)),
                            ]))
                    ))
            }
            print(JSONValue.object(JSONObject(pairs)).jsonText)
            return
        }
        print(workspace.name)
        if let c = workspace.credentials {
            // The secret is shown once, as `cairn keys create --s3` does.
            print("\(c.role.rawValue) key:")
            print(c.accessKeyId)
            print(c.secretAccessKey)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a workspace (snapshots on); prints its name, and its scoped key when asked for one.")
        @OptionGroup var connection: Connection
        @Argument(help: "The workspace's name (an S3 bucket name).") var name: String
        @Option(name: .customLong("ttl-days"), help: "Every object expires this many days after it is written.")
        var ttlDays: Int?
        @Flag(name: .customLong("no-snapshots"), help: "A plain bucket: no checkpoints or forks.") var noSnapshots =
            false
        @Option(help: "Also create an access key scoped to this workspace: editor or readonly.") var credentials: Role?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            if let ttlDays, !(1...36_500).contains(ttlDays) { throw ValidationError("--ttl-days must be 1...36500") }
        }

        func run() async throws {
            let workspace = try await connection.workspaces().create(
                name, ttlDays: ttlDays, snapshots: !noSnapshots, credentials: credentials?.role)
            WorkspacesCommand.report(workspace, json: json)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls",
            abstract: "List workspaces, or the objects of BUCKET[/PREFIX] (as of a snapshot with --at).")
        @OptionGroup var connection: Connection
        @Argument(help: "BUCKET or BUCKET/PREFIX; without it, the workspaces.") var path: String?
        @Option(help: "List as of this snapshot version.") var at: String?
        @Flag(help: "Print JSON lines, one record each.") var json = false

        func validate() throws {
            if at != nil, path == nil { throw ValidationError("--at needs a BUCKET to list") }
        }

        func run() async throws {
            let workspaces = try connection.workspaces()
            guard let path else {
                for name in try await workspaces.list() {
                    print(json ? JSONValue.object(JSONObject([("name", .string(name))])).jsonText : name)
                }
                return
            }
            let bucket = String(path.prefix { $0 != "/" })
            let prefix = String(path.dropFirst(bucket.count + (path.count > bucket.count ? 1 : 0)))
            let objects = try await workspaces.objects(bucket, prefix: prefix, at: at)
            if !json { print("KEY\tSIZE\tETAG\tMODIFIED") }
            for o in objects {
                if json {
                    print(
                        JSONValue.object(
                            JSONObject([
                                ("key", .string(o.key)), ("size", .int(Int(o.size))), ("eTag", .string(o.eTag)),
                                ("lastModified", o.lastModified.map { .string($0.iso8601) } ?? .null),
                            ])
                        ).jsonText)
                } else {
                    print([o.key, String(o.size), o.eTag, o.lastModified?.iso8601 ?? "-"].joined(separator: "\t"))
                }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm",
            abstract: "Tear down workspaces: revoke their scoped keys, then delete them with their objects.")
        @OptionGroup var connection: Connection
        @Argument(help: "The workspaces' names.") var names: [String]
        @Flag(help: "Refuse to delete a workspace that still holds objects.") var keepNonEmpty = false

        func run() async throws {
            let workspaces = try connection.workspaces()
            for name in names {
                try await workspaces.teardown(name, force: !keepNonEmpty)
                print("removed \(name)")
            }
        }
    }

    struct Snapshot: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a snapshot (checkpoint) of a workspace; prints its version.")
        @OptionGroup var connection: Connection
        @Argument(help: "The workspace.") var bucket: String
        @Option(help: "A name for the snapshot (restore can find it by name).") var name: String?

        func run() async throws {
            print(try await connection.workspaces().checkpoint(bucket, name: name).version)
        }
    }

    struct Snapshots: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a workspace's snapshots, oldest first.")
        @OptionGroup var connection: Connection
        @Argument(help: "The workspace.") var bucket: String

        func run() async throws {
            print("VERSION\tNAME\tCREATED")
            for s in try await connection.workspaces().checkpoints(bucket) {
                print([s.version, s.name ?? "-", s.createdAt?.iso8601 ?? "-"].joined(separator: "\t"))
            }
        }
    }

    struct Fork: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fork a workspace (copy-on-write, O(1)) as of now or of a snapshot.")
        @OptionGroup var connection: Connection
        @Argument(help: "The workspace to fork.") var source: String
        @Argument(help: "The new workspace's name.") var name: String
        @Option(help: "Fork as of this snapshot version.") var at: String?
        @Option(help: "Also create an access key scoped to the fork: editor or readonly.") var credentials: Role?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let fork = try await connection.workspaces().fork(
                source, into: name, at: at, credentials: credentials?.role)
            WorkspacesCommand.report(fork, json: json)
        }
    }

    struct RestoreSnapshot: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore",
            abstract: "Restore a snapshot (by version or name) as a new workspace; the source is unchanged.")
        @OptionGroup var connection: Connection
        @Argument(help: "The workspace the snapshot belongs to.") var source: String
        @Argument(help: "The snapshot's version or name.") var snapshot: String
        @Argument(help: "The new workspace's name.") var name: String
        @Option(help: "Also create an access key scoped to it: editor or readonly.") var credentials: Role?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let restored = try await connection.workspaces().restore(
                source, checkpoint: snapshot, into: name, credentials: credentials?.role)
            WorkspacesCommand.report(restored, json: json)
        }
    }

    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cp",
            abstract: "Copy files and directories into a workspace, or objects and prefixes out of one.",
            discussion: """
                cp FILE ws://BUCKET/KEY (a KEY ending in / or empty takes the file's name); \
                cp DIR ws://BUCKET/PREFIX/ (every file below DIR); cp ws://BUCKET/KEY FILE-OR-DIR; \
                cp ws://BUCKET/PREFIX/ DIR (every object below PREFIX, --recursive for a PREFIX without \
                a trailing /). Files over 16 MiB go up in 8 MiB parts, and an interrupted upload of the \
                same key is resumed unless --no-resume.
                """)
        @OptionGroup var connection: Connection
        @OptionGroup var progress: ArtifactsCommand.ProgressOption
        @Argument(help: "The source: a local path or ws://BUCKET/KEY.") var source: String
        @Argument(help: "The destination: a local path or ws://BUCKET/KEY.") var destination: String
        @Flag(name: [.short, .long], help: "Copy everything below a prefix.") var recursive = false
        @Option(help: "Read the workspace as of this snapshot version.") var at: String?
        @Flag(inversion: .prefixedNo, help: "Continue an interrupted multipart upload of the same key.")
        var resume = true
        @Option(name: .customLong("content-type"), help: "Stored with uploaded objects.") var contentType: String?

        struct Remote {
            var bucket: String
            var key: String
        }

        static func remote(_ path: String) -> Remote? {
            for scheme in ["ws://", "s3://"] where path.hasPrefix(scheme) {
                let rest = path.dropFirst(scheme.count)
                let bucket = String(rest.prefix { $0 != "/" })
                return Remote(
                    bucket: bucket, key: String(rest.dropFirst(bucket.count + (rest.count > bucket.count ? 1 : 0))))
            }
            return nil
        }

        func validate() throws {
            switch (Self.remote(source), Self.remote(destination)) {
            case (nil, nil): throw ValidationError("one side must be a workspace path (ws://BUCKET/KEY)")
            case (.some, .some):
                throw ValidationError("copying between workspaces is not supported: fork, or copy through a file")
            case (let r?, nil), (nil, let r?):
                if r.bucket.isEmpty { throw ValidationError("a workspace path names its bucket: ws://BUCKET/KEY") }
            }
            if at != nil, Self.remote(source) == nil { throw ValidationError("--at reads a workspace: the source") }
        }

        func run() async throws {
            let workspaces = try connection.workspaces()
            if let target = Self.remote(destination) {
                try await upload(workspaces, to: target)
            } else if let from = Self.remote(source) {
                try await download(workspaces, from: from)
            }
        }

        private static func isDirectory(_ path: String) -> Bool {
            var st = stat()
            return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
        }

        /// The regular files below `directory`, as (path, path relative to it), in a stable order.
        private static func files(below directory: String) throws -> [(path: String, relative: String)] {
            guard let walker = FileManager.default.enumerator(atPath: directory) else {
                throw CLIError("cannot read the directory \(directory)")
            }
            var found: [(String, String)] = []
            while let relative = walker.nextObject() as? String {
                let path = LocalPath.join(directory, relative)
                var st = stat()
                if lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { found.append((path, relative)) }
            }
            return found.sorted { $0.1 < $1.1 }
        }

        private func upload(_ workspaces: Workspaces, to target: Remote) async throws {
            var transfers: [(path: String, key: String)]
            if Self.isDirectory(source) {
                let prefix = target.key.isEmpty || target.key.hasSuffix("/") ? target.key : target.key + "/"
                transfers = try Self.files(below: source).map { ($0.path, prefix + $0.relative) }
            } else {
                let key =
                    target.key.isEmpty || target.key.hasSuffix("/")
                    ? target.key + LocalPath.lastComponent(source) : target.key
                transfers = [(source, key)]
            }
            let sizes = try transfers.map { t -> Int64 in
                guard let size = (try? FileManager.default.attributesOfItem(atPath: t.path))?[.size] as? Int64 else {
                    throw CLIError("\(t.path): no such file")
                }
                return size
            }
            let bar = progress.bar(total: sizes.reduce(0, +))
            var done: Int64 = 0
            for (transfer, size) in zip(transfers, sizes) {
                let base = done
                _ = try await workspaces.put(
                    target.bucket, key: transfer.key, file: transfer.path, contentType: contentType, resume: resume,
                    progress: bar?.callback(after: base))
                done += size
                if bar == nil { print("\(transfer.path) -> ws://\(target.bucket)/\(transfer.key)") }
            }
            bar?.finish()
        }

        private func download(_ workspaces: Workspaces, from: Remote) async throws {
            let manyObjects = recursive || from.key.isEmpty || from.key.hasSuffix("/")
            if !manyObjects {
                let target =
                    Self.isDirectory(destination)
                    ? LocalPath.join(destination, LocalPath.lastComponent(from.key)) : destination
                let size = try await workspaces.info(from.bucket, key: from.key, at: at).size
                let bar = progress.bar(total: size)
                try await workspaces.download(from.bucket, key: from.key, to: target, at: at, progress: bar?.callback)
                bar?.finish()
                if bar == nil { print("ws://\(from.bucket)/\(from.key) -> \(target)") }
                return
            }
            let prefix = from.key.isEmpty || from.key.hasSuffix("/") ? from.key : from.key + "/"
            let objects = try await workspaces.objects(from.bucket, prefix: prefix, at: at)
            // Keys become paths below the destination only when they cannot climb out of it.
            for o in objects where !Self.isSafeRelativePath(String(o.key.dropFirst(prefix.count))) {
                throw CLIError("the key \(o.key) cannot be written below \(destination) (an absolute or .. path)")
            }
            let bar = progress.bar(total: objects.reduce(0) { $0 + $1.size })
            var done: Int64 = 0
            for o in objects {
                let relative = String(o.key.dropFirst(prefix.count))
                let target = LocalPath.join(destination, relative)
                try FileManager.default.createDirectory(
                    atPath: LocalPath.directory(target).isEmpty ? "." : LocalPath.directory(target),
                    withIntermediateDirectories: true)
                let base = done
                try await workspaces.download(
                    from.bucket, key: o.key, to: target, at: at,
                    progress: bar?.callback(after: base))
                done += o.size
                if bar == nil { print("ws://\(from.bucket)/\(o.key) -> \(target)") }
            }
            bar?.finish()
        }

        /// Not empty, not absolute, no empty, `.` or `..` components.
        static func isSafeRelativePath(_ path: String) -> Bool {
            guard !path.isEmpty, !path.hasPrefix("/") else { return false }
            return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy {
                !$0.isEmpty && $0 != "." && $0 != ".."
            }
        }
    }
}
