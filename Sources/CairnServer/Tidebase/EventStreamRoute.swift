import CairnCore
import Hummingbird
import NIOCore

extension TidebaseRoutes {
    /// `GET /runs/:id/events?after=N`: stored events after N, then live ones as they commit.
    /// The subscription is opened before the stored events are read, so nothing committed in
    /// between is missed; live events already replayed are skipped by sequence number.
    @Sendable func eventStream(_ request: Request, context: Context) async throws -> Response {
        let runId = try request.pathParameter("runId", context)
        var after: Int64 = 0
        if let raw = request.uri.queryParameters["after"] {
            guard let value = Int64(String(raw)), value >= 0 else {
                throw APIError(.badRequest, "after must be a non-negative integer")
            }
            after = value
        }
        let replayFrom = after
        let subscription = broker.subscribe(runId: runId)
        let runs = self.runs
        let tenant = context.principal.tenant
        // An unknown run (or another tenant's) is an open, empty stream, as the reference
        // server answers; its live events are never forwarded.
        let visible: Bool
        do {
            visible = try await runs.run(id: runId, tenant: tenant) != nil
        } catch {
            broker.unsubscribe(runId: runId, id: subscription.id)
            throw error
        }
        let keepaliveInterval = self.sseKeepalive
        let headers: HTTPFields = [
            .contentType: "text/event-stream", .cacheControl: "no-cache", .connection: "keep-alive",
        ]
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                defer { broker.unsubscribe(runId: runId, id: subscription.id) }
                var last = replayFrom
                // Replay what is stored, page by page.
                while true {
                    let page = try await runs.events(
                        runId: runId, after: last, limit: 500, tenant: tenant)
                    for event in page {
                        try await writer.write(Self.frame(event))
                        last = event.seq
                    }
                    if page.count < 500 { break }
                }
                // Then live events, with a comment line now and then so a gone client is noticed.
                let (items, continuation) = AsyncStream<StreamItem>.makeStream()
                let forward = Task {
                    for await event in subscription.events where visible { continuation.yield(.event(event)) }
                    continuation.finish()
                }
                let keepalive = Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: keepaliveInterval)
                        continuation.yield(.keepalive)
                    }
                }
                defer {
                    forward.cancel()
                    keepalive.cancel()
                }
                for await item in items {
                    switch item {
                    case .event(let event):
                        guard event.seq > last else { continue }
                        try await writer.write(Self.frame(event))
                        last = event.seq
                    case .keepalive:
                        try await writer.write(ByteBuffer(string: ": keepalive\n\n"))
                    }
                }
                try await writer.finish(nil)
            })
    }

    enum StreamItem: Sendable {
        case event(RunEvent)
        case keepalive
    }

    /// `data: <event JSON>\nid: <seq>\n\n`, exactly as the reference server frames it.
    static func frame(_ event: RunEvent) -> ByteBuffer {
        var w = JSONWriter(capacity: 256)
        w.event(event)
        var buffer = ByteBufferAllocator().buffer(capacity: w.bytes.count + 32)
        buffer.writeString("data: ")
        buffer.writeBytes(w.bytes)
        buffer.writeString("\nid: \(event.seq)\n\n")
        return buffer
    }
}
