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
}
