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

/// Artifact transfer over loopback beside a plain copy on the same disk: a large upload and
/// download (MB/s), the copy's rate, the server's peak RSS during the transfers, and small
/// uploads per second.
struct ArtifactsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "artifacts")

    @Option(help: "Server URL.") var url = "http://127.0.0.1:7373"
    @Option(name: .customLong("api-key")) var apiKey: String?
    @Option(name: .customLong("size-mib"), help: "Size of the large artifact in MiB.") var sizeMiB = 1024
    @Option(help: "Directory for the source file and the copies (put it on the server's disk).") var dir: String?
    @Option(name: .customLong("server-pid"), help: "The server's pid, to sample its RSS (Linux /proc).")
    var serverPid: Int32?
    @Option(help: "Small uploads in the throughput phase.") var small = 2000
    @Option(name: .customLong("small-bytes"), help: "Size of each small upload.") var smallBytes = 4096
    @Option(help: "Concurrent small uploads.") var concurrency = 16

    func run() async throws {
        let directory = (dir ?? NSTemporaryDirectory()) + "/cairn-artifact-bench-" + Identifier.randomHex().prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let source = directory + "/source.bin"
        let bytes = Int64(sizeMiB) << 20
        try Self.writeRandomFile(source, bytes: bytes)
        let mb = Double(bytes) / 1_000_000

        let copyBefore = try mb / Self.timed { try Self.copy(source, to: directory + "/copy.bin") }
        try FileManager.default.removeItem(atPath: directory + "/copy.bin")

        let artifacts = Cairn.http(url: url, apiKey: apiKey).artifacts
        var options = Artifacts.UploadOptions()
        options.sha256 = try Artifacts.sha256(file: source)  // outside the timing; the server still verifies it
        let sampler = RSSSampler(pid: serverPid)
        let rssBefore = sampler.current()
        sampler.start()
        let t0 = ContinuousClock.now
        let artifact = try await artifacts.upload(file: source, name: "bench/large.bin", options: options)
        let uploadTime = (ContinuousClock.now - t0).seconds
        let uploadPeak = sampler.stop()
        sampler.start()
        let t1 = ContinuousClock.now
        try await artifacts.download(artifact.id, to: directory + "/download.bin")
        let downloadTime = (ContinuousClock.now - t1).seconds
        let downloadPeak = sampler.stop()
        try await artifacts.delete(artifact.id)
        try FileManager.default.removeItem(atPath: directory + "/download.bin")
        // The copy again, after the transfers; the faster of the two is the reference.
        let copyAfter = try mb / Self.timed { try Self.copy(source, to: directory + "/copy.bin") }
        try FileManager.default.removeItem(atPath: directory + "/copy.bin")
        let copyRate = max(copyBefore, copyAfter)

        let uploadRate = mb / uploadTime
        let downloadRate = mb / downloadTime
        print(
            String(
                format: "plain copy (read + write + fsync, same disk): %.0f MB/s before, %.0f MB/s after the transfers",
                copyBefore, copyAfter))
        print(
            String(
                format: "upload   %d MiB over loopback: %.0f MB/s (%.0f%% of the copy)", sizeMiB, uploadRate,
                uploadRate / copyRate * 100))
        print(
            String(
                format: "download %d MiB over loopback: %.0f MB/s (%.0f%% of the copy)", sizeMiB, downloadRate,
                downloadRate / copyRate * 100))
        if serverPid != nil {
            print(
                String(
                    format:
                        "server RSS: %.1f MB before, peak %.1f MB during the upload, %.1f MB during the download; VmHWM %.1f MB",
                    Double(rssBefore) / 1e6, Double(uploadPeak) / 1e6, Double(downloadPeak) / 1e6,
                    Double(sampler.highWaterMark()) / 1e6))
        }

        let count = small
        let size = smallBytes
        let workers = concurrency
        let t2 = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var body = [UInt8](repeating: 0, count: size)
                    for i in stride(from: worker, to: count, by: workers) {
                        // Distinct content each time: every upload writes and syncs a new blob.
                        withUnsafeBytes(of: i) { for (k, b) in $0.enumerated() { body[k] = b } }
                        body[size - 1] = UInt8(truncatingIfNeeded: i >> 3)
                        _ = try await artifacts.upload(bytes: body, name: "bench/small-\(i)")
                    }
                }
            }
            try await group.waitForAll()
        }
        let smallTime = (ContinuousClock.now - t2).seconds
        print(
            String(
                format: "small uploads: %d x %d B, %d concurrent: %.0f uploads/s", count, size, workers,
                Double(count) / smallTime))
    }

    static func timed(_ body: () throws -> Void) throws -> Double {
        let t0 = ContinuousClock.now
        try body()
        return (ContinuousClock.now - t0).seconds
    }

    static func writeRandomFile(_ path: String, bytes: Int64) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot create \(path)") }
        defer { close(fd) }
        var rng = SystemRandomNumberGenerator()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var written: Int64 = 0
        while written < bytes {
            for i in stride(from: 0, to: chunk.count, by: 8) {
                withUnsafeBytes(of: rng.next() as UInt64) { for (k, b) in $0.enumerated() { chunk[i + k] = b } }
            }
            let n = Int(min(Int64(chunk.count), bytes - written))
            guard chunk.withUnsafeBytes({ write(fd, $0.baseAddress, n) }) == n else {
                throw ValidationError("cannot write \(path)")
            }
            written += Int64(n)
        }
        fsync(fd)
    }

    /// read + write + fsync in 1 MiB chunks: what the server does with an upload, minus HTTP.
    static func copy(_ source: String, to target: String) throws {
        let input = open(source, O_RDONLY)
        let output = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard input >= 0, output >= 0 else { throw ValidationError("cannot open \(source) or \(target)") }
        defer {
            close(input)
            close(output)
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 { throw ValidationError("cannot read \(source)") }
            if n == 0 { break }
            guard buffer.withUnsafeBytes({ write(output, $0.baseAddress, n) }) == n else {
                throw ValidationError("cannot write \(target)")
            }
        }
        guard fsync(output) == 0 else { throw ValidationError("cannot sync \(target)") }
    }
}

/// Samples a process's resident set size every 20 ms and keeps the peak.
final class RSSSampler: Sendable {
    let pid: Int32?
    private let state = Mutex<(peak: Int64, running: Bool)>((0, false))

    init(pid: Int32?) { self.pid = pid }

    func field(_ name: String) -> Int64 {
        guard let pid, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else {
            return 0
        }
        for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
            let kb = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int64($0) }
            return (kb ?? 0) * 1024
        }
        return 0
    }

    func current() -> Int64 { field("VmRSS") }

    func highWaterMark() -> Int64 { field("VmHWM") }

    func start() {
        state.withLock { $0 = (current(), true) }
        guard pid != nil else { return }
        Thread.detachNewThread {
            while self.state.withLock({ $0.running }) {
                let rss = self.current()
                self.state.withLock { $0.peak = max($0.peak, rss) }
                usleep(20_000)
            }
        }
    }

    /// Stops sampling and returns the peak.
    func stop() -> Int64 {
        let rss = current()
        return state.withLock { s in
            s.running = false
            s.peak = max(s.peak, rss)
            return s.peak
        }
    }
}
