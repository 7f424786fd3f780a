import CairnCore
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

extension TidebaseRoutes {
    /// `GET /runs/:id/events?after=N`: stored events after N, then live ones as they commit. A
    /// reconnecting EventSource sends `Last-Event-ID` instead, which counts when `after` is absent.
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
        } else if let raw = request.headers[HTTPField.Name("last-event-id")!] {
            guard let value = Int64(raw), value >= 0 else {
                throw APIError(.badRequest, "Last-Event-ID must be a non-negative integer")
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
        let keyCheckInterval = self.sseKeyCheck
        let keyStillValid = Self.keyCheck(request, context: context, keys: keys)
        let backlog = StreamBacklog(limit: sseBufferBytes)
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
                // A reader too far behind, or whose key is revoked, is disconnected: closing the
                // connection also ends a write blocked on a client that stopped reading.
                let connection = CurrentConnection.channel
                let (items, continuation) = AsyncStream<StreamItem>.makeStream()
                let forward = Task {
                    for await event in subscription.events where visible {
                        let frame = Self.frame(event)
                        guard backlog.add(frame.readableBytes) else {
                            continuation.finish()
                            connection?.close(promise: nil)
                            return
                        }
                        continuation.yield(.event(seq: event.seq, frame: frame))
                    }
                    continuation.finish()
                }
                let keepalive = Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: keepaliveInterval)
                        continuation.yield(.keepalive)
                    }
                }
                let keyWatch = keyStillValid.map { stillValid in
                    Task {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: keyCheckInterval)
                            if !Task.isCancelled, await !stillValid() {
                                continuation.finish()
                                connection?.close(promise: nil)
                                return
                            }
                        }
                    }
                }
                defer {
                    forward.cancel()
                    keepalive.cancel()
                    keyWatch?.cancel()
                }
                for await item in items {
                    switch item {
                    case .event(let seq, let frame):
                        defer { backlog.remove(frame.readableBytes) }
                        guard seq > last else { continue }
                        // Events committed through another replica may arrive later than a
                        // newer one committed here: the table has them all, so a gap is filled
                        // from it and the stream stays gap-free and in order.
                        while last + 1 < seq {
                            let missing = try await runs.events(
                                runId: runId, after: last, limit: Int(clamping: min(500, seq - last - 1)),
                                tenant: tenant)
                            if missing.isEmpty { break }
                            for event in missing where event.seq < seq {
                                try await writer.write(Self.frame(event))
                                last = event.seq
                            }
                        }
                        try await writer.write(frame)
                        last = seq
                    case .keepalive:
                        // A replica that missed another's notice (its listener reconnecting)
                        // still delivers those events, by the next keepalive at the latest.
                        if visible {
                            for event in try await runs.events(runId: runId, after: last, limit: 500, tenant: tenant) {
                                try await writer.write(Self.frame(event))
                                last = event.seq
                            }
                        }
                        try await writer.write(ByteBuffer(string: ": keepalive\n\n"))
                    }
                }
                if backlog.overflowed { throw CancellationError() }
                try await writer.finish(nil)
            })
    }

    enum StreamItem: Sendable {
        case event(seq: Int64, frame: ByteBuffer)
        case keepalive
    }

    /// For a stream opened with an API key that can be revoked, a check that the key is still
    /// valid (a failed lookup counts as valid: the next check tries again).
    static func keyCheck(_ request: Request, context: Context, keys: KeyService?) -> (@Sendable () async -> Bool)? {
        let principal = context.principal
        guard let keys, let keyId = principal.keyId, !principal.isRoot else { return nil }
        let token: String
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
            token = String(header.dropFirst(7))
        } else if let query = request.uri.queryParameters["token"] {
            token = String(query)
        } else {
            return nil
        }
        return {
            do { return try await keys.authenticate(secret: token)?.keyId == keyId } catch { return true }
        }
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

/// Bytes of frames queued for one event-stream reader and not yet written; past `limit` the
/// reader is too far behind (one frame is always allowed, however large).
final class StreamBacklog: Sendable {
    private let state = Mutex<(bytes: Int, frames: Int, overflowed: Bool)>((0, 0, false))
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Counts a frame in; false (and overflowed from then on) when it would pass the limit.
    func add(_ bytes: Int) -> Bool {
        state.withLock { s in
            if s.overflowed { return false }
            if s.frames > 0, s.bytes + bytes > limit {
                s.overflowed = true
                return false
            }
            s.bytes += bytes
            s.frames += 1
            return true
        }
    }

    func remove(_ bytes: Int) {
        state.withLock { s in
            s.bytes -= bytes
            s.frames -= 1
        }
    }

    var overflowed: Bool { state.withLock { $0.overflowed } }
}
