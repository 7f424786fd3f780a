import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A probed backend: what it enforces on this machine, and why the rest failed.
public struct SandboxBackendReport: Sendable {
    public var name: String
    public var available: Bool
    public var unavailableReason: String?
    public var capabilities: Set<SandboxCapability>
    public var failed: [SandboxCapability: String]
}

/// Sandboxes: created per tenant on a probed backend, reaped when their TTL or idle TTL
/// passes, removed with every process and cgroup when deleted or when the server stops.
/// Sandboxes live on the replica that created them (their processes are local).
public final class SandboxService: Sendable {
    public struct Configuration: Sendable {
        /// Where sandbox directories are made: traversable by the sandbox user, so it is not
        /// under the (private) data directory by default.
        public var root: String
        /// Names Cairn's parent cgroup; unique per data directory.
        public var cgroupName: String
        /// The backend used when a request names none (nil: linux when it works, else process).
        public var defaultBackend: String?
        public var maxSandboxes = 64
        public var maxPerTenant = 32
        /// Applied when a request sets no timeout and the backend enforces one.
        public var defaultTimeoutMilliseconds = 60_000
        /// Applied when a request sets no memory limit and the backend enforces one.
        public var defaultMemoryBytes: Int64 = 1 << 30
        /// Applied when a request sets no process limit and the backend enforces one.
        public var defaultProcesses = 512
        /// Applied when a request sets no temp space limit and the backend enforces one.
        public var defaultTmpBytes: Int64 = 256 << 20
        /// The most a workspace copied into a sandbox may hold.
        public var maxWorkspaceBytes: Int64 = 1 << 30

        public init(root: String, cgroupName: String) {
            self.root = root
            self.cgroupName = cgroupName
        }

        /// The defaults for a data directory: a root under the temporary directory and a
        /// cgroup name, both derived from the data directory's path.
        public static func forDataDirectory(_ dataDirectory: String) -> Configuration {
            let absolute = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
            var hasher = SHA256Hasher()
            hasher.update(Array(absolute.utf8))
            let tag = String(hasher.finalize().prefix(12))
            let temporary = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
            return Configuration(root: temporary + "/cairn-sandboxes-" + tag, cgroupName: "cairn-" + tag)
        }
    }

    public let configuration: Configuration
    public let clock: any WallClock
    /// Where mounted workspaces come from (nil: sandboxes cannot mount one).
    let workspaces: WorkspaceService?
    private let makeBackends: @Sendable () -> (backends: [any SandboxBackend], guardian: CgroupGuardian?)
    private let prepared = Mutex<Task<Prepared, Never>?>(nil)
    private let sandboxes = Mutex<[String: Sandbox]>([:])
    private let creating = Mutex<[TenantID: Int]>([:])

    /// The backends and their probe reports, made on first use (or by `start()`).
    struct Prepared: Sendable {
        var backends: [String: any SandboxBackend]
        var reports: [String: SandboxBackendReport]
        var setupError: String?
        var guardian: CgroupGuardian?
    }

    /// Cheap: nothing is created or probed until `start()` or the first sandbox request.
    public init(
        configuration: Configuration, clock: any WallClock, workspaces: WorkspaceService? = nil,
        backends: (@Sendable () -> [any SandboxBackend])? = nil
    ) {
        self.configuration = configuration
        self.clock = clock
        self.workspaces = workspaces
        let cgroupName = configuration.cgroupName
        if let backends {
            makeBackends = { (backends(), nil) }
        } else {
            makeBackends = {
                // One parent cgroup for both backends; what a killed server left in it goes
                // first, and a guardian empties it if this server is killed in turn.
                let cgroups = CgroupTree.make(name: cgroupName)
                var guardian: CgroupGuardian?
                if case .success(let tree) = cgroups {
                    tree.removeLeftovers()
                    guardian = try? CgroupGuardian(tree)
                }
                return ([LinuxSandboxBackend(cgroups: cgroups), ProcessSandboxBackend(cgroups: cgroups)], guardian)
            }
        }
    }

    /// Makes the sandbox root, removes what a killed server left, and probes every backend.
    public func start() { _ = preparation() }

