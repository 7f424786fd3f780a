import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Cairn's own cgroups: one parent under the server's cgroup, one child per sandbox, on the
/// unified hierarchy (v2) or on the v1 controller hierarchies (memory, cpu, cpuacct, pids).
/// Nothing outside the parent is ever created, written or removed.
public struct CgroupTree: Sendable {
    public enum Layout: Sendable, Equatable {
        /// cgroup v2: the parent's directory on the unified hierarchy.
        case unified(parent: String)
        /// cgroup v1: the parent's directory in each controller hierarchy that is mounted.
        case v1(parents: [String: String])
    }

    public let layout: Layout

    public var description: String {
        switch layout {
        case .unified(let parent): "cgroup v2 at \(parent)"
        case .v1(let parents): "cgroup v1 (" + parents.keys.sorted().joined(separator: ", ") + ")"
        }
    }

    /// Finds the hierarchies this process is in and makes `name` under its cgroup in each.
    /// Nil, with the reason, when cgroups cannot be managed here.
    public static func make(name: String) -> Result<CgroupTree, SandboxSetupError> {
        guard let mine = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else {
            return .failure(.init("cannot read /proc/self/cgroup"))
        }
        let root = "/sys/fs/cgroup"
        if FileManager.default.fileExists(atPath: root + "/cgroup.controllers") {
            // v2 only: the "0::/path" line.
            guard let line = mine.split(separator: "\n").first(where: { $0.hasPrefix("0::") }) else {
                return .failure(.init("no cgroup v2 entry in /proc/self/cgroup"))
            }
            let own = root + String(line.dropFirst(3))
            let parent = (own.hasSuffix("/") ? own : own + "/") + name
            do {
                try makeDirectory(parent)
                // Controllers must be enabled on the way down; a cgroup that holds processes
                // cannot delegate them (the "no internal processes" rule), which the probe reports.
                for directory in [own, parent] {
                    let available =
                        (try? String(contentsOfFile: directory + "/cgroup.controllers", encoding: .utf8)) ?? ""
                    let wanted = ["memory", "cpu", "pids"].filter {
                        available.split(separator: " ").map(String.init).contains($0)
                    }
                    let line = wanted.map { "+" + $0 }.joined(separator: " ")
                    if !line.isEmpty { try? write(line, to: directory + "/cgroup.subtree_control") }
                }
            } catch {
                return .failure(.init("cannot create \(parent): \(error)"))
            }
            return .success(CgroupTree(layout: .unified(parent: parent)))
        }
        var parents: [String: String] = [:]
        for line in mine.split(separator: "\n") {
            // "4:memory:/path" (several controllers may share a line: "2:cpu,cpuacct:/").
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            for controller in parts[1].split(separator: ",").map(String.init)
            where ["memory", "cpu", "cpuacct", "pids"].contains(controller) {
                let mount = mountPoint(of: controller)
                guard let mount else { continue }
                let own = mount + String(parts[2])
                parents[controller] = (own.hasSuffix("/") ? own : own + "/") + name
            }
        }
        guard !parents.isEmpty else { return .failure(.init("no cgroup v1 controller hierarchy is mounted")) }
        for (controller, parent) in parents {
            do {
                try makeDirectory(parent)
            } catch {
                parents[controller] = nil
            }
        }
        guard !parents.isEmpty else { return .failure(.init("cannot create cgroups under this process's")) }
        return .success(CgroupTree(layout: .v1(parents: parents)))
    }

