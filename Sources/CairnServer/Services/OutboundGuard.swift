import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Decides whether the server may call a URL (webhooks, recovery and invoke calls): refuses
/// private, link-local (cloud metadata), reserved, unspecified and multicast addresses, and
/// loopback, unless a setting allows them; checks every address the host name resolves to (and
/// the IPv4 address embedded in IPv4-mapped, -compatible, NAT64 and 6to4 forms), and names the
/// checked address the call must connect to, so a second DNS answer cannot redirect it.
struct OutboundGuard: Sendable {
    /// Allow private and link-local networks (trusted internal deployments).
    var allowPrivate = false
    /// Allow loopback (services on the server's own machine).
    var allowLoopback = false

    /// A URL that may be called, and the address its host was checked at.
    struct Target: Equatable {
        /// The host as written in the URL, brackets removed.
        var host: String
        /// The numeric address the call connects to (`127.0.0.1`, `::1`).
        var address: String
    }

    enum Decision: Equatable {
        case allowed(Target)
        case refused(String)
    }

    /// Nil when the URL may be called, else why not.
    func refusal(for urlString: String) -> String? {
        if case .refused(let reason) = decision(for: urlString) { return reason }
        return nil
    }

    func decision(for urlString: String) -> Decision {
        guard let host = Self.host(of: urlString) else { return .refused("not an absolute http(s) URL") }
        let addresses = Self.resolve(host)
        guard let first = addresses.first else { return .refused("host \(host) does not resolve") }
        for address in addresses {
            if let reason = refusal(forAddress: address) { return .refused("\(host) resolves to \(reason)") }
        }
        return .allowed(Target(host: host, address: first.text))
    }

    /// Whether a URL is refused judging by its host alone when that is an address or
    /// `localhost` (no DNS lookup, so cheap enough for reads); a name that needs DNS is not.
    func refusesWithoutLookup(_ urlString: String) -> Bool {
        guard let host = Self.host(of: urlString) else { return true }
        if host.lowercased() == "localhost" || host.lowercased().hasSuffix(".localhost") { return !allowLoopback }
        guard let address = Self.numericAddress(host) else { return false }
        return refusal(forAddress: address) != nil
    }

    static func host(of urlString: String) -> String? {
        guard let url = URL(string: urlString), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https",
            var host = url.host, !host.isEmpty
        else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host
    }

    enum Address: Equatable {
        case v4([UInt8])
        case v6([UInt8])

        var text: String {
            switch self {
            case .v4(let b): return b.map(String.init).joined(separator: ".")
            case .v6(let b):
                var storage = in6_addr()
                withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: b) }
                var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                guard inet_ntop(AF_INET6, &storage, &buffer, socklen_t(buffer.count)) != nil else { return "::" }
                return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
        }
    }

    func refusal(forAddress address: Address) -> String? {
        switch address {
        case .v4(let b):
            let text = address.text
            if b[0] == 127 { return allowLoopback ? nil : "a loopback address (\(text))" }
            // 0/8 "this network", 224/4 multicast, 240/4 reserved and broadcast, 198.18/15
            // benchmarking, the documentation nets and 192.0.0/24 protocol assignments.
            let isReserved =
                b[0] == 0 || b[0] >= 224 || (b[0] == 198 && (b[1] & 0xFE) == 18)
                || (b[0] == 192 && b[1] == 0 && (b[2] == 0 || b[2] == 2))
                || (b[0] == 198 && b[1] == 51 && b[2] == 100) || (b[0] == 203 && b[1] == 0 && b[2] == 113)
            if isReserved { return "a reserved or multicast address (\(text))" }
            if b[0] == 169 && b[1] == 254 { return allowPrivate ? nil : "a link-local or metadata address (\(text))" }
            // RFC 1918 and 100.64/10 carrier-grade NAT.
            let isPrivate =
                b[0] == 10 || (b[0] == 172 && (16...31).contains(b[1])) || (b[0] == 192 && b[1] == 168)
                || (b[0] == 100 && (64...127).contains(b[1]))
            if isPrivate { return allowPrivate ? nil : "a private address (\(text))" }
            return nil
        case .v6(let b):
            let text = address.text
            if b[0..<15].allSatisfy({ $0 == 0 }) {
                if b[15] == 1 { return allowLoopback ? nil : "a loopback address (::1)" }
                if b[15] == 0 { return "the unspecified address (::)" }
            }
            // Forms that carry an IPv4 address: the embedded one decides (and the deprecated
            // IPv4-compatible form is refused even for a public one).
            if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF {
                return refusal(forAddress: .v4(Array(b[12..<16])))  // ::ffff:a.b.c.d, IPv4-mapped
            }
            if b[0..<12].allSatisfy({ $0 == 0 }) {
                return refusal(forAddress: .v4(Array(b[12..<16])))
                    ?? "a deprecated IPv4-compatible address (\(text))"
            }
            if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B {
                if b[4..<12].allSatisfy({ $0 == 0 }) { return refusal(forAddress: .v4(Array(b[12..<16]))) }  // NAT64
                return allowPrivate ? nil : "a local-use NAT64 address (\(text))"  // 64:ff9b:1::/48
            }
            if b[0] == 0x20 && b[1] == 0x02 { return refusal(forAddress: .v4(Array(b[2..<6]))) }  // 6to4
            if b[0] == 0xFF { return "a multicast address (\(text))" }
            if b[0] == 0x01 && b[1] == 0x00 && b[2..<8].allSatisfy({ $0 == 0 }) {
                return "a discard-only address (\(text))"  // 100::/64
            }
            if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8 {
                return "a documentation address (\(text))"  // 2001:db8::/32
            }
            if b[0] == 0xFE && (b[1] & 0xC0) == 0x80 { return allowPrivate ? nil : "a link-local address (\(text))" }
            if b[0] == 0xFE && (b[1] & 0xC0) == 0xC0 { return allowPrivate ? nil : "a site-local address (\(text))" }
            if (b[0] & 0xFE) == 0xFC { return allowPrivate ? nil : "a unique-local (private) address (\(text))" }
            return nil
        }
    }

    /// The address a host names without DNS: dotted, integer, octal and hex IPv4 forms
    /// (`2130706433`, `0x7f.1`) as the C resolver reads them, and IPv6.
    static func numericAddress(_ host: String) -> Address? {
        lookup(host, flags: AI_NUMERICHOST).first
    }

    /// Every address the host resolves to (numeric forms included), empty when none.
    static func resolve(_ host: String) -> [Address] { lookup(host, flags: 0) }

    private static func lookup(_ host: String, flags: Int32) -> [Address] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_flags = flags
        #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = SOCK_STREAM
        #endif
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [Address] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let sa = info.pointee.ai_addr {
                if info.pointee.ai_family == AF_INET {
                    var v4 = sockaddr_in()
                    memcpy(&v4, sa, MemoryLayout<sockaddr_in>.size)
                    let raw = withUnsafeBytes(of: v4.sin_addr) { Array($0) }
                    addresses.append(.v4(raw))
                } else if info.pointee.ai_family == AF_INET6 {
                    var v6 = sockaddr_in6()
                    memcpy(&v6, sa, MemoryLayout<sockaddr_in6>.size)
                    let raw = withUnsafeBytes(of: v6.sin6_addr) { Array($0) }
                    addresses.append(.v6(raw))
                }
            }
            cursor = info.pointee.ai_next
        }
        return addresses
    }
}