    private func preparation() -> Task<Prepared, Never> {
        prepared.withLock { task in
            if let task { return task }
            let configuration = self.configuration
            let makeBackends = self.makeBackends
            let started = Task {
                if mkdir(configuration.root, 0o711) != 0 && errno != EEXIST {
                    return Prepared(
                        backends: [:], reports: [:],
                        setupError: "cannot make \(configuration.root): \(String(cString: strerror(errno)))")
                }
                _ = chmod(configuration.root, 0o711)
                // Directories of sandboxes a killed server left behind.
                for entry in (try? FileManager.default.contentsOfDirectory(atPath: configuration.root)) ?? [] {
                    try? FileManager.default.removeItem(atPath: configuration.root + "/" + entry)
                }
                let (all, guardian) = makeBackends()
                var reports: [String: SandboxBackendReport] = [:]
                await withTaskGroup(of: SandboxBackendReport.self) { group in
                    for backend in all { group.addTask { await SandboxProbe.run(backend, root: configuration.root) } }
                    for await report in group { reports[report.name] = report }
                }
                return Prepared(
                    backends: Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) }), reports: reports,
                    setupError: nil, guardian: guardian)
            }
            task = started
            return started
        }
    }

    /// Every backend with what its probe found, in name order.
    public func capabilities() async -> [SandboxBackendReport] {
        let prepared = await preparation().value
        return prepared.reports.keys.sorted().compactMap { prepared.reports[$0] }
    }

    /// The backend a request without one gets.
    public func defaultBackend() async -> String {
        if let name = configuration.defaultBackend { return name }
        if let linux = await preparation().value.reports["linux"], linux.available { return "linux" }
        return "process"
    }

    // MARK: Lifecycle

    public func create(_ spec: SandboxSpec, tenant: TenantID) async throws -> SandboxInfo {
        let prepared = await preparation().value
        if let problem = prepared.setupError { throw SandboxError.setupFailed(problem) }
        let name: String
        if let requested = spec.backend { name = requested } else { name = await defaultBackend() }
        guard let backend = prepared.backends[name], let report = prepared.reports[name] else {
            throw SandboxError.unknownBackend(name, available: prepared.backends.keys.sorted())
        }
        guard report.available else {
            throw SandboxError.backendUnavailable(name, reason: report.unavailableReason ?? "unavailable")
        }
        let missing = spec.limits.required.union(spec.required).subtracting(report.capabilities)
        guard missing.isEmpty else { throw SandboxError.capabilitiesMissing(missing.sorted(), backend: name) }
        var limits = spec.limits
        // Defaults keep a sandbox created without limits from taking the machine.
        let enforced = report.capabilities
        if limits.timeoutMilliseconds == nil && enforced.contains(.timeout) {
            limits.timeoutMilliseconds = configuration.defaultTimeoutMilliseconds
        }
        if limits.memoryBytes == nil && enforced.contains(.memoryLimit) {
            limits.memoryBytes = configuration.defaultMemoryBytes
        }
        if limits.processes == nil && enforced.contains(.processLimit) {
            limits.processes = configuration.defaultProcesses
        }
        if limits.tmpBytes == nil && enforced.contains(.tempSpaceLimit) {
            limits.tmpBytes = configuration.defaultTmpBytes
        }

        try reserveSlot(tenant: tenant)
        defer { creating.withLock { $0[tenant, default: 1] -= 1 } }
        let id = Identifier.make("sbx_")
        let directory = configuration.root + "/" + id
        guard mkdir(directory, 0o700) == 0 else { throw SandboxError.setupFailed("cannot make the sandbox directory") }
        if geteuid() == 0 { _ = chown(directory, sandboxUser, sandboxUser) }
        let enclosure: any SandboxEnclosure
        do {
            enclosure = try backend.enclose(
                id: id, directory: directory, limits: limits, writable: spec.workspace?.writable ?? true)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error as? SandboxError ?? .setupFailed("\(error)")
        }
        let now = clock.now()
        let info = SandboxInfo(
            id: id, tenant: tenant, backend: name, language: spec.language, limits: limits,
            capabilities: report.capabilities.sorted(), workspace: spec.workspace, createdAt: now,
            expiresAt: spec.ttlSeconds.map { now.adding(milliseconds: $0 * 1000) },
            idleExpiresAt: spec.idleTTLSeconds.map { now.adding(milliseconds: $0 * 1000) }, status: "ready",
            idleTTLSeconds: spec.idleTTLSeconds)
        let sandbox = Sandbox(info: info, directory: directory, enclosure: enclosure)
        if let mount = spec.workspace {
            do {
                guard let workspaces else { throw SandboxError.invalid("this server has no workspaces to mount") }
                try await Self.mapped {
                    try await SandboxWorkspaces(workspaces: workspaces, maxBytes: configuration.maxWorkspaceBytes)
                        .materialize(mount, tenant: tenant, into: SandboxFiles(root: directory))
                }
            } catch {
                await sandbox.destroy()
                try? FileManager.default.removeItem(atPath: directory)
                throw error
            }
        }
        sandboxes.withLock { $0[id] = sandbox }
        return info
    }

    /// Workspace refusals (S3 errors) as sandbox errors with their status.
    static func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as S3Error {
            throw SandboxError.workspace(status: error.status, code: error.code, message: error.message)
        }
    }

    /// Writes `/work` back into the sandbox's workspace and snapshots it; no execution runs
    /// meanwhile. Returns the bucket and the snapshot's version.
    public func snapshot(_ id: String, tenant: TenantID) async throws -> (bucket: String, version: String) {
        let sandbox = try sandbox(id, tenant: tenant)
        guard let mount = await sandbox.info.workspace else {
            throw SandboxError.invalid("the sandbox has no workspace")
        }
        guard let workspaces else { throw SandboxError.invalid("this server has no workspaces") }
        let maxBytes = configuration.maxWorkspaceBytes
        let version = try await sandbox.exclusive(now: clock.now()) {
            try await Self.mapped {
                try await SandboxWorkspaces(workspaces: workspaces, maxBytes: maxBytes)
                    .writeBack(mount, tenant: tenant, from: SandboxFiles(root: sandbox.directory))
            }
        }
        return (mount.bucket, version)
    }

    /// Counts a sandbox against the server's and the tenant's limits before it exists.
    private func reserveSlot(tenant: TenantID) throws {
        let live = sandboxes.withLock { all in (all.count, all.values.filter { $0.tenant == tenant }.count) }
        try creating.withLock { pending in
            let pendingAll = pending.values.reduce(0, +)
            if live.0 + pendingAll >= configuration.maxSandboxes {
                throw SandboxError.tooMany(limit: configuration.maxSandboxes)
            }
            if live.1 + pending[tenant, default: 0] >= configuration.maxPerTenant {
                throw SandboxError.tooMany(limit: configuration.maxPerTenant)
            }
            pending[tenant, default: 0] += 1
        }
    }

    /// The tenant's sandbox; another tenant's is not found.
    public func sandbox(_ id: String, tenant: TenantID) throws -> Sandbox {
        guard let sandbox = sandboxes.withLock({ $0[id] }), sandbox.tenant == tenant else {
            throw SandboxError.notFound
        }
        return sandbox
    }

    public func list(tenant: TenantID) async -> [SandboxInfo] {
        let mine = sandboxes.withLock { $0.values.filter { $0.tenant == tenant } }
        var infos: [SandboxInfo] = []
        for sandbox in mine { infos.append(await sandbox.info) }
        return infos.sorted { $0.createdAt < $1.createdAt || ($0.createdAt == $1.createdAt && $0.id < $1.id) }
    }

    public func delete(_ id: String, tenant: TenantID) async throws {
        let sandbox = try sandbox(id, tenant: tenant)
        await remove(sandbox)
    }

    func remove(_ sandbox: Sandbox) async {
        guard sandboxes.withLock({ $0.removeValue(forKey: sandbox.id) }) != nil else { return }
        await sandbox.destroy()
        try? FileManager.default.removeItem(atPath: sandbox.directory)
    }

    public func exec(
        _ id: String, tenant: TenantID, command: SandboxCommand, timeoutMilliseconds: Int?,
        output: @escaping @Sendable (SandboxOutput) -> Void = { _ in }
    ) async throws -> SandboxExecResult {
        let sandbox = try sandbox(id, tenant: tenant)
        if let timeoutMilliseconds, let limit = await sandbox.info.limits.timeoutMilliseconds,
            timeoutMilliseconds > limit
        {
            throw SandboxError.invalid("timeout_ms may not exceed the sandbox's timeout (\(limit) ms)")
        }
        return try await sandbox.exec(
            command, timeoutMilliseconds: timeoutMilliseconds, now: clock.now(), output: output)
    }

    public func reset(_ id: String, tenant: TenantID) async throws -> SandboxInfo {
        let sandbox = try sandbox(id, tenant: tenant)
        try await sandbox.reset(now: clock.now())
        return await sandbox.info
    }

    public func files(_ id: String, tenant: TenantID) async throws -> SandboxFiles {
        let sandbox = try sandbox(id, tenant: tenant)
        await sandbox.touch(clock.now())
        return SandboxFiles(root: sandbox.directory)
    }

    /// Removes sandboxes whose TTL or idle TTL has passed. Returns how many.
    @discardableResult
    public func reap() async -> Int {
        let now = clock.now()
        var expired: [Sandbox] = []
        for sandbox in sandboxes.withLock({ Array($0.values) }) {
            let info = await sandbox.info
            if let at = info.expiresAt, !(now < at) {
                expired.append(sandbox)
            } else if let at = info.idleExpiresAt, !(now < at), await !sandbox.isBusy {
                expired.append(sandbox)
            }
        }
        for sandbox in expired { await remove(sandbox) }
        return expired.count
    }

    /// Removes every sandbox and Cairn's cgroups (the server is stopping).
    public func shutdown() async {
        for sandbox in sandboxes.withLock({ Array($0.values) }) { await remove(sandbox) }
        guard let task = prepared.withLock({ $0 }) else { return }
        let prepared = await task.value
        for backend in prepared.backends.values { (backend as? LinuxSandboxBackend)?.removeParent() }
        prepared.guardian?.release()
        // The root is emptied at start-up; an empty one is not left behind.
        rmdir(configuration.root)
    }

    public var count: Int { sandboxes.withLock { $0.count } }
}
