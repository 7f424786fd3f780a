import Foundation

/// Splits a `text/event-stream` body into events (`id`, `data`, and the `event` name when the
/// stream names its events); comments and other fields are skipped. Lines are bounded so a
/// peer cannot grow the buffer without end.
struct ServerSentEventParser {
    struct Event: Sendable {
        var id: String?
        var data: String
        /// The `event:` field: the event's type, nil for the default (`message`).
        var event: String? = nil
    }

    static let maxLineBytes = 1 << 20

    struct LineTooLong: Error, CustomStringConvertible {
        var description: String { "an event stream line longer than \(ServerSentEventParser.maxLineBytes) bytes" }
    }
    private var line: [UInt8] = []
    private var id: String?
    private var event: String?
    private var data: [String] = []

    mutating func feed(_ bytes: some Sequence<UInt8>) throws -> [Event] {
        var events: [Event] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                if line.isEmpty {
                    if !data.isEmpty {
                        events.append(Event(id: id, data: data.joined(separator: "\n"), event: event))
                    }
                    id = nil
                    event = nil
                    data = []
                } else {
                    let text = String(decoding: line, as: UTF8.self)
                    if text.hasPrefix("id:") {
                        id = text.dropFirst(3).trimmingCharacters(in: .whitespaces)
                    } else if text.hasPrefix("event:") {
                        event = text.dropFirst(6).trimmingCharacters(in: .whitespaces)
                    } else if text.hasPrefix("data:") {
                        let value = text.dropFirst(5)
                        data.append(String(value.hasPrefix(" ") ? value.dropFirst() : value))
                    }
                }
                line.removeAll(keepingCapacity: true)
            } else {
                guard line.count < Self.maxLineBytes else { throw LineTooLong() }
                line.append(byte)
            }
        }
        return events
    }
}
