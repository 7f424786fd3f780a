import Testing

@testable import CairnServer

@Suite struct OutboundGuardTests {
    let strict = OutboundGuard()

    @Test(arguments: [
        "http://127.0.0.1/hook", "http://localhost:8080/x", "http://[::1]/x", "http://10.1.2.3/", "http://172.16.0.1/",
        "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data", "http://100.64.0.1/", "http://0.0.0.0/",
        "http://224.0.0.1/", "http://[fd00::1]/", "http://[fe80::1]/", "http://[::ffff:10.0.0.1]/",
        "ftp://example.com/",
        "not a url", "http://no-such-host.invalid/",
    ])
    func refusesUnsafeTargets(_ url: String) {
        #expect(strict.refusal(for: url) != nil, "\(url)")
    }

    @Test func allowsPublicAddressesAndOptInNetworks() {
        #expect(strict.refusal(for: "http://93.184.216.34/hook") == nil)
        #expect(strict.refusal(for: "https://[2606:2800:220:1::1]/hook") == nil)
        let loopback = OutboundGuard(allowPrivate: false, allowLoopback: true)
        #expect(loopback.refusal(for: "http://127.0.0.1:9/hook") == nil)
        #expect(loopback.refusal(for: "http://10.0.0.1/") != nil)
        let trusted = OutboundGuard(allowPrivate: true, allowLoopback: true)
        #expect(trusted.refusal(for: "http://10.0.0.1/") == nil)
        #expect(trusted.refusal(for: "http://169.254.169.254/") == nil)
    }
}
