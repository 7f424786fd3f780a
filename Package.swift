// swift-tools-version:6.2
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Cairn",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cairn", targets: ["cairn"]),
        .library(name: "CairnCore", targets: ["CairnCore"]),
        .library(name: "CairnServer", targets: ["CairnServer"]),
        .library(name: "Cairn", targets: ["Cairn"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // gzip for Tigris bundles (wraps the system zlib).
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        // Studio's server-rendered HTML.
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        // `swift package generate-documentation` (DocC) for the SDK; no effect on the build.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.5.0"),
    ],
    targets: [
        // The domain: runs, steps, gates, state, events. No HTTP, no SQL.
        // The few Linux calls Swift's Glibc module leaves out (GNU extensions), for sandboxes.
        .target(name: "CCairnSystem", path: "Sources/CCairnSystem"),
        // zlib's CRC-32 and the CPU's CRC-32C instruction, for the checksums S3 clients send.
        .target(name: "CCairnChecksums", path: "Sources/CCairnChecksums", linkerSettings: [.linkedLibrary("z")]),
        // zstd for Tigris bundles: the system's libzstd, loaded at run time (no headers needed).
        .target(name: "CCairnZstd", path: "Sources/CCairnZstd", linkerSettings: [.linkedLibrary("dl")]),
        .target(
            name: "CairnCore",
            dependencies: [
                "CCairnSystem",
                "CCairnChecksums",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        // Persistence: the embedded SQLite store (group commit) behind CairnCore's store protocols.
        .target(
            name: "CairnStore",
            dependencies: [
                "CairnCore",
                // SQLiteNIO is depended on for its vendored SQLite build; the store drives the C API
                // directly on a dedicated writer thread (see docs/architecture.md, "Why not SQLKit").
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                // The scale-out engine: many replicas on one Postgres.
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        // HTTP listeners (one folder per protocol), auth, SSE, metrics, background services.
        .target(
            name: "CairnServer",
            dependencies: [
                "CairnCore",
                "CairnStore",
                "CCairnZstd",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            swiftSettings: strictSettings
        ),
        // The Swift SDK: durable workflows over HTTP, or embedded in-process on the embedded store.
        .target(
            name: "Cairn",
            dependencies: [
                "CairnCore",
                "CairnStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "cairn",
            dependencies: [
                "Cairn",
                "CairnServer",
                "CairnStore",
                "CairnCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "example-agent", dependencies: ["Cairn"], path: "Examples/AgentWorkflow",
            swiftSettings: strictSettings),
        .executableTarget(
            name: "example-interop", dependencies: ["Cairn"], path: "Examples/Interop", swiftSettings: strictSettings),
        .executableTarget(
            name: "example-worker", dependencies: ["Cairn"], path: "Examples/QueueWorker", swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "example-workspaces", dependencies: ["Cairn"], path: "Examples/AgentWorkspaces",
            swiftSettings: strictSettings),
        // What every test target shares: where tests keep their files.
        .target(
            name: "CairnTestSupport", dependencies: [.product(name: "Logging", package: "swift-log")],
            path: "Tests/CairnTestSupport", swiftSettings: strictSettings),
        .testTarget(
            name: "CairnCoreTests",
            dependencies: ["CairnCore", "CairnTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CairnStoreTests",
            dependencies: [
                "CairnCore", "CairnStore", "CairnTestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CairnSDKTests",
            dependencies: [
                "Cairn", "CairnCore", "CairnServer", "CairnStore", "CairnTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CairnServerTests",
            dependencies: [
                "CairnServer", "CairnCore", "CairnStore", "CairnTestSupport", "CCairnZstd",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
