import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where the Swift suites keep their files: one directory per test process under the system's
/// temporary directory, removed when the process exits. Every test that needs a data directory
/// takes a fresh path beneath it, so a run leaves nothing behind (a data directory holds an
/// 8 MiB disk reserve; hundreds of them filled a CI machine's disk before).
public enum ScratchDirectory {
    /// A fresh path beneath this process's scratch root, named `<prefix>-<uuid>`; nothing is
    /// created at it.
    public static func path(_ prefix: String) -> String {
        root + "/" + prefix + "-" + UUID().uuidString
    }

    /// This process's root, made on first use; a root left by a process that died without
    /// exiting (a crash, `kill -9`) is removed then too.
    public static let root: String = {
        let base = NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/"
        removeOrphans(in: base)
        let path = base + namePrefix + String(getpid()) + "-" + UUID().uuidString.prefix(8)
        // 0755: sandbox tests run code as another user that must reach directories beneath.
        try! FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        atexit { try? FileManager.default.removeItem(atPath: ScratchDirectory.root) }
        return path
    }()

    private static let namePrefix = "cairn-tests-"

    private static func removeOrphans(in base: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: base) else { return }
        for name in names where name.hasPrefix(namePrefix) {
            let pidText = name.dropFirst(namePrefix.count).prefix { $0 != "-" }
            guard let pid = pid_t(pidText), pid > 0, kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(atPath: base + name)
        }
    }
}
