import ArgumentParser
import CairnCore
import CairnServer
import CairnStore
import Foundation
import Logging
import NIOHTTP1

/// `cairn keys`: API key management on a data directory (also while the server runs), or on a
/// running server through its admin API.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke API keys in a data directory or on a running server.",
        discussion: """
            With --data-dir (or CAIRN_DATA_DIR) the store is changed directly, also while the server runs; \
            with --url (or CAIRN_URL) the server's admin API is used, with an admin key (--api-key or \
            CAIRN_API_KEY): the root key manages every tenant, a tenant's admin key its own tenant.
            Examples:
              cairn keys create --tenant acme --data-dir /var/lib/cairn
              cairn keys list --url http://cairn.internal:7373 --api-key $ROOT_KEY
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct Location: ParsableArguments {
        @Option(name: .customLong("data-dir"), help: "The server's data directory (CAIRN_DATA_DIR).") var dataDir:
            String?
        @Option(
            name: .customLong("database"),
            help: "The servers' Postgres database, postgres://user:password@host:port/db (CAIRN_DATABASE).")
        var database: String?
        @Option(help: "A running server to manage keys on, through its admin API (CAIRN_URL).") var url: String?
        @Option(name: .customLong("api-key"), help: "An admin key for --url (CAIRN_API_KEY).") var apiKey: String?

        /// The admin API to use, when the command is pointed at a server rather than a store:
        /// `--url`, or `CAIRN_URL` when no data directory is named at all.
        var remote: APIClient? {
            let environment = ProcessInfo.processInfo.environment
            func setting(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
            guard dataDir == nil, database == nil, setting("CAIRN_DATABASE") == nil else { return nil }
            let server: String
            if let url {
                server = url
            } else if setting("CAIRN_DATA_DIR") == nil, let fromEnvironment = setting("CAIRN_URL") {
                server = fromEnvironment
            } else {
                return nil
            }
            var options = ServerOptions()
            options.url = server
            options.apiKey = apiKey
            return options.client
        }

        /// Opens an existing store only: creating keys in a new, empty one (a mistyped or
        /// missing --data-dir) would leave the server they were meant for unchanged.
        func keyService() async throws -> KeyService {
            let database =
                self.database
                ?? ProcessInfo.processInfo.environment["CAIRN_DATABASE"].flatMap {
                    $0.isEmpty ? nil : $0
                }
            if let database {
                let store = try await PostgresStore.open(
                    configuration: .init(url: database, poolSize: 2), broker: nil, logger: Logger(label: "cairn.keys"))
                FileHandle.standardError.write(Data("using the database at \(store.endpoint.redacted)\n".utf8))
                return KeyService(store: store)
            }
            let environment = ProcessInfo.processInfo.environment["CAIRN_DATA_DIR"]
            let given = dataDir ?? environment.flatMap { $0.isEmpty ? nil : $0 }
            var configuration = ServerConfiguration()
            if let given { configuration.dataDirectory = given }
            let path = configuration.databasePath
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError(
                    "no Cairn data directory at \(given ?? "./.cairn") (pass --data-dir or CAIRN_DATA_DIR)")
            }
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            FileHandle.standardError.write(Data("using the store at \(absolute)\n".utf8))
            let store = try SQLiteStore(configuration: .init(path: path), broker: nil)
            return KeyService(store: store)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Create a key; prints its secret alone on standard output (it is not stored and cannot be shown again)."
        )
        @OptionGroup var location: Location
        @Option(help: "The tenant the key acts in (letters, digits, -, _ and .).") var tenant: String
        @Option(name: .customLong("scope"), help: "read, write or admin; repeat for several (default: read and write).")
        var scopes: [String] = []
        @Option(help: "A name to recognize the key by.") var name: String?
        @Flag(
            help: """
                Create an S3 access key for the S3 listener instead: prints the access key id, then the secret, \
                each on its own line (the secret only this once). Needs --data-dir or --database.
                """)
        var s3 = false

        func run() async throws {
            var parsed: [Scope] = []
            for s in scopes {
                guard let scope = Scope(rawValue: s) else {
                    throw ValidationError("unknown scope \(s): use read, write or admin")
                }
                parsed.append(scope)
            }
            guard KeyService.isValidTenant(tenant) else {
                throw ValidationError("tenant must be 1-64 letters, digits, '-', '_' or '.'")
            }
            let scopes = parsed.isEmpty ? [Scope.read, .write] : parsed
            if s3 {
                guard location.remote == nil else {
                    throw ValidationError("S3 keys are created in the store: pass --data-dir or --database")
                }
                let key = try await location.keyService().createS3Key(tenant: tenant, name: name, scopes: scopes)
                let granted = key.scopes.map(\.rawValue).joined(separator: ", ")
                FileHandle.standardError.write(
                    Data("created S3 key for tenant \(key.tenant.rawValue) with \(granted)\n".utf8))
                print(key.accessKeyId)
                print(key.secret)
                return
            }
            let id: String, keyTenant: String, secret: String
            if let api = location.remote {
                var body = JSONObject([
                    ("tenant", .string(tenant)), ("scopes", .array(scopes.map { .string($0.rawValue) })),
                ])
                if let name { body["name"] = .string(name) }
                let reply = try await api.post("/admin/keys", .object(body))
                guard let made = reply["secret"]?.stringValue else { throw CLIError("the server sent no secret") }
                (id, keyTenant, secret) = (
                    reply["key"]?.cell("id") ?? "-", reply["key"]?.cell("tenant") ?? tenant, made
                )
            } else {
                let (key, made) = try await location.keyService().create(tenant: tenant, name: name, scopes: scopes)
                (id, keyTenant, secret) = (key.id, key.tenant.rawValue, made)
            }
            FileHandle.standardError.write(
                Data(
                    "created \(id) for tenant \(keyTenant) with \(scopes.map(\.rawValue).joined(separator: ", "))\n"
                        .utf8))
            print(secret)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var location: Location
        @Option(help: "Only this tenant's keys.") var tenant: String?

        @Flag(help: "Print JSON lines, one key each (never a secret).") var json = false

        func run() async throws {
            var rows: [JSONValue]
            if let api = location.remote {
                let query = tenant.map { "?tenant=" + APIClient.query($0) } ?? ""
                rows = try await api.get("/admin/keys" + query)["keys"]?.arrayValue ?? []
                if let tenant { rows = rows.filter { $0["tenant"]?.stringValue == tenant } }
            } else {
                rows = try await location.keyService().list(tenant: tenant.map(TenantID.init(rawValue:))).map { k in
                    .object(
                        JSONObject([
                            ("id", .string(k.id)), ("tenant", .string(k.tenant.rawValue)),
                            ("name", k.name.map { .string($0) } ?? .null), ("prefix", .string(k.prefix)),
                            ("scopes", .array(k.scopes.map { .string($0.rawValue) })),
                            ("createdAt", .string(k.createdAt.iso8601)),
                            ("revokedAt", k.revokedAt.map { .string($0.iso8601) } ?? .null),
                        ]))
                }
            }
            if json {
                for row in rows { print(row.jsonText) }
                return
            }
            print("ID\tTENANT\tPREFIX\tSCOPES\tNAME\tCREATED\tREVOKED")
            for k in rows {
                let scopes = k["scopes"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ",") ?? "-"
                print(
                    [
                        k.cell("id"), k.cell("tenant"), k.cell("prefix") + "…", scopes, k.cell("name"),
                        k.cell("createdAt"),
                        k.cell("revokedAt"),
                    ].joined(separator: "\t"))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by id; it stops working at once.")
        @OptionGroup var location: Location
        @Argument(help: "The key's id (key_...), or an S3 key's access key id.") var id: String

        func run() async throws {
            if let api = location.remote {
                _ = try await api.call(.DELETE, "/admin/keys/" + APIClient.segment(id), body: nil)
            } else {
                do {
                    try await location.keyService().revoke(id: id, tenant: nil)
                } catch KeyError.keyNotFound {
                    throw ValidationError("no active key \(id)")
                }
            }
            print("revoked \(id)")
        }
    }
}
