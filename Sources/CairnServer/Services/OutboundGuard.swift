import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Decides whether the server may call a URL (webhooks, recovery and invoke calls): refuses
/// private, link-local (cloud metadata), unspecified and multicast addresses, and loopback
/// unless allowed, checking every address the host name resolves to.
struct OutboundGuard: Sendable {
    /// Allow private and link-local networks (trusted internal deployments).
    var allowPrivate = false
    /// Allow loopback; on by default only while the server itself listens on loopback.
    var allowLoopback = false

    /// Nil when the URL may be called, else why not.
    func refusal(for urlString: String) -> String? {
        guard let url = URL(string: urlString), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https",
            var host = url.host, !host.isEmpty
        else { return "not an absolute http(s) URL" }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let addresses = Self.resolve(host)
        if addresses.isEmpty { return "host \(host) does not resolve" }
        for address in addresses {
            if let reason = refusal(forAddress: address) { return "\(host) resolves to \(reason)" }
        }
        return nil
    }

    enum Address: Equatable {
        case v4([UInt8])
        case v6([UInt8])
    }

    func refusal(forAddress address: Address) -> String? {
        switch address {
        case .v4(let b):
            let text = b.map(String.init).joined(separator: ".")
            if b[0] == 127 { return allowLoopback ? nil : "a loopback address (\(text))" }
            if b[0] == 0 || b[0] >= 224 { return "a reserved address (\(text))" }
            let isPrivate =
                b[0] == 10 || (b[0] == 172 && (16...31).contains(b[1])) || (b[0] == 192 && b[1] == 168)
                || (b[0] == 100 && (64...127).contains(b[1])) || (b[0] == 192 && b[1] == 0 && b[2] == 0)
            if b[0] == 169 && b[1] == 254 { return allowPrivate ? nil : "a link-local or metadata address (\(text))" }
            if isPrivate { return allowPrivate ? nil : "a private address (\(text))" }
            return nil
        case .v6(let b):
            if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF {
                return refusal(forAddress: .v4(Array(b[12..<16])))  // IPv4-mapped
            }
            if b[0..<15].allSatisfy({ $0 == 0 }) {
                if b[15] == 1 { return allowLoopback ? nil : "a loopback address (::1)" }
                if b[15] == 0 { return "the unspecified address (::)" }
            }
            if b[0] == 0xFF { return "a multicast address" }
            if b[0] == 0xFE && (b[1] & 0xC0) == 0x80 { return allowPrivate ? nil : "a link-local address" }
            if (b[0] & 0xFE) == 0xFC { return allowPrivate ? nil : "a unique-local (private) address" }
            return nil
        }
    }

    static func resolve(_ host: String) -> [Address] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
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