    /// Where a v1 controller hierarchy is mounted, from /proc/self/mountinfo.
    static func mountPoint(of controller: String) -> String? {
        guard let info = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        for line in info.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { continue }
            let after = halves[1].split(separator: " ")
            guard after.count >= 3, after[0] == "cgroup" else { continue }
            let options = after[2].split(separator: ",").map(String.init)
            guard options.contains(controller) else { continue }
            let before = halves[0].split(separator: " ")
            guard before.count >= 5 else { continue }
            return String(before[4])
        }
        return nil
    }

    public var controllers: Set<String> {
        switch layout {
        case .unified(let parent):
            let enabled = (try? String(contentsOfFile: parent + "/cgroup.subtree_control", encoding: .utf8)) ?? ""
            return Set(enabled.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        case .v1(let parents): return Set(parents.keys)
        }
    }

    /// Makes the sandbox's cgroup (`name` is a sandbox id) with the given limits.
    public func create(_ name: String, limits: SandboxLimits) throws -> Cgroup {
        let group: Cgroup
        switch layout {
        case .unified(let parent):
            group = Cgroup(directories: ["unified": parent + "/" + name], unified: true)
        case .v1(let parents):
            group = Cgroup(directories: parents.mapValues { $0 + "/" + name }, unified: false)
        }
        do {
            for directory in group.directories.values { try Self.makeDirectory(directory) }
            try group.apply(limits)
        } catch {
            group.remove()
            throw error
        }
        return group
    }

    /// Kills and removes every cgroup under the parent: sandboxes a previous run of this
    /// server left when it was killed. Returns how many were removed.
    @discardableResult
    public func removeLeftovers() -> Int {
        var names = Set<String>()
        for parent in parentDirectories {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: parent + "/" + entry, isDirectory: &isDirectory),
                    isDirectory.boolValue
                {
                    names.insert(entry)
                }
            }
        }
        for name in names {
            let directories: [String: String]
            switch layout {
            case .unified(let parent): directories = ["unified": parent + "/" + name]
            case .v1(let parents): directories = parents.mapValues { $0 + "/" + name }
            }
            let group = Cgroup(
                directories: directories, unified: { if case .unified = layout { true } else { false } }())
            group.killAll()
            group.remove()
        }
        return names.count
    }

    var parentDirectories: [String] {
        switch layout {
        case .unified(let parent): [parent]
        case .v1(let parents): Array(parents.values)
        }
    }

    static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw POSIXError.current() }
    }

    static func write(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw POSIXError.current() }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw POSIXError.current() }
    }
}

/// One sandbox's cgroup (a directory per hierarchy).
public struct Cgroup: Sendable {
    /// Controller (or "unified") → directory.
    public let directories: [String: String]
    public let unified: Bool

    func directory(_ controller: String) -> String? { unified ? directories["unified"] : directories[controller] }

    func apply(_ limits: SandboxLimits) throws {
        if let memory = limits.memoryBytes, let d = directory("memory") {
            if unified {
                try CgroupTree.write("\(memory)", to: d + "/memory.max")
                try? CgroupTree.write("0", to: d + "/memory.swap.max")
            } else {
                try CgroupTree.write("\(memory)", to: d + "/memory.limit_in_bytes")
                try? CgroupTree.write("\(memory)", to: d + "/memory.memsw.limit_in_bytes")
            }
        }
        if let millicores = limits.cpuMillicores, let d = directory("cpu") {
            let period = 100_000
            let quota = max(1000, period * millicores / 1000)
            if unified {
                try CgroupTree.write("\(quota) \(period)", to: d + "/cpu.max")
            } else {
                try CgroupTree.write("\(period)", to: d + "/cpu.cfs_period_us")
                try CgroupTree.write("\(quota)", to: d + "/cpu.cfs_quota_us")
            }
        }
        if let processes = limits.processes, let d = directory("pids") {
            try CgroupTree.write("\(processes)", to: d + "/pids.max")
        }
    }

    /// The `cgroup.procs` files a new process writes its pid into, one per hierarchy.
    public var procsFiles: [String] { directories.values.sorted().map { $0 + "/cgroup.procs" } }

