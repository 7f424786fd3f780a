import ArgumentParser
import AsyncHTTPClient
import CairnCore
import Foundation
import NIOCore
import NIOHTTP1

/// Where a client command finds the server: `--url`/`--api-key`, else `CAIRN_URL`/`CAIRN_API_KEY`.
struct ServerOptions: ParsableArguments {
    @Option(help: "Server URL (CAIRN_URL; default http://127.0.0.1:7373).") var url: String?
    @Option(name: .customLong("api-key"), help: "Bearer key (CAIRN_API_KEY).") var apiKey: String?

    var resolvedURL: String {
        let raw = url ?? ProcessInfo.processInfo.environment["CAIRN_URL"].flatMap { $0.isEmpty ? nil : $0 }
        var base = raw ?? "http://127.0.0.1:7373"
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    var resolvedAPIKey: String? {
        apiKey ?? ProcessInfo.processInfo.environment["CAIRN_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
    }

    var client: APIClient { APIClient(baseURL: resolvedURL, apiKey: resolvedAPIKey) }
}

/// A failure a person can act on, printed as it is (no Swift type names, no error dumps).
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// JSON over HTTP to a Cairn server, for the client commands. Every failure becomes a
/// `CLIError` that names the URL and says what to do.
struct APIClient: Sendable {
    let baseURL: String
    let apiKey: String?

    static let http = HTTPClient(
        eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

    /// Escapes one path segment (ids may hold `/` or spaces).
    static func segment(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#")))
            ?? s
    }

    static func query(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+#")))
            ?? s
    }

    func get(_ path: String) async throws -> JSONValue { try await call(.GET, path, body: nil) }

    func post(_ path: String, _ body: JSONValue = .object(JSONObject())) async throws -> JSONValue {
        try await call(.POST, path, body: body)
    }

    func call(_ method: HTTPMethod, _ path: String, body: JSONValue?) async throws -> JSONValue {
        let response = try await send(method, path, body: body, timeout: .seconds(60))
        let bytes: ByteBuffer
        do {
            bytes = try await response.body.collect(upTo: 256 * 1024 * 1024)
        } catch {
            throw CLIError("\(baseURL + path): the response was cut off (\(Self.describe(error)))")
        }
        let parsed = try? JSONParser.parse(bytes: Array(bytes.readableBytesView))
        guard (200..<300).contains(response.status.code) else {
            throw refusal(status: Int(response.status.code), path: path, body: parsed, raw: String(buffer: bytes))
        }
        guard let parsed else { throw CLIError("\(baseURL + path): the server's answer is not JSON") }
        return parsed
    }

    /// Sends a request; failures to connect become a `CLIError`.
    func send(_ method: HTTPMethod, _ path: String, body: JSONValue?, timeout: TimeAmount?) async throws
        -> HTTPClientResponse
    {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let apiKey { request.headers.add(name: "authorization", value: "Bearer \(apiKey)") }
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body.jsonText))
        }
        do {
            if let timeout { return try await Self.http.execute(request, timeout: timeout) }
            return try await Self.http.execute(request, deadline: .distantFuture)
        } catch {
            throw CLIError(
                "cannot reach \(baseURL): \(Self.describe(error)) (is `cairn serve` running there? --url or CAIRN_URL picks the server)"
            )
        }
    }

    /// The sentence for a refusal, with the server's own message when it sent one.
    func refusal(status: Int, path: String, body: JSONValue?, raw: String) -> CLIError {
        let where_ =
            "\(status) from \(baseURL + (path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path))"
        let message = Self.serverMessage(body) ?? (raw.isEmpty ? nil : String(raw.prefix(300)))
        switch status {
        case 401 where apiKey == nil:
            return CLIError("\(where_): this server needs an API key (--api-key or CAIRN_API_KEY)")
        case 401:
            return CLIError("\(where_): the server does not accept this API key (revoked, or for another server)")
        case 403:
            return CLIError("\(where_): \(message ?? "this key lacks the scope for this operation")")
        default:
            return CLIError("\(where_)" + (message.map { ": \($0)" } ?? ""))
        }
    }

    /// The message in either protocol's error shape: `{"error":"..."}` or `{"error":{"message":...}}`.
    static func serverMessage(_ body: JSONValue?) -> String? {
        guard let error = body?["error"] else { return nil }
        if let text = error.stringValue { return text }
        return error["message"]?.stringValue
    }

    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        if text.contains("connectTimeout") { return "connection timed out" }
        if text.contains("deadlineExceeded") || text.contains("readTimeout") { return "no answer in time" }
        if text.contains("remoteConnectionClosed") { return "the server closed the connection" }
        if text.contains("invalidURL") || text.contains("emptyHost") || text.contains("emptyScheme") {
            return "not a valid http(s) URL"
        }
        if let e = error as? HTTPClientError { return e.description }
        return text
    }
}

/// Prints rows as aligned columns (two spaces apart), the first row being the header.
func printTable(_ rows: [[String]]) {
    guard let width = rows.map(\.count).max(), width > 0 else { return }
    var widths = [Int](repeating: 0, count: width)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    for row in rows {
        var line = ""
        for (i, cell) in row.enumerated() {
            line += i == row.count - 1 ? cell : cell.padding(toLength: widths[i] + 2, withPad: " ", startingAt: 0)
        }
        print(line)
    }
}

extension JSONValue {
    /// A field as a table cell: strings as they are, null or absent as `-`, others as JSON.
    func cell(_ key: String) -> String {
        guard let v = self[key], !v.isNull else { return "-" }
        return v.stringValue ?? v.jsonText
    }
}

/// Prints a paged listing: JSON lines, or a table under `header`; follows `cursorKey` through
/// every page with `all`, else says on standard error how to ask for the next page.
func printPagedListing(
    _ client: APIClient, path: String, query: [String], itemsKey: String, cursorKey: String, from cursor: String?,
    all: Bool, json: Bool, empty: String, header: [String], row: (JSONValue) -> [String]
) async throws {
    var cursor = cursor
    var rows = [header]
    repeat {
        let page = query + (cursor.map { ["cursor=" + APIClient.query($0)] } ?? [])
        let reply = try await client.get(path + "?" + page.joined(separator: "&"))
        for item in reply[itemsKey]?.arrayValue ?? [] {
            if json { print(item.jsonText) } else { rows.append(row(item)) }
        }
        cursor = reply[cursorKey]?.stringValue
    } while all && cursor != nil
    if !json {
        if rows.count == 1 {
            FileHandle.standardError.write(Data("\(empty)\n".utf8))
        } else {
            printTable(rows)
        }
    }
    if !all, let cursor { FileHandle.standardError.write(Data("more: --cursor \(cursor)\n".utf8)) }
}
