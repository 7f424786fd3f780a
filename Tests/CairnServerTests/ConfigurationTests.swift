import CairnServer
import Testing

@Suite struct ConfigurationTests {
    @Test func refusesAPublicAddressWithoutAKeyUnlessAllowed() throws {
        var c = ServerConfiguration()
        try c.validate()
        c.host = "0.0.0.0"
        #expect(throws: ServerConfiguration.Invalid.self) { try c.validate() }
        c.allowUnauthenticated = true
        try c.validate()
        c.allowUnauthenticated = false
        c.apiKey = "0123456789abcdef-long-enough"
        try c.validate()
        c.apiKey = "short"
        #expect(throws: ServerConfiguration.Invalid.self) { try c.validate() }
    }

    @Test func summaryNeverContainsSecrets() {
        var c = ServerConfiguration()
        c.apiKey = "super-secret-api-key-value"
        c.webhookSecret = "super-secret-webhook-value"
        let printed = c.summary.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
        #expect(!printed.contains("super-secret"))
        #expect(printed.contains("port=7373") && printed.contains("host=127.0.0.1"))
    }

    @Test func rejectsImpossibleSettings() {
        var c = ServerConfiguration()
        c.port = 70000
        #expect(throws: ServerConfiguration.Invalid.self) { try c.validate() }
        c.port = 7373
        c.leaseMilliseconds = 10
        #expect(throws: ServerConfiguration.Invalid.self) { try c.validate() }
    }

    @Test func rejectsConnectionSettingsThatCannotWork() throws {
        try ServerConfiguration().validate()
        let broken: [(inout ServerConfiguration) -> Void] = [
            { $0.headerTimeoutMilliseconds = 0 }, { $0.idleTimeoutMilliseconds = -1 },
            { $0.bodyTimeoutMilliseconds = 0 }, { $0.shutdownGraceMilliseconds = 0 },
            { $0.maxConnections = 0 }, { $0.eventStreamBufferBytes = 10 }, { $0.eventStreamKeyCheckMilliseconds = 0 },
        ]
        for breakIt in broken {
            var c = ServerConfiguration()
            breakIt(&c)
            #expect(throws: ServerConfiguration.Invalid.self) { try c.validate() }
        }
    }

    @Test func connectionLimitsFollowTheSettings() {
        var c = ServerConfiguration()
        c.headerTimeoutMilliseconds = 1_500
        c.idleTimeoutMilliseconds = 2_500
        c.bodyTimeoutMilliseconds = 3_500
        c.maxConnections = 7
        c.maxBodyBytes = 100
        c.maxArtifactBytes = 5_000
        let limits = c.connectionLimits
        #expect(limits.headerTimeout == .milliseconds(1_500))
        #expect(limits.idleTimeout == .milliseconds(2_500))
        #expect(limits.bodyTimeout == .milliseconds(3_500))
        #expect(limits.maxConnections == 7)
        // The largest body any route accepts: artifacts here.
        #expect(limits.maxRequestBodyBytes == 5_000)
    }
}
