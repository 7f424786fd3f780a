import CairnCore
import Foundation
import Logging

/// Cairn's log lines, one per event on standard error, in either `--log-format`:
/// - `text`: `time level label: key=value … [source] message`;
/// - `json`: one object, `{"time","level","label","message", …metadata}`, metadata values as
///   strings, for log shippers.
///
/// Unlike swift-log's `StreamLogHandler`, it formats metadata only when a line is written:
/// Hummingbird gives every request's logger its own request id, and at the usual levels most
/// requests write no line at all.
struct CairnLogHandler: LogHandler {
    enum Format { case text, json }

    let label: String
    let format: Format
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        // The logger's metadata with the line's own on top, by key.
        let fields = metadata.merging(event.metadata ?? [:]) { $1 }.sorted { $0.key < $1.key }
        let time = Timestamp.now().iso8601
        let line: String
        switch format {
        case .text:
            var text = "\(time) \(event.level) \(label):"
            for (key, value) in fields { text += " \(key)=\(value)" }
            line = text + " [\(event.source)] \(event.message)\n"
        case .json:
            var members: [(String, JSONValue)] = [
                ("time", .string(time)), ("level", .string(event.level.rawValue)), ("label", .string(label)),
                ("message", .string(event.message.description)),
            ]
            for (key, value) in fields { members.append((key, .string("\(value)"))) }
            line = JSONValue.object(JSONObject(members)).jsonText + "\n"
        }
        FileHandle.standardError.write(Data(line.utf8))
    }
}
