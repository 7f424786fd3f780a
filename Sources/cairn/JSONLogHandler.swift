import CairnCore
import Foundation
import Logging

/// `--log-format json`: one JSON object per line on standard error, for log shippers.
/// `{"time","level","label","message", …metadata}`; metadata values are strings.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let level = event.level, message = event.message, explicit = event.metadata
        var fields: [(String, JSONValue)] = [
            ("time", .string(Timestamp.now().iso8601)), ("level", .string(level.rawValue)), ("label", .string(label)),
            ("message", .string(message.description)),
        ]
        let merged = metadata.merging(explicit ?? [:]) { $1 }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) { fields.append((key, .string("\(value)"))) }
        let line = JSONValue.object(JSONObject(fields)).jsonText + "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
