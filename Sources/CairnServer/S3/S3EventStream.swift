import CairnCore
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /{bucket}?notification-events[&after=N]`: the bucket's change events (the ones its
/// notifications record) as server-sent events, for agents that cannot receive web hooks. Each
/// event is `id: N` and `data: <the event JSON>`; numbers run from 1 per bucket without gaps,
/// so a client resumes with `Last-Event-ID` (or `after`). Stored events are replayed first, then
/// new ones arrive as they commit: woken by commits on this replica, and found by a poll every
/// second for commits on others.
extension S3Listener {
    static let eventPollInterval = Duration.seconds(1)
    /// Polls between keepalive comments (a gone client is noticed when one fails to send).
    static let keepaliveEvery = 15
    /// Polls between checks that the stream's key is still valid.
    static let keyCheckEvery = 5

    func notificationEvents(_ name: String, _ x: S3Exchange) async throws -> Response {
        var after: Int64 = 0
        let given = x.call["after"] ?? x.header("last-event-id")
        if let given {
            guard let n = Int64(S3Text.trimmed(given)), n >= 0 else {
                throw S3Error.invalidArgument("after (or Last-Event-ID) must be a non-negative integer.")
            }
            after = n
        }
        let bucket = try await workspaces.bucket(tenant: x.tenant, name: name)
        let workspaces = self.workspaces
        let keys = self.keys
        let accessKeyId = x.auth.accessKeyId
        let tenant = x.tenant
        let start = after
        let subscription = workspaces.changes.subscribe(bucketId: bucket.id)
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                let timer = Task {
                    while (try? await Task.sleep(for: Self.eventPollInterval)) != nil { subscription.wake() }
                }
                defer { timer.cancel() }
                var last = start
                var polls = 0
                // Once at the start, then after each wake-up: everything stored after `last`.
                subscription.wake()
                stream: for await _ in subscription.wakeups {
                    while true {
                        let page: [WorkspaceEvent]
                        do {
                            page = try await workspaces.events(of: bucket, after: last, limit: 500)
                        } catch let error as S3Error where error.code == "NoSuchBucket" {
                            return try await writer.finish(nil)
                        }
                        for event in page {
                            try await writer.write(ByteBuffer(string: "id: \(event.seq)\ndata: \(event.payload)\n\n"))
                            last = event.seq
                        }
                        if page.count < 500 { break }
                    }
                    polls += 1
                    if polls % Self.keyCheckEvery == 0 {
                        // A revoked key ends the stream (a failed lookup is tried again later).
                        do {
                            guard let key = try await keys(accessKeyId), key.tenant == tenant else { break stream }
                        } catch {}
                    }
                    if polls % Self.keepaliveEvery == 0 {
                        try await writer.write(ByteBuffer(string: ": keepalive\n\n"))
                    }
                }
                try await writer.finish(nil)
            })
    }
}
