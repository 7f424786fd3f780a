/// Who may call the API, as start-up reports it: what is true, given whether the server is
/// still open (no configured key, no API key ever created).
extension ServerConfiguration {
    public func accessSummary(open: Bool) -> String {
        if apiKey != nil { return "requires the configured key or an API key" }
        return open ? "open until the first API key is created" : "requires an API key (keys exist in the store)"
    }

    /// The warning an open server on a non-loopback address logs at start-up, if any.
    public func openAccessWarning(open: Bool) -> String? {
        guard open, !Self.isLoopback(host) else { return nil }
        return """
            listening on \(host):\(port) without an API key: anyone who can reach this address has full access \
            (every run, checkpoint and artifact, and key management) until the first API key is created
            """
    }
}
