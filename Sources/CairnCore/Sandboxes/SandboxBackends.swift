import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A way of confining agent code. Backends are probed once at start-up: `probe()` runs the
/// hostile payloads for each capability at small scale and keeps only what passed.
public protocol SandboxBackend: Sendable {
    var name: String { get }
    /// Why the backend cannot run at all on this machine, or nil.
    var unavailableReason: String? { get }
    /// The capabilities worth probing: what the backend sets up at all.
    var candidates: Set<SandboxCapability> { get }
    /// Confines one sandbox: its directory (mounted or used as `/work`) under its limits.
    func enclose(id: String, directory: String, limits: SandboxLimits, writable: Bool) throws -> any SandboxEnclosure
}

/// One sandbox's confinement, through which its processes are started and ended.
public protocol SandboxEnclosure: Sendable {
    /// Starts `argv` inside, working directory `/work`, with exactly `descriptors`.
    func launch(_ argv: [String], descriptors: [ChildProcess.DescriptorMapping]) throws -> ChildProcess
    /// Ends an execution at its deadline or limit: `process` and everything it started.
    func stop(_ process: ChildProcess)
    /// Ends every process of the sandbox, `process` (the one launched) included.
    func killAll(_ process: ChildProcess?)
    /// Resource counters, where the backend measures them.
    func counters() -> Cgroup.Counters?
    func startMeasuring()
    /// Kills what is left and removes what `enclose` made (the directory is the caller's).
    func destroy()
    /// The path code inside sees its directory at.
    var workPath: String { get }
    /// The exit code and signal of the sandboxed program, from how the launched process ended.
    func interpret(_ termination: ProcessTermination) -> (exitCode: Int32?, signal: Int32?)
}

extension SandboxEnclosure {
    public func interpret(_ termination: ProcessTermination) -> (exitCode: Int32?, signal: Int32?) {
        (termination.exitCode, termination.signal)
    }
}

/// The user sandboxed processes run as when the server is root: nobody.
let sandboxUser: uid_t = 65534

/// Where the tools a backend needs live.
enum SandboxTools {
    static func find(_ name: String) -> String? {
        for directory in ["/usr/bin", "/bin", "/usr/sbin", "/usr/local/bin"] {
            let path = directory + "/" + name
            if access(path, X_OK) == 0 { return path }
        }
        return nil
    }

    /// `setpriv` arguments that drop a root server's child to nobody, with no new privileges
    /// and death with its parent; empty when the server is not root (it already is someone).
    static func dropPrivileges(setpriv: String?) -> [String] {
        guard let setpriv else { return [] }
        var args = [setpriv]
        if geteuid() == 0 {
            args += ["--reuid", "\(sandboxUser)", "--regid", "\(sandboxUser)", "--clear-groups"]
        }
        args += ["--no-new-privs", "--pdeathsig", "KILL", "--"]
        return args
    }

    static var environment: [String: String] { ["PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"] }

    /// `argv` started through a shell that first joins `cgroup`'s hierarchies, so nothing of the
    /// sandbox runs for a moment outside its cgroup.
    static func joining(_ cgroup: Cgroup?, _ argv: [String]) -> [String] {
        guard let cgroup else { return argv }
        let join = #"while [ "$1" != "--" ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@""#
        return ["/bin/sh", "-c", join, "sh"] + cgroup.procsFiles + ["--"] + argv
    }
}

// MARK: - linux: bubblewrap + a cgroup per sandbox

/// Namespaces (user, pid, net, ipc, uts, cgroup), a non-root uid, no capabilities, death with
/// the server, read-only system directories, the sandbox's directory as `/work`, a size-capped
/// `/tmp`; memory, CPU and process count through the sandbox's cgroup.
public final class LinuxSandboxBackend: SandboxBackend {
    public let name = "linux"
    public var candidates: Set<SandboxCapability> {
        var all = Set(SandboxCapability.allCases)
        let controllers = cgroupControllers
        if !controllers.contains("memory") { all.remove(.memoryLimit) }
        if !controllers.contains("cpu") { all.remove(.cpuLimit) }
        if !controllers.contains("pids") { all.remove(.processLimit) }
        return all
    }
    let bwrap: String?
    let setpriv: String?
    let cgroups: Result<CgroupTree, SandboxSetupError>

    /// `cgroups` is Cairn's parent cgroup (see `CgroupTree.make`), or why there is none.
    public init(cgroups: Result<CgroupTree, SandboxSetupError>) {
        bwrap = SandboxTools.find("bwrap")
        setpriv = SandboxTools.find("setpriv")
        self.cgroups = cgroups
    }

