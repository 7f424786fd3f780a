import CCairnSystem
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How a child process ended, as `waitpid` reports it.
public struct ProcessTermination: Sendable, Equatable {
    public var exitCode: Int32?
    public var signal: Int32?
    /// CPU time of the child and the descendants it waited for (user + system), from `wait4`.
    public var cpuMicroseconds: Int64
    /// The largest resident set of the child or a waited-for descendant, from `wait4`.
    public var peakResidentBytes: Int64
}

/// A child process started with `posix_spawn`: no shell, an explicit environment, only the
/// descriptors it is given (everything else is closed in the child), default signal handling
/// and mask, and optionally its own session so its process group can be killed as one.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    private let ended:
        Mutex<(termination: ProcessTermination?, waiters: [CheckedContinuation<ProcessTermination, Never>])>

    /// Descriptor `target` in the child is `source` in this process (closed here by the caller).
    public struct DescriptorMapping: Sendable {
        public var source: Int32
        public var target: Int32
        public init(_ source: Int32, as target: Int32) {
            self.source = source
            self.target = target
        }
    }

    public struct SpawnError: Error, Sendable, CustomStringConvertible {
        public var executable: String
        public var errno: Int32
        public var description: String { "cannot start \(executable): \(String(cString: strerror(errno)))" }
    }

    /// Starts `argv[0]` (an absolute path) with `environment` and the given descriptors.
    public init(
        argv: [String], environment: [String: String], descriptors: [DescriptorMapping], newSession: Bool,
        workingDirectory: String? = nil
    ) throws {
        precondition(!argv.isEmpty)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // A source may sit on another mapping's target number: move every source above every
        // source and target first, then into place, so no dup2 overwrites a descriptor still
        // to be copied.
        let highest = (descriptors.flatMap { [$0.target, $0.source] }.max() ?? 2) + 1
        for (i, mapping) in descriptors.enumerated() {
            posix_spawn_file_actions_adddup2(&actions, mapping.source, highest + Int32(i))
        }
        for (i, mapping) in descriptors.enumerated() {
            posix_spawn_file_actions_adddup2(&actions, highest + Int32(i), mapping.target)
        }
        ccairn_spawn_addclosefrom(&actions, highest)
        if let workingDirectory { ccairn_spawn_addchdir(&actions, workingDirectory) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        // Dispositions the server ignores (SIGPIPE) would otherwise be inherited through exec.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newSession { flags |= 0x80 }  // POSIX_SPAWN_SETSID (glibc)
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        guard result == 0 else { throw SpawnError(executable: argv[0], errno: result) }
        self.pid = pid
        ended = Mutex((nil, []))
        let thread = Thread { [self] in self.reap() }
        thread.stackSize = 64 * 1024
        thread.start()
    }

    /// Waits for the child on a small thread of its own (Linux has no process event source).
    private func reap() {
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { break }
        }
        let exited = (status & 0x7f) == 0
        let termination = ProcessTermination(
            exitCode: exited ? (status >> 8) & 0xff : nil, signal: exited ? nil : status & 0x7f,
            cpuMicroseconds: Int64(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000
                + Int64(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec),
            peakResidentBytes: Int64(usage.ru_maxrss) * 1024)
        let waiters = ended.withLock { state in
            state.termination = termination
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: termination) }
    }

    /// How the child ended, once it has.
    public var termination: ProcessTermination? { ended.withLock { $0.termination } }

    public func wait() async -> ProcessTermination {
        await withCheckedContinuation { continuation in
            let done = ended.withLock { state -> ProcessTermination? in
                if let termination = state.termination { return termination }
                state.waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    /// Sends `signal` to the child (and, with `group`, to its whole process group). A child
    /// already reaped is not signalled, so a reused pid is never hit.
    public func kill(_ signal: Int32 = SIGKILL, group: Bool = false) {
        ended.withLock { state in
            guard state.termination == nil else { return }
            _ = Glibc.kill(group ? -pid : pid, signal)
        }
    }
}

/// A pipe whose ends are closed when dropped unless taken.
public struct Pipe2: ~Copyable {
    public private(set) var read: Int32
    public private(set) var write: Int32

    public init() throws {
        var fds: [Int32] = [0, 0]
        guard ccairn_pipe_cloexec(&fds) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        read = fds[0]
        write = fds[1]
    }

    public mutating func takeRead() -> Int32 {
        defer { read = -1 }
        return read
    }

    public mutating func takeWrite() -> Int32 {
        defer { write = -1 }
        return write
    }

    deinit {
        if read >= 0 { close(read) }
        if write >= 0 { close(write) }
    }
}

/// Reads one descriptor on a small thread of its own (blocking in `poll`) and hands each chunk
/// to `onData`; `onEnd` runs once, at end of file or after `cancel()` (or when the reader is
/// released). The thread owns the descriptor and closes it itself, so no other code can close
/// it while a read is pending or see its number reused under a read.
public final class DescriptorReader: Sendable {
    /// Writing a byte here (or closing it) wakes the thread to stop.
    private let wake: Int32

    public init(fd: Int32, onData: @escaping @Sendable ([UInt8]) -> Void, onEnd: @escaping @Sendable () -> Void) {
        // A socket pair, not a pipe: `cancel()` sends with MSG_NOSIGNAL, so waking a thread
        // that has already ended cannot raise SIGPIPE.
        var fds: [Int32] = [-1, -1]
        if socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) != 0 {
            fds = [-1, -1]
        }
        wake = fds[1]
        let wakeRead = fds[0]
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            var watched = [
                pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            reading: while true {
                watched[0].revents = 0
                watched[1].revents = 0
                let ready = poll(&watched, wakeRead >= 0 ? 2 : 1, -1)
                if ready < 0 {
                    if errno == EINTR { continue }
                    break
                }
                if wakeRead >= 0 && watched[1].revents != 0 { break }
                guard watched[0].revents != 0 else { continue }
                while true {
                    let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                    if n > 0 {
                        onData(Array(buffer[0..<n]))
                        continue reading
                    }
                    if n < 0 && errno == EINTR { continue }
                    break reading
                }
            }
            close(fd)
            if wakeRead >= 0 { close(wakeRead) }
            onEnd()
        }
        thread.stackSize = 128 * 1024
        thread.start()
    }

    public func cancel() {
        var byte: UInt8 = 1
        _ = send(wake, &byte, 1, Int32(MSG_NOSIGNAL))
    }

    deinit { if wake >= 0 { close(wake) } }
}

/// Writes all of `bytes` to `fd` on a thread of its own, then closes `fd`. SIGPIPE is blocked
/// on that thread, so a reader that has gone makes the write fail (EPIPE) instead of killing
/// the process, without changing how the rest of the process handles SIGPIPE.
func writeAllThenClose(_ fd: Int32, _ bytes: [UInt8], close closing: Bool = true) {
    Thread.detachNewThread {
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &blocked, nil)
        bytes.withUnsafeBytes { _ = try? FileDescriptors.writeAll(fd, $0) }
        if closing { close(fd) }
    }
}

/// Writing to descriptors.
public enum FileDescriptors {
    /// Writes all of `bytes`, again after short writes and interruptions.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                throw n < 0 ? POSIXError.current() : POSIXError(.EIO)
            }
        }
    }
}

extension POSIXError {
    static func current() -> POSIXError { POSIXError(.init(rawValue: errno) ?? .EIO) }
}
