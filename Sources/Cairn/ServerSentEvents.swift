import Foundation

/// Splits a `text/event-stream` body into events (`id`, `data`); comments and other fields are
/// skipped. Lines are bounded so a peer cannot grow the buffer without end.
struct ServerSentEventParser {
    struct Event: Sendable {
        var id: String?
        var data: String
    }

    static let maxLineBytes = 1 << 20

    struct LineTooLong: Error, CustomStringConvertible {
        var description: String { "an event stream line longer than \(ServerSentEventParser.maxLineBytes) bytes" }
    }
    private var line: [UInt8] = []
    private var id: String?
    private var data: [String] = []

    mutating func feed(_ bytes: some Sequence<UInt8>) throws -> [Event] {
        var events: [Event] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                if line.isEmpty {
                    if !data.isEmpty { events.append(Event(id: id, data: data.joined(separator: "\n"))) }
                    id = nil
                    data = []
                } else {
                    let text = String(decoding: line, as: UTF8.self)
                    if text.hasPrefix("id:") {
                        id = text.dropFirst(3).trimmingCharacters(in: .whitespaces)
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
