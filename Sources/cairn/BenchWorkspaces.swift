import ArgumentParser
import AsyncHTTPClient
import CairnCore
import Foundation
import NIOCore
import NIOHTTP1

/// Workspace figures over the S3 listener, each request signed here with SigV4 (hex SHA-256
/// payloads): snapshot and fork latency by bucket size, GET through a fork chain, 4 KiB PutObject
/// and GetObject throughput, and a 1,000-key ListObjectsV2. With `--no-tigris` only the plain-S3
/// parts run, so any S3 server (moto, say) gives a reference point.
struct WorkspacesBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "workspaces")

    @Option(name: .customLong("s3-url"), help: "The S3 listener's URL.") var s3URL = "http://127.0.0.1:7374"
    @Option(name: .customLong("access-key"), help: "S3 access key id (AWS_ACCESS_KEY_ID).") var accessKey: String?
    @Option(name: .customLong("secret-key"), help: "S3 secret access key (AWS_SECRET_ACCESS_KEY).")
    var secretKey: String?
    @Option(help: "Region in the credential scope.") var region = "us-east-1"
    @Option(help: "Bucket sizes (objects) to time snapshots and forks at, comma-separated.")
    var sizes = "10,1000,100000"
    @Option(help: "Concurrent clients when filling buckets and in the throughput phase.") var clients = 16
    @Option(help: "Snapshots and forks timed per bucket size.") var samples = 50
    @Option(help: "4 KiB PutObjects (then as many GetObjects) in the throughput phase.") var objects = 5_000
    @Option(name: .customLong("chain-gets"), help: "Sequential GETs timed at each fork-chain depth.")
    var chainGets = 1_000
    @Option(name: .customLong("list-samples"), help: "Sequential 1,000-key ListObjectsV2 requests timed.")
    var listSamples = 100
    @Flag(inversion: .prefixedNo, help: "Time the Tigris snapshot and fork extensions (off: plain S3 only).")
    var tigris = true

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        guard let keyId = accessKey ?? env["AWS_ACCESS_KEY_ID"], let secret = secretKey ?? env["AWS_SECRET_ACCESS_KEY"]
        else {
            throw ValidationError("pass --access-key and --secret-key (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
        }
        let bucketSizes = sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(16, clients))
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let s3 = try S3BenchClient(
            http: http, url: s3URL, credentials: .init(accessKeyId: keyId, secretAccessKey: secret), region: region)
        do {
            try await measure(s3, bucketSizes: bucketSizes)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    private func measure(_ s3: S3BenchClient, bucketSizes: [Int]) async throws {
        let prefix = "bw-" + Identifier.randomHex().prefix(8)
        let snapshotHeader = [(name: "x-tigris-enable-snapshot", value: "true")]
        print("workspaces bench against \(s3URL)\(tigris ? "" : " (plain S3: no snapshots or forks)")")

        // Warm up connections and code paths.
        try await s3.send(.PUT, "/\(prefix)-warm", headers: tigris ? snapshotHeader : [])
        try await fill(s3, bucket: "\(prefix)-warm", count: 100, label: "warm-up")
        if tigris {
            try await s3.send(.PUT, "/\(prefix)-warm", headers: [("x-tigris-snapshot", "true")])
            try await s3.send(.PUT, "/\(prefix)-warm-f", headers: [("x-tigris-fork-source-bucket", "\(prefix)-warm")])
        }

        if tigris {
            for size in bucketSizes {
                let bucket = "\(prefix)-n\(size)"
                try await s3.send(.PUT, "/\(bucket)", headers: snapshotHeader)
                let fillTime = try await Self.timed { try await fill(s3, bucket: bucket, count: size, label: bucket) }
                print(
                    String(
                        format: "fill %d objects (64 B, %d clients): %.2f s, %.0f puts/s", size, clients,
                        fillTime.seconds, Double(size) / fillTime.seconds))
                var snapshots: [Duration] = []
                for _ in 0..<samples {
                    let t0 = ContinuousClock.now
                    let reply = try await s3.send(.PUT, "/\(bucket)", headers: [("x-tigris-snapshot", "true")])
                    snapshots.append(ContinuousClock.now - t0)
                    guard reply.headers.first(name: "x-tigris-snapshot-version") != nil else {
                        throw CLIError("snapshot of \(bucket): no X-Tigris-Snapshot-Version in the response")
                    }
                }
                print(Self.line("snapshot, \(size) objects", snapshots))
                var forks: [Duration] = []
                for i in 0..<samples {
                    let t0 = ContinuousClock.now
                    try await s3.send(.PUT, "/\(bucket)-f\(i)", headers: [("x-tigris-fork-source-bucket", bucket)])
                    forks.append(ContinuousClock.now - t0)
                }
                print(Self.line("fork (from current state), \(size) objects", forks))
                // The last fork sees the source's objects.
                let last = size - 1
                let reply = try await s3.send(.GET, "/\(bucket)-f\(samples - 1)/\(Self.key(last))")
                guard reply.body.readableBytes == 64 else { throw CLIError("fork of \(bucket) lost its objects") }
            }
        }

        // A 1,000-key bucket: the list phase, and the root of the fork chain.
        let root = "\(prefix)-root"
        try await s3.send(.PUT, "/\(root)", headers: tigris ? snapshotHeader : [])
        try await fill(s3, bucket: root, count: 1_000, label: root)
        var chain: [(depth: Int, bucket: String)] = [(0, root)]
        if tigris {
            var parent = root
            for depth in 1...10 {
                let child = "\(root)-d\(depth)"
                try await s3.send(.PUT, "/\(child)", headers: [("x-tigris-fork-source-bucket", parent)])
                if depth == 1 || depth == 10 { chain.append((depth, child)) }
                parent = child
            }
        }
        for (depth, bucket) in chain {
            var latencies: [Duration] = []
            var rng = SystemRandomNumberGenerator()
            for _ in 0..<chainGets {
                let k = Int.random(in: 0..<1_000, using: &rng)
                let t0 = ContinuousClock.now
                let reply = try await s3.send(.GET, "/\(bucket)/\(Self.key(k))")
                latencies.append(ContinuousClock.now - t0)
                guard reply.body.readableBytes == 64 else { throw CLIError("GET \(bucket): wrong size") }
            }
            let what =
                depth == 0
                ? "GET 64 B object, no fork (1 client)"
                : "GET 64 B object through a fork chain of depth \(depth) (1 client)"
            print(Self.line(what, latencies))
        }

        var lists: [Duration] = []
        for i in 0..<listSamples {
            let t0 = ContinuousClock.now
            let reply = try await s3.send(.GET, "/\(root)", query: [("list-type", "2"), ("max-keys", "1000")])
            lists.append(ContinuousClock.now - t0)
            if i == 0 {
                let xml = String(buffer: reply.body)
                let keys = xml.components(separatedBy: "<Key>").count - 1
                guard keys == 1_000 else { throw CLIError("ListObjectsV2 of \(root) returned \(keys) keys, not 1000") }
            }
        }
        print(Self.line("ListObjectsV2, 1,000 keys in one page (1 client)", lists))

        try await throughput(s3, bucket: "\(prefix)-tput", headers: [], label: "plain bucket")
        if tigris {
            try await throughput(s3, bucket: "\(prefix)-tput-snap", headers: snapshotHeader, label: "snapshot bucket")
        }
    }

    /// `objects` 4 KiB PutObjects by `clients` clients (distinct bytes each), then as many GetObjects.
    private func throughput(
        _ s3: S3BenchClient, bucket: String, headers: [(name: String, value: String)], label: String
    ) async throws {
        try await s3.send(.PUT, "/\(bucket)", headers: headers)
        let count = objects
        let workers = clients
        let size = 4096
        for method in [HTTPMethod.PUT, .GET] {
            let start = ContinuousClock.now
            let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
                for worker in 0..<workers {
                    group.addTask {
                        var body = [UInt8](repeating: 0x61, count: method == .PUT ? size : 0)
                        var mine: [Duration] = []
                        for i in stride(from: worker, to: count, by: workers) {
                            if method == .PUT {
                                withUnsafeBytes(of: i) { for (k, b) in $0.enumerated() { body[k] = b } }
                            }
                            let t0 = ContinuousClock.now
                            let reply = try await s3.send(method, "/\(bucket)/o/\(i)", body: body)
                            mine.append(ContinuousClock.now - t0)
                            if method == .GET, reply.body.readableBytes != size {
                                throw CLIError("GET \(bucket)/o/\(i): \(reply.body.readableBytes) bytes")
                            }
                        }
                        return mine
                    }
                }
                var all: [Duration] = []
                for try await part in group { all += part }
                return all
            }
            let wall = (ContinuousClock.now - start).seconds
            let (p50, p99) = Self.percentiles(latencies)
            print(
                String(
                    format: "%@ 4 KiB, %@, %d clients: %d objects in %.2f s, %.0f objects/s (p50 %.2f ms, p99 %.2f ms)",
                    method == .PUT ? "PutObject" : "GetObject", label, workers, count, wall, Double(count) / wall, p50,
                    p99))
        }
    }

    /// Fills a bucket with `count` 64-byte objects (distinct bytes) from `clients` clients.
    private func fill(_ s3: S3BenchClient, bucket: String, count: Int, label: String) async throws {
        let workers = min(clients, max(1, count))
        let step = max(1, count / 10)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    for i in stride(from: worker, to: count, by: workers) {
                        var body = Array("object \(i) of \(bucket) ".utf8)
                        body += [UInt8](repeating: 0x2E, count: max(0, 64 - body.count))
                        try await s3.send(.PUT, "/\(bucket)/\(Self.key(i))", body: Array(body.prefix(64)))
                        if worker == 0, count >= 10_000, i > 0, i % step < workers {
                            FileHandle.standardError.write(Data("  \(label): ~\(i)/\(count) objects\n".utf8))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    static func key(_ i: Int) -> String { String(format: "obj/%06d", i) }

    static func timed(_ body: () async throws -> Void) async throws -> Duration {
        let t0 = ContinuousClock.now
        try await body()
        return ContinuousClock.now - t0
    }

    static func percentiles(_ latencies: [Duration]) -> (p50: Double, p99: Double) {
        let ms = latencies.map(\.milliseconds).sorted()
        func pct(_ p: Double) -> Double { ms.isEmpty ? 0 : ms[min(ms.count - 1, Int(Double(ms.count) * p))] }
        return (pct(0.5), pct(0.99))
    }

    static func line(_ what: String, _ latencies: [Duration]) -> String {
        let (p50, p99) = percentiles(latencies)
        return String(format: "%@: p50 %.2f ms, p99 %.2f ms (%d samples)", what, p50, p99, latencies.count)
    }
}

/// Path-style S3 requests over AsyncHTTPClient, signed with SigV4 (hex SHA-256 of the body).
struct S3BenchClient: Sendable {
    let http: HTTPClient
    /// `scheme://host:port`, without a trailing slash.
    let base: String
    /// The `Host` header, exactly as sent and signed.
    let host: String
    let credentials: SigV4.Credentials
    let region: String

    struct Reply: Sendable {
        var status: UInt
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    init(http: HTTPClient, url: String, credentials: SigV4.Credentials, region: String) throws {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        guard let schemeEnd = base.range(of: "://"), !base[schemeEnd.upperBound...].isEmpty else {
            throw ValidationError("--s3-url must look like http://host:port")
        }
        self.http = http
        self.base = base
        self.host = String(base[schemeEnd.upperBound...])
        self.credentials = credentials
        self.region = region
    }

    /// Sends one request; `path` is the decoded `/bucket[/key]`. Throws on a non-2xx status.
    @discardableResult
    func send(
        _ method: HTTPMethod, _ path: String, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], body: [UInt8] = [], service: String = "s3"
    ) async throws -> Reply {
        let payloadHash: String
        if body.isEmpty {
            payloadHash = SigV4.emptyPayloadHash
        } else {
            var hasher = SHA256Hasher()
            hasher.update(body)
            payloadHash = hasher.finalize()
        }
        let signed = [(name: "host", value: host)] + headers
        let added = SigV4.sign(
            method: method.rawValue, path: path, query: query, headers: signed, payloadHash: payloadHash,
            credentials: credentials, region: region, service: service, time: Date())
        let queryString = SigV4.canonicalQuery(query)
        var request = HTTPClientRequest(
            url: base + SigV4.canonicalURI(path: path) + (queryString.isEmpty ? "" : "?" + queryString))
        request.method = method
        for (name, value) in signed + added { request.headers.add(name: name, value: value) }
        if !body.isEmpty { request.body = .bytes(body) }
        let response = try await http.execute(request, timeout: .seconds(120))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        guard (200..<300).contains(response.status.code) else {
            throw CLIError(
                "\(method.rawValue) \(path): \(response.status.code) \(String(buffer: bytes).prefix(400))")
        }
        return Reply(status: response.status.code, headers: response.headers, body: bytes)
    }
}