    /// Every process in the cgroup.
    public func pids() -> [pid_t] {
        var all = Set<pid_t>()
        for directory in directories.values {
            let text = (try? String(contentsOfFile: directory + "/cgroup.procs", encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") { if let pid = pid_t(line) { all.insert(pid) } }
        }
        return Array(all)
    }

    /// Kills every process in the cgroup, again until none is left: a process forking while it
    /// is killed leaves a child that the next pass finds. `cgroup.kill` (v2) does it at once.
    public func killAll() {
        if unified, let d = directories["unified"], (try? CgroupTree.write("1", to: d + "/cgroup.kill")) != nil {
            return
        }
        for _ in 0..<1000 {
            let pids = pids()
            if pids.isEmpty { return }
            for pid in pids { kill(pid, SIGKILL) }
            usleep(1000)
        }
    }

    /// Removes the cgroup's directories once its processes are gone (a dying process can hold
    /// it for a moment, so removal is retried briefly).
    public func remove() {
        for directory in directories.values {
            for _ in 0..<500 {
                if rmdir(directory) == 0 || errno == ENOENT { break }
                usleep(2000)
            }
        }
    }

    public struct Counters: Sendable, Equatable {
        public var cpuMicroseconds: Int64?
        public var peakMemoryBytes: Int64?
        public var oomKills: Int64
        public var pidsLimitHits: Int64
        public var throttledPeriods: Int64
    }

    public func counters() -> Counters {
        var counters = Counters(
            cpuMicroseconds: nil, peakMemoryBytes: nil, oomKills: 0, pidsLimitHits: 0, throttledPeriods: 0)
        func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }
        func field(_ text: String?, _ key: String) -> Int64? {
            guard let text else { return nil }
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count == 2, parts[0] == key { return Int64(parts[1]) }
            }
            return nil
        }
        if unified, let d = directories["unified"] {
            let cpu = read(d + "/cpu.stat")
            counters.cpuMicroseconds = field(cpu, "usage_usec")
            counters.throttledPeriods = field(cpu, "nr_throttled") ?? 0
            counters.peakMemoryBytes = read(d + "/memory.peak").flatMap {
                Int64($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            counters.oomKills = field(read(d + "/memory.events"), "oom_kill") ?? 0
            counters.pidsLimitHits = field(read(d + "/pids.events"), "max") ?? 0
            return counters
        }
        if let d = directories["cpuacct"], let usage = read(d + "/cpuacct.usage") {
            counters.cpuMicroseconds = Int64(usage.trimmingCharacters(in: .whitespacesAndNewlines)).map { $0 / 1000 }
        }
        if let d = directories["cpu"] { counters.throttledPeriods = field(read(d + "/cpu.stat"), "nr_throttled") ?? 0 }
        if let d = directories["memory"] {
            counters.peakMemoryBytes = read(d + "/memory.max_usage_in_bytes").flatMap {
                Int64($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            counters.oomKills = field(read(d + "/memory.oom_control"), "oom_kill") ?? 0
        }
        if let d = directories["pids"] { counters.pidsLimitHits = field(read(d + "/pids.events"), "max") ?? 0 }
        return counters
    }

    /// Starts a new peak-memory window (v1 `max_usage_in_bytes`, v2 `memory.peak` on kernels
    /// that allow resetting it), so an execution reports its own peak.
    public func resetPeak() {
        if unified, let d = directories["unified"] {
            try? CgroupTree.write("0", to: d + "/memory.peak")
        } else if let d = directories["memory"] {
            try? CgroupTree.write("0", to: d + "/memory.max_usage_in_bytes")
        }
    }
}

/// A small process outside every sandbox that outlives the server: it waits for end of file on
/// a pipe only the server holds open, which the kernel closes when the server dies however it
/// dies, then kills every process under Cairn's parent cgroup and removes the cgroups. So a
/// `kill -9` of the server leaves no sandboxed process running, even one that left its session
/// on a backend without a pid namespace.
public final class CgroupGuardian: Sendable {
    private let keepAlive: Mutex<Int32>
    let process: ChildProcess

    static let script = #"""
        read -r _
        for round in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
            found=
            for parent in "$@"; do
                for group in "$parent"/*/; do
                    [ -d "$group" ] || continue
                    echo 1 > "$group/cgroup.kill" 2>/dev/null
                    for pid in $(cat "$group/cgroup.procs" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; found=1; done
                done
            done
            [ -z "$found" ] && break
            sleep 0.05
        done
        for parent in "$@"; do for group in "$parent"/*/; do rmdir "$group" 2>/dev/null; done; rmdir "$parent" 2>/dev/null; done
        """#

    init(_ tree: CgroupTree) throws {
        var pipe = try Pipe2()
        // Its own session: a signal to the server's process group does not reach it.
        process = try ChildProcess(
            argv: ["/bin/sh", "-c", Self.script, "cairn-cgroup-guardian"] + tree.parentDirectories,
            environment: ["PATH": "/usr/bin:/bin"], descriptors: [.init(pipe.read, as: 0)], newSession: true)
        close(pipe.takeRead())
        keepAlive = Mutex(pipe.takeWrite())
    }

    /// The server is stopping cleanly: the guardian finds nothing left and exits.
    func release() {
        keepAlive.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    deinit { release() }
}

public struct SandboxSetupError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