    public var unavailableReason: String? {
        if bwrap == nil { return "bubblewrap (bwrap) is not installed: apt-get install bubblewrap" }
        if geteuid() == 0 && setpriv == nil { return "setpriv is missing: a root server cannot drop to a non-root uid" }
        return nil
    }

    /// Removes Cairn's parent cgroup (every sandbox is gone).
    public func removeParent() {
        guard case .success(let tree) = cgroups else { return }
        tree.removeLeftovers()
        for directory in tree.parentDirectories { rmdir(directory) }
    }

    /// Why cgroup limits cannot be applied here, or nil.
    public var cgroupProblem: String? {
        if case .failure(let error) = cgroups { return error.description }
        return nil
    }

    public var cgroupControllers: Set<String> {
        if case .success(let tree) = cgroups { return tree.controllers }
        return []
    }

    public func enclose(id: String, directory: String, limits: SandboxLimits, writable: Bool) throws
        -> any SandboxEnclosure
    {
        guard let bwrap, unavailableReason == nil else {
            throw SandboxError.backendUnavailable(name, reason: unavailableReason ?? "unavailable")
        }
        let group: Cgroup?
        switch cgroups {
        case .success(let tree): group = try tree.create(id, limits: limits)
        case .failure: group = nil
        }
        return LinuxEnclosure(
            bwrap: bwrap, privileges: SandboxTools.dropPrivileges(setpriv: setpriv), directory: directory,
            limits: limits, writable: writable, cgroup: group)
    }
}

final class LinuxEnclosure: SandboxEnclosure {
    let bwrap: String
    let privileges: [String]
    let directory: String
    let limits: SandboxLimits
    let writable: Bool
    let cgroup: Cgroup?
    var workPath: String { "/work" }

    init(bwrap: String, privileges: [String], directory: String, limits: SandboxLimits, writable: Bool, cgroup: Cgroup?)
    {
        self.bwrap = bwrap
        self.privileges = privileges
        self.directory = directory
        self.limits = limits
        self.writable = writable
        self.cgroup = cgroup
    }

    var bwrapArguments: [String] {
        var args = [
            bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
            "--uid", "\(sandboxUser)", "--gid", "\(sandboxUser)", "--cap-drop", "ALL", "--disable-userns",
            "--hostname", "sandbox", "--clearenv",
            "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME", "/work",
            "--setenv", "TMPDIR", "/tmp", "--setenv", "LANG", "C.UTF-8",
            "--ro-bind", "/usr", "/usr",
        ]
        // Merged-/usr systems link these into /usr; others have real directories.
        for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
            let path = "/" + top
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                args += ["--symlink", target, path]
            } else if FileManager.default.fileExists(atPath: path) {
                args += ["--ro-bind", path, path]
            }
        }
        // What programs need from /etc, never the whole directory (no shadow, no keys).
        for file in [
            "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/alternatives", "/etc/localtime", "/etc/ssl/certs",
            "/etc/python3", "/etc/mime.types",
        ] {
            args += ["--ro-bind-try", file, file]
        }
        args += ["--proc", "/proc", "--dev", "/dev"]
        if let tmp = limits.tmpBytes { args += ["--size", "\(tmp)"] }
        args += ["--tmpfs", "/tmp"]
        args += [writable ? "--bind" : "--ro-bind", directory, "/work", "--chdir", "/work", "--"]
        return args
    }

    func launch(_ argv: [String], descriptors: [ChildProcess.DescriptorMapping]) throws -> ChildProcess {
        // sh (joins the cgroup) → setpriv (uid 65534) → bwrap → the program.
        try ChildProcess(
            argv: SandboxTools.joining(cgroup, privileges + bwrapArguments + argv),
            environment: SandboxTools.environment, descriptors: descriptors, newSession: true)
    }

    /// Killing bwrap kills its pid namespace's init (`--die-with-parent`), and with it every
    /// process of that namespace, escaped sessions included; the sandbox's other processes
    /// (its Python session, when a command timed out) live on.
    func stop(_ process: ChildProcess) { process.kill(SIGKILL, group: true) }

    func killAll(_ process: ChildProcess?) {
        process?.kill(SIGKILL, group: true)
        cgroup?.killAll()
    }

    /// bubblewrap exits with its program's code, or 128 + the signal that ended it.
    func interpret(_ termination: ProcessTermination) -> (exitCode: Int32?, signal: Int32?) {
        if let code = termination.exitCode, code > 128, code < 128 + 65 { return (nil, code - 128) }
        return (termination.exitCode, termination.signal)
    }

    func counters() -> Cgroup.Counters? { cgroup?.counters() }
    func startMeasuring() { cgroup?.resetPeak() }

    func destroy() {
        cgroup?.killAll()
        cgroup?.remove()
    }
}

