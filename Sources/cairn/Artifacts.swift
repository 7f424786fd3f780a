import ArgumentParser
import Cairn
import CairnCore
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `cairn artifacts`: upload, download, list, inspect and delete artifacts on a server.
struct ArtifactsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "artifacts",
        abstract: "Upload, download, list, inspect and delete artifacts on a Cairn server.",
        subcommands: [Put.self, Get.self, List.self, Info.self, Remove.self])

    struct Connection: ParsableArguments {
        @Option(help: "Server URL (CAIRN_URL; default http://127.0.0.1:7373).") var url: String?
        @Option(name: .customLong("api-key"), help: "Bearer key (CAIRN_API_KEY).") var apiKey: String?

        var client: Cairn {
            let env = ProcessInfo.processInfo.environment
            return Cairn.http(
                url: url ?? env["CAIRN_URL"] ?? "http://127.0.0.1:7373", apiKey: apiKey ?? env["CAIRN_API_KEY"])
        }
    }

    struct ProgressOption: ParsableArguments {
        @Flag(
            inversion: .prefixedNo,
            help: "Progress bar on standard error (default: when it is a terminal and the transfer exceeds 4 MiB).")
        var progress: Bool?

        func bar(total: Int64) -> ProgressBar? {
            let show = progress ?? (isatty(STDERR_FILENO) == 1 && total > 4 * 1024 * 1024)
            return show ? ProgressBar(total: total) : nil
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Upload a file; prints the new artifact's id (or its record with --json).")
        @OptionGroup var connection: Connection
        @OptionGroup var progress: ProgressOption
        @Argument(help: "The file to upload.") var file: String
        @Option(help: "The artifact's name (default: the file's name).") var name: String?
        @Option(help: "The owning agent's id.") var owner: String?
        @Option(name: .customLong("content-type"), help: "Stored and returned on download.") var contentType =
            "application/octet-stream"
        @Option(help: "Seconds until the artifact expires.") var ttl: Int64?
        @Option(name: .customLong("meta"), help: "A metadata label key=value; repeat for several.") var meta: [String] =
            []
        @Option(
            name: .customLong("idempotency-key"),
            help: """
                Sent as Idempotency-Key: rerunning put with the same key prints the artifact the first run \
                stored instead of uploading a second one.
                """)
        var idempotencyKey: String?
        @Flag(help: "Skip hashing the file first (the server then cannot verify the bytes end to end).")
        var noVerify = false
        @Flag(help: "Print the artifact's record as JSON.") var json = false

        func run() async throws {
            var options = Artifacts.UploadOptions()
            options.contentType = contentType
            options.owner = owner
            options.ttlSeconds = ttl
            options.verify = !noVerify
            options.idempotencyKey = idempotencyKey
            for pair in meta {
                guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                    throw ValidationError("--meta takes key=value, got \(pair)")
                }
                options.metadata[String(pair[..<eq]).lowercased()] = String(pair[pair.index(after: eq)...])
            }
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int64) ?? 0
            let bar = progress.bar(total: size)
            let artifact = try await connection.client.artifacts.upload(
                file: file, name: name, options: options, progress: bar?.callback)
            bar?.finish()
            print(json ? artifactJSON(artifact) : artifact.id)
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download an artifact, verified against its SHA-256 before it is put in place.")
        @OptionGroup var connection: Connection
        @OptionGroup var progress: ProgressOption
        @Argument(help: "The artifact's id.") var id: String
        @Option(
            name: [.short, .customLong("output")],
            help: "Where to write it; - for standard output (default: the last part of its name).")
        var output: String?
        @Flag(help: "Replace an existing file.") var force = false

        func run() async throws {
            let artifacts = connection.client.artifacts
            if output == "-" {
                // Bytes go out as they arrive; a failed size or SHA-256 check still exits non-zero.
                let info = try await artifacts.download(id, into: STDOUT_FILENO, describedAs: "standard output")
                FileHandle.standardError.write(Data("\(info.size) bytes, sha256 \(info.sha256)\n".utf8))
                return
            }
            let info = try await artifacts.info(id)
            let target = output ?? LocalPath.lastComponent(info.name)
            guard !target.isEmpty, target != "/", target != ".", target != ".." else {
                throw ValidationError(
                    "cannot name a file after \(info.name); pass -o PATH (or -o - for standard output)")
            }
            if !force, FileManager.default.fileExists(atPath: target) {
                throw ValidationError("\(target) exists; pass --force to replace it")
            }
            let bar = progress.bar(total: info.size)
            try await artifacts.download(id, to: target, progress: bar?.callback)
            bar?.finish()
            FileHandle.standardError.write(Data("\(target): \(info.size) bytes, sha256 \(info.sha256)\n".utf8))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List artifacts, by name.")
        @OptionGroup var connection: Connection
        @Option(help: "Only this owner's.") var owner: String?
        @Option(help: "Only names starting with this.") var prefix: String?
        @Option(help: "Artifacts per page.") var limit = 100
        @Flag(help: "Follow every page.") var all = false
        @Option(help: "Start after this cursor (nextCursor of a previous page).") var cursor: String?
        @Flag(help: "Print JSON lines, one record each.") var json = false

        func run() async throws {
            let artifacts = connection.client.artifacts
            var cursor = self.cursor
            if !json { print("ID\tNAME\tSIZE\tSHA256\tOWNER\tCREATED\tEXPIRES") }
            repeat {
                let page = try await artifacts.list(owner: owner, prefix: prefix, limit: limit, cursor: cursor)
                for a in page.artifacts {
                    if json {
                        print(artifactJSON(a))
                    } else {
                        print(
                            [
                                a.id, a.name, String(a.size), String(a.sha256.prefix(12)), a.owner ?? "-",
                                a.createdAt.iso8601, a.expiresAt?.iso8601 ?? "-",
                            ].joined(separator: "\t"))
                    }
                }
                cursor = page.nextCursor
                if !all, let next = cursor {
                    FileHandle.standardError.write(Data("more: --cursor \(next)\n".utf8))
                }
            } while all && cursor != nil
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print an artifact's record as JSON.")
        @OptionGroup var connection: Connection
        @Argument(help: "The artifact's id.") var id: String

        func run() async throws { print(artifactJSON(try await connection.client.artifacts.info(id))) }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete artifacts.")
        @OptionGroup var connection: Connection
        @Argument(help: "The artifacts' ids.") var ids: [String]

        func run() async throws {
            let artifacts = connection.client.artifacts
            for id in ids {
                try await artifacts.delete(id)
                print("deleted \(id)")
            }
        }
    }
}

/// An artifact's record as JSON, as the server shows it.
func artifactJSON(_ a: Artifact) -> String {
    JSONValue.object(
        JSONObject([
            ("id", .string(a.id)), ("name", .string(a.name)), ("contentType", .string(a.contentType)),
            ("size", .int(Int(a.size))), ("sha256", .string(a.sha256)), ("owner", a.owner.map { .string($0) } ?? .null),
            ("tenant", .string(a.tenant.rawValue)),
            (
                "metadata",
                .object(JSONObject(a.metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
            ),
            ("createdAt", .string(a.createdAt.iso8601)),
            ("expiresAt", a.expiresAt.map { .string($0.iso8601) } ?? .null),
        ])
    ).jsonText
}

/// A one-line progress bar on standard error, redrawn at most ten times a second.
final class ProgressBar: Sendable {
    let total: Int64
    let start = ContinuousClock.now
    private let last = Mutex<(drawnAt: ContinuousClock.Instant?, bytes: Int64)>((nil, 0))

    init(total: Int64) { self.total = total }

    var callback: TransferProgress { callback(after: 0) }

    /// Progress of one transfer of several, `done` bytes into the whole.
    func callback(after done: Int64) -> TransferProgress { { bytes, _ in self.update(done + bytes) } }

    func update(_ bytes: Int64) {
        let now = ContinuousClock.now
        let draw = last.withLock { l -> Bool in
            l.bytes = bytes
            if let at = l.drawnAt, now - at < .milliseconds(100), bytes < total { return false }
            l.drawnAt = now
            return true
        }
        if draw { render(bytes, now: now) }
    }

    func finish() {
        render(last.withLock { $0.bytes }, now: .now)
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func render(_ bytes: Int64, now: ContinuousClock.Instant) {
        let fraction = total > 0 ? min(1, Double(bytes) / Double(total)) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let elapsed = Double((now - start).components.attoseconds) / 1e18 + Double((now - start).components.seconds)
        let rate = elapsed > 0 ? Double(bytes) / elapsed / 1_048_576 : 0
        let line = String(
            format: "\r[%@%@] %3.0f%% %.1f/%.1f MiB %.1f MiB/s", String(repeating: "#", count: filled),
            String(repeating: ".", count: width - filled), fraction * 100, Double(bytes) / 1_048_576,
            Double(total) / 1_048_576, rate)
        FileHandle.standardError.write(Data(line.utf8))
    }
}
