import Crypto

/// A streaming SHA-256 that yields lowercase hex, for modules that hash bytes as they pass.
public struct SHA256Hasher: Sendable {
    private var hasher = SHA256()

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }

    public mutating func update(_ bytes: [UInt8]) { hasher.update(data: bytes) }

    /// The digest as 64 lowercase hex characters.
    public func finalize() -> String { Array(hasher.finalize()).hexString }
}
