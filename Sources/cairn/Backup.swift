import ArgumentParser
import CairnStore
import Foundation

/// `cairn backup DEST`: a consistent copy of a data directory, taken while the server runs.
struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a data directory (database and the blobs it references) while the server runs.",
        discussion: """
            The database is copied as one consistent snapshot (SQLite's online backup), then every blob \
            that snapshot references; DEST gets a manifest with their checksums. Restore with `cairn restore`.
            Example: cairn backup --data-dir /var/lib/cairn /backups/cairn-2026-12-01
            """)
    @Option(name: .customLong("data-dir"), help: "The data directory to copy (CAIRN_DATA_DIR; default ./.cairn).")
    var dataDir: String?
    @Argument(help: "A new (or empty) directory for the backup.") var destination: String

    func run() throws {
        let source = dataDir ?? ProcessInfo.processInfo.environment["CAIRN_DATA_DIR"] ?? ".cairn"
        let report = try DataBackup.backup(dataDirectory: source, to: destination)
        print(
            "backed up \(source) to \(destination): database \(report.databaseBytes) bytes, \(report.blobs) blobs (\(report.blobBytes) bytes)"
        )
    }
}

/// `cairn restore SRC`: verify a backup completely, then make it a data directory.
struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify a backup, then copy it into a new data directory.",
        discussion: """
            Checks the database's checksum and SQLite integrity and every blob's SHA-256 before anything is \
            copied; the data directory must be new or empty and no server may be running on it. \
            --verify-only checks and copies nothing.
            Example: cairn restore /backups/cairn-2026-12-01 --data-dir /var/lib/cairn
            """)
    @Argument(help: "The backup directory (made by `cairn backup`).") var source: String
    @Option(name: .customLong("data-dir"), help: "The data directory to create (CAIRN_DATA_DIR; default ./.cairn).")
    var dataDir: String?
    @Flag(name: .customLong("verify-only"), help: "Only check the backup.") var verifyOnly = false

    func run() throws {
        if verifyOnly {
            let report = try DataBackup.verify(backup: source)
            print("\(source) is a complete backup: database \(report.databaseBytes) bytes, \(report.blobs) blobs")
            return
        }
        let target = dataDir ?? ProcessInfo.processInfo.environment["CAIRN_DATA_DIR"] ?? ".cairn"
        let report = try DataBackup.restore(from: source, into: target)
        print("restored \(source) into \(target): database \(report.databaseBytes) bytes, \(report.blobs) blobs")
    }
}
