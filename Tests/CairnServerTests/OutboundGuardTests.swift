import AsyncHTTPClient
import Hummingbird
import HummingbirdTesting
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

    /// Spellings of loopback and private addresses that a prefix check on the text would miss.
    @Test(arguments: [
        // IPv4-compatible and IPv4-mapped IPv6.
        "http://[::127.0.0.1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[::10.0.0.1]/",
        // NAT64 and 6to4 carrying a private or loopback IPv4 address.
        "http://[64:ff9b::127.0.0.1]/", "http://[64:ff9b::a00:1]/", "http://[2002:7f00:1::]/",
        "http://[2002:c0a8:101::1]/",
        // Site-local, multicast, benchmarking, "this network", carrier-grade NAT, broadcast.
        "http://[fec0::1]/", "http://[ff02::1]/", "http://198.18.0.1/", "http://198.19.255.254/", "http://0.1.2.3/",
        "http://100.127.255.255/", "http://239.255.255.250/", "http://255.255.255.255/",
        // Integer, octal and hex forms of 127.0.0.1.
        "http://2130706433/", "http://0x7f.1/", "http://0x7f000001/", "http://017700000001/", "http://127.1/",
    ])
    func refusesDisguisedForms(_ url: String) {
        #expect(strict.refusal(for: url) != nil, "\(url)")
        #expect(strict.refusesWithoutLookup(url), "\(url)")
    }

    @Test func allowsPublicAddressesAndOptInNetworks() {
        #expect(strict.refusal(for: "http://93.184.216.34/hook") == nil)
        #expect(strict.refusal(for: "https://[2606:2800:220:1::1]/hook") == nil)
        #expect(strict.refusal(for: "http://[2002:5db8:d822::1]/") == nil)  // 6to4 of a public address
        #expect(strict.refusal(for: "http://[64:ff9b::5db8:d822]/") == nil)  // NAT64 of a public address
        let loopback = OutboundGuard(allowPrivate: false, allowLoopback: true)
        #expect(loopback.refusal(for: "http://127.0.0.1:9/hook") == nil)
        #expect(loopback.refusal(for: "http://[::ffff:127.0.0.1]/") == nil)
        #expect(loopback.refusal(for: "http://10.0.0.1/") != nil)
        let trusted = OutboundGuard(allowPrivate: true, allowLoopback: false)
        #expect(trusted.refusal(for: "http://10.0.0.1/") == nil)
        #expect(trusted.refusal(for: "http://169.254.169.254/") == nil)
        #expect(trusted.refusal(for: "http://[fec0::1]/") == nil)
        // Private networks do not include this machine's loopback, nor reserved ranges.
        #expect(trusted.refusal(for: "http://127.0.0.1/") != nil)
        #expect(trusted.refusal(for: "http://198.18.0.1/") != nil)
    }

    /// The call connects to the address that was checked, not to a second lookup of the name.
    @Test func allowedTargetNamesTheCheckedAddress() {
        let loopback = OutboundGuard(allowPrivate: false, allowLoopback: true)
        #expect(
            loopback.decision(for: "http://2130706433:8080/x")
                == .allowed(.init(host: "2130706433", address: "127.0.0.1")))
        #expect(loopback.decision(for: "http://[::1]/x") == .allowed(.init(host: "::1", address: "::1")))
        if case .allowed(let target) = loopback.decision(for: "http://localhost/") {
            #expect(["127.0.0.1", "::1"].contains(target.address))
        } else {
            Issue.record("localhost refused with loopback allowed")
        }
    }

    /// The call goes to the checked address even when the name would resolve elsewhere (here:
    /// nowhere), so a DNS answer that changes after the check cannot redirect it.
    @Test func callsConnectToTheCheckedAddress() async throws {
        let app = Application(router: Router())
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let request = HTTPClientRequest(url: "http://cairn-pinned.invalid:\(port)/hook")
            let reply = try await OutboundHTTP.post(
                request, to: .init(host: "cairn-pinned.invalid", address: "127.0.0.1"), timeout: .seconds(10))
            #expect(reply.status == 404)
        }
    }

    /// A long reply is cut at the read limit instead of failing the call.
    @Test func longRepliesAreCutNotFailed() async throws {
        let router = Router()
        router.get("/hook") { _, _ in String(repeating: "y", count: 100_000) }
        let app = Application(router: router)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/hook")
            let reply = try await OutboundHTTP.post(
                request, to: .init(host: "127.0.0.1", address: "127.0.0.1"), timeout: .seconds(10))
            #expect(reply.status == 200)
            #expect(reply.body == String(repeating: "y", count: OutboundHTTP.responseBodyLimit))
        }
    }

    /// Reads hide stored replies by the host alone, without DNS: names are not judged there.
    @Test func refusesWithoutLookupOnlyJudgesAddressesAndLocalhost() {
        #expect(strict.refusesWithoutLookup("http://localhost:1/"))
        #expect(!strict.refusesWithoutLookup("http://example.com/"))
        #expect(!strict.refusesWithoutLookup("http://93.184.216.34/"))
        #expect(!OutboundGuard(allowPrivate: false, allowLoopback: true).refusesWithoutLookup("http://127.0.0.1/"))
    }
}
