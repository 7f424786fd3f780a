import CairnCore
import Foundation
import Logging

/// The default text format: `time level label: key=value … [source] message`, one line on
/// standard error. Unlike swift-log's `StreamLogHandler`, it formats metadata only when a line
/// is written: Hummingbird gives every request's logger its own request id, and at the usual
/// levels most requests write no line at all.
struct TextLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = "\(Timestamp.now().iso8601) \(event.level) \(label):"
        for (key, value) in sortedMetadata(metadata, event) { line += " \(key)=\(value)" }
        line += " [\(event.source)] \(event.message)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}

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
        var fields: [(String, JSONValue)] = [
            ("time", .string(Timestamp.now().iso8601)), ("level", .string(event.level.rawValue)),
            ("label", .string(label)), ("message", .string(event.message.description)),
        ]
        for (key, value) in sortedMetadata(metadata, event) { fields.append((key, .string("\(value)"))) }
        let line = JSONValue.object(JSONObject(fields)).jsonText + "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}

/// A logger's metadata with the line's own on top, by key.
private func sortedMetadata(
    _ base: Logger.Metadata, _ event: LogEvent
) -> [(key: String, value: Logger.Metadata.Value)] {
    base.merging(event.metadata ?? [:]) { $1 }.sorted { $0.key < $1.key }
}
