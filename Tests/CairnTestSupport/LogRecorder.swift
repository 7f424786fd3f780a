import Logging
import Synchronization

/// Keeps the messages logged at notice level or above.
public final class LogRecorder: LogHandler, Sendable {
    public init() {}

    private let recorded = Mutex<[String]>([])
    public var messages: [String] { recorded.withLock { $0 } }

    public var logLevel: Logger.Level {
        get { .notice }
        set {}
    }
    public var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    public subscript(metadataKey _: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    public func log(event: LogEvent) {
        recorded.withLock { $0.append(event.message.description) }
    }
}
