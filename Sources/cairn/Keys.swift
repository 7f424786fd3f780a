import ArgumentParser
import CairnCore
import CairnServer
import CairnStore
import Foundation

/// `cairn keys`: API key management on a data directory (also while the server runs).
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke API keys in a data directory.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Location: ParsableArguments {
        @Option(name: .customLong("data-dir"), help: "The server's data directory (CAIRN_DATA_DIR).") var dataDir:
            String?

        /// Opens an existing store only: creating keys in a new, empty one (a mistyped or
        /// missing --data-dir) would leave the server they were meant for unchanged.
        func keyService() throws -> KeyService {
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
            let (key, secret) = try await location.keyService().create(
                tenant: tenant, name: name, scopes: parsed.isEmpty ? [.read, .write] : parsed)
            FileHandle.standardError.write(
                Data(
                    "created \(key.id) for tenant \(key.tenant.rawValue) with \(key.scopes.map(\.rawValue).joined(separator: ", "))\n"
                        .utf8))
            print(secret)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var location: Location
        @Option(help: "Only this tenant's keys.") var tenant: String?

        func run() async throws {
            let keys = try await location.keyService().list(tenant: tenant.map(TenantID.init(rawValue:)))
            print("ID\tTENANT\tPREFIX\tSCOPES\tNAME\tCREATED\tREVOKED")
            for k in keys {
                print(
                    [
                        k.id, k.tenant.rawValue, k.prefix + "…", k.scopes.map(\.rawValue).joined(separator: ","),
                        k.name ?? "-",
                        k.createdAt.iso8601, k.revokedAt?.iso8601 ?? "-",
                    ].joined(separator: "\t"))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by id; it stops working at once.")
        @OptionGroup var location: Location
        @Argument(help: "The key's id (key_...).") var id: String

        func run() async throws {
            do {
                try await location.keyService().revoke(id: id, tenant: nil)
            } catch KeyError.keyNotFound {
                throw ValidationError("no active key \(id)")
            }
            print("revoked \(id)")
        }
    }
}
