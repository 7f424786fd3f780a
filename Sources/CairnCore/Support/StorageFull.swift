#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A write refused because the disk (or the data directory owner's quota) is full. Nothing of
/// the write was kept; it can be retried once space is freed.
public struct StorageFullError: Error, CustomStringConvertible, Sendable {
    /// Which operation ran out of space (for logs, never sent to clients).
    public let detail: String
    public init(_ detail: String) { self.detail = detail }
    public var description: String { "storage full: \(detail)" }

    /// Whether a C `errno` means no space is left: `ENOSPC`, or `EDQUOT` (quota exhausted).
    public static func isNoSpace(_ code: Int32) -> Bool { code == ENOSPC || code == EDQUOT }
}