// MARK: - process: a plain child process

/// A child process in its own session, as nobody when the server is root, dying with the
/// server. No namespaces and no limits; when cgroups can be made, a cgroup per sandbox (with no
/// limit set) tracks every process it starts, so a timeout, a reset and a removal reach
/// processes that left the session, and a restart after `kill -9` finds what was left.
public final class ProcessSandboxBackend: SandboxBackend {
    public let name = "process"
    /// What it may pass: a crash is contained, a reset works, and (with a tracking cgroup) a
    /// timeout ends everything the code started.
    public var candidates: Set<SandboxCapability> { [.processIsolation, .reset, .timeout] }
    let setpriv: String?
    let cgroups: Result<CgroupTree, SandboxSetupError>

    public init(cgroups: Result<CgroupTree, SandboxSetupError> = .failure(.init("no cgroups"))) {
        setpriv = SandboxTools.find("setpriv")
        self.cgroups = cgroups
    }

    public var unavailableReason: String? {
        if geteuid() == 0 && setpriv == nil { return "setpriv is missing: a root server cannot drop to a non-root uid" }
        return nil
    }

    public func enclose(id: String, directory: String, limits: SandboxLimits, writable: Bool) throws
        -> any SandboxEnclosure
    {
        guard unavailableReason == nil else {
            throw SandboxError.backendUnavailable(name, reason: unavailableReason ?? "unavailable")
        }
        var tracking: Cgroup?
        if case .success(let tree) = cgroups { tracking = try tree.create(id, limits: SandboxLimits()) }
        return ProcessEnclosure(
            privileges: SandboxTools.dropPrivileges(setpriv: setpriv), directory: directory, cgroup: tracking)
    }
}

final class ProcessEnclosure: SandboxEnclosure {
    let privileges: [String]
    let directory: String
    let cgroup: Cgroup?
    let launched = ProcessGroups()
    var workPath: String { directory }

    init(privileges: [String], directory: String, cgroup: Cgroup?) {
        self.privileges = privileges
        self.directory = directory
        self.cgroup = cgroup
    }

    func launch(_ argv: [String], descriptors: [ChildProcess.DescriptorMapping]) throws -> ChildProcess {
        var environment = SandboxTools.environment
        environment["HOME"] = directory
        environment["TMPDIR"] = directory
        let process = try ChildProcess(
            argv: SandboxTools.joining(cgroup, privileges + resolve(argv)), environment: environment,
            descriptors: descriptors, newSession: true, workingDirectory: directory)
        launched.add(process)
        return process
    }

    /// posix_spawn takes a path; commands are looked up on the sandbox's PATH, as a shell would.
    private func resolve(_ argv: [String]) -> [String] {
        guard let first = argv.first, !first.contains("/") else { return argv }
        for directory in ["/usr/local/bin", "/usr/bin", "/bin"] where access(directory + "/" + first, X_OK) == 0 {
            return [directory + "/" + first] + argv.dropFirst()
        }
        return argv
    }

    /// Without namespaces the only handle on what an execution started is the cgroup (all of
    /// the sandbox) or, without one, the process group (which a `setsid` escapes).
    func stop(_ process: ChildProcess) { killAll(process) }

    func killAll(_ process: ChildProcess?) {
        process?.kill(SIGKILL, group: true)
        launched.killAll()
        cgroup?.killAll()
    }

    func counters() -> Cgroup.Counters? { cgroup?.counters() }
    func startMeasuring() { cgroup?.resetPeak() }

    func destroy() {
        killAll(nil)
        cgroup?.remove()
    }
}

/// The process groups a process enclosure started (each child leads its own session).
final class ProcessGroups: Sendable {
    private let processes = Mutex<[ChildProcess]>([])

    func add(_ process: ChildProcess) {
        processes.withLock { all in
            all.removeAll { $0.termination != nil }
            all.append(process)
        }
    }

    func killAll() {
        for process in processes.withLock({ $0 }) { process.kill(SIGKILL, group: true) }
    }
}
