import CairnStore
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// What a connection may cost the server: how long each phase may wait on the client, and how
/// many connections may be open at once.
public struct ConnectionLimits: Sendable {
    /// From a request's first byte until its head is complete.
    public var headerTimeout: Duration = .seconds(10)
    /// Between requests (or after accepting) with nothing sent by the client.
    public var idleTimeout: Duration = .seconds(60)
    /// A request body that sends nothing for this long, while the server waits for it, ends
    /// the request (408) and the connection.
    public var bodyTimeout: Duration = .seconds(30)
    /// Open connections at most. At the cap a new connection takes the place of the one idle
    /// the longest; with none idle it is answered 503 and closed.
    public var maxConnections: Int = 1_000
    /// The largest request body any route accepts: a longer `Content-Length` is refused with
    /// 413 before a byte of the body is read.
    public var maxRequestBodyBytes: Int64 = .max

    public init() {}

    /// How often a connection looks at its deadlines: often enough to end a phase soon after
    /// its limit, rarely enough to cost nothing.
    var tick: Duration {
        let shortest = min(headerTimeout, idleTimeout, bodyTimeout)
        return max(.milliseconds(10), min(.seconds(1), shortest / 4))
    }
}

/// Every open connection of a listener, and whether each is idle (between requests): the cap
/// evicts idle connections first, and the end of the shutdown grace period closes them all.
///
/// A connection is admitted when the listener accepts it (`AcceptedConnectionsHandler`), in the
/// order the kernel handed them over. Its pipeline is set up later on one of several event
/// loops, in no fixed order: admitting there let a connection that arrived after a burst of
/// idle ones be taken, before its first request was read, for the idlest of them.
public final class ConnectionRegistry: Sendable {
    private struct Entry {
        let channel: any Channel
        var idleSince: ContinuousClock.Instant?
    }

    private struct State {
        var entries: [Int: Entry] = [:]
        var nextID = 0
        var closed = false
        /// Decided on accepting, not yet taken by the connection's pipeline set-up.
        var admissions: [ObjectIdentifier: Admission] = [:]
    }

    private let state = Mutex(State())
    let maxConnections: Int

    public init(maxConnections: Int) { self.maxConnections = maxConnections }

    enum Admission {
        case admitted(id: Int)
        case refused
    }

    /// Decides `channel`'s admission as it is accepted; its set-up takes the decision later.
    func accept(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        let admission = admit(channel)
        state.withLock { $0.admissions[key] = admission }
        // A closed connection leaves nothing behind, whether or not its set-up came (it may
        // be evicted first, or its registration or set-up may fail).
        channel.closeFuture.whenComplete { _ in
            _ = self.state.withLock { $0.admissions.removeValue(forKey: key) }
            if case .admitted(let id) = admission { self.remove(id) }
        }
    }

    /// The admission decided when `channel` was accepted, or, for one accepted before the
    /// listener counted them, decided now.
    func admission(of channel: any Channel) -> Admission {
        state.withLock { $0.admissions.removeValue(forKey: ObjectIdentifier(channel)) } ?? admit(channel)
    }

    /// Admits `channel` if there is room, making room by closing the connection idle the longest.
    private func admit(_ channel: any Channel) -> Admission {
        let (admission, evicted): (Admission, (any Channel)?) = state.withLock { s in
            if s.closed { return (.refused, nil) }
            var evicted: (any Channel)?
            if s.entries.count >= maxConnections {
                let oldestIdle = s.entries.compactMap { id, e in e.idleSince.map { (id, $0) } }.min { $0.1 < $1.1 }
                guard let (victim, _) = oldestIdle else { return (.refused, nil) }
                evicted = s.entries.removeValue(forKey: victim)?.channel
            }
            s.nextID += 1
            s.entries[s.nextID] = Entry(channel: channel, idleSince: .now)
            return (.admitted(id: s.nextID), evicted)
        }
        evicted?.close(promise: nil)
        return admission
    }

    func setIdle(_ id: Int, _ idle: Bool) {
        state.withLock { s in s.entries[id]?.idleSince = idle ? .now : nil }
    }

    func remove(_ id: Int) {
        _ = state.withLock { s in s.entries.removeValue(forKey: id) }
    }

    public var count: Int { state.withLock { $0.entries.count } }

    /// Closes every connection, whatever it is doing, and admits no more (end of the grace period).
    public func closeAll() {
        let channels = state.withLock { s in
            s.closed = true
            defer { s.entries = [:] }
            return s.entries.values.map(\.channel)
        }
        for channel in channels { channel.close(promise: nil) }
    }
}

/// Sent down a connection's pipeline (from any thread) when a handler starts reading a body
/// whose request asked `Expect: 100-continue`.
struct SendContinueEvent: Sendable {}

/// Enforces a connection's deadlines, answers `Expect: 100-continue`, refuses connections over
/// the cap, and keeps the registry told whether the connection is idle. Sits after the HTTP
/// codec; it sees every read (`channelReadComplete` passes the decoder even for a partial head).
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    enum Phase {
        /// Waiting for a request; nothing of it read yet.
        case idle
        /// Part of a head read.
        case head
        /// Head read, body not complete.
        case body
        /// Request read, response not complete: the handler's time, no deadline.
        case responding
    }

    let limits: ConnectionLimits
    let registry: ConnectionRegistry
    /// nil when the connection is over the cap: its first request is answered 503.
    let id: Int?
    let logger: Logger
    var phase = Phase.idle
    /// When the current phase began, or the body last made progress.
    var since = NIODeadline.now()
    /// A read is requested from the socket and not yet answered: only then is the client
    /// keeping the server waiting (otherwise the handler is applying back-pressure).
    var readPending = false
    var responseStarted = false
    /// Requests whose head was read and whose response has not ended (more than one when pipelined).
    var inFlight = 0
    /// This handler answered the request itself and is closing the connection: the handler's
    /// own response, if it comes, is dropped.
    var refused = false
    /// The request asked for `100 Continue` and has been sent neither it nor a final status.
    var awaitingContinue = false
    var closeAfterResponse = false
    var timer: Scheduled<Void>?

    init(limits: ConnectionLimits, registry: ConnectionRegistry, id: Int?, logger: Logger) {
        self.limits = limits
        self.registry = registry
        self.id = id
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        since = .now()
        scheduleCheck(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if let id { registry.remove(id) }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        guard let id else {
            // Over the cap: the request is read (so closing does not reset the connection
            // before the client sees the answer) and refused.
            if case .head = part { refuse(context, status: .serviceUnavailable, "too many open connections") }
            return
        }
        switch part {
        case .head(let head):
            if phase == .idle { registry.setIdle(id, false) }
            phase = .body
            since = .now()
            responseStarted = false
            inFlight += 1
            awaitingContinue = head.headerFields[.expect]?.lowercased() == "100-continue"
            if let length = head.headerFields[.contentLength].flatMap({ Int64($0) }),
                length > limits.maxRequestBodyBytes
            {
                refuse(context, status: .contentTooLarge, "request body too large")
                return
            }
        case .body:
            since = .now()
        case .end:
            awaitingContinue = false
            if inFlight == 0 { becomeIdle() } else { phase = .responding }
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        readPending = false
        if phase == .idle, id != nil {
            phase = .head
            since = .now()
            if let id { registry.setIdle(id, false) }
        }
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if !readPending {
            readPending = true
            // Time spent while the handler was not asking for the body is not the client's.
            if phase == .body { since = .now() }
        }
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if refused {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.kind != .informational:
            responseStarted = true
            if awaitingContinue {
                // Answered before the body was asked for: the client may never send it, so
                // the connection cannot carry another request.
                awaitingContinue = false
                closeAfterResponse = true
                head.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(head)), promise: promise)
                return
            }
        case .end:
            inFlight -= 1
            if closeAfterResponse {
                context.writeAndFlush(data, promise: promise)
                context.close(promise: nil)
                return
            }
            if phase == .responding, inFlight == 0 { becomeIdle() }
        default:
            break
        }
        context.write(data, promise: promise)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is SendContinueEvent else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        if awaitingContinue, !responseStarted {
            awaitingContinue = false
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        promise?.succeed()
    }

    private func becomeIdle() {
        phase = .idle
        since = .now()
        if let id { registry.setIdle(id, true) }
    }

    private func scheduleCheck(_ context: ChannelHandlerContext) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(limits.tick)) {
            self.timer = nil
            self.checkDeadlines(context)
        }
    }

    private func checkDeadlines(_ context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        let waited = NIODeadline.now() - since
        switch phase {
        case .idle where id == nil && waited >= TimeAmount(limits.headerTimeout):
            context.close(promise: nil)
            return
        case .idle where waited >= TimeAmount(limits.idleTimeout):
            logger.debug("closing idle connection")
            context.close(promise: nil)
            return
        case .head where waited >= TimeAmount(limits.headerTimeout):
            logger.debug("request head timed out")
            refuse(context, status: .requestTimeout, "request head not received in time")
            return
        case .body where readPending && waited >= TimeAmount(limits.bodyTimeout):
            logger.debug("request body timed out")
            if responseStarted {
                context.close(promise: nil)
            } else {
                refuse(context, status: .requestTimeout, "request body stalled")
            }
            return
        default:
            break
        }
        scheduleCheck(context)
    }

    /// Answers `status` with `{"error": message}` and closes the connection.
    private func refuse(_ context: ChannelHandlerContext, status: HTTPResponse.Status, _ message: String) {
        timer?.cancel()
        timer = nil
        awaitingContinue = false
        refused = true
        var body = ByteBuffer()
        body.writeString(#"{"error":"\#(message)"}"#)
        let head = HTTPResponse(
            status: status,
            headerFields: [
                .connection: "close", .contentType: "application/json", .contentLength: "\(body.readableBytes)",
            ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

/// HTTP/1.1 with Cairn's connection rules: each connection is admitted through the registry
/// and guarded by a `ConnectionGuardHandler`; handlers can reach their connection through
/// `CurrentConnection`.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let http1: HTTP1Channel
    let limits: ConnectionLimits
    let registry: ConnectionRegistry

    init(responder: @escaping HTTPChannelHandler.Responder, limits: ConnectionLimits, registry: ConnectionRegistry) {
        self.limits = limits
        self.registry = registry
        http1 = HTTP1Channel(
            responder: { (request: Request, writer: consuming ResponseWriter, channel: any Channel) in
                var request = request
                if request.headers[.expect]?.lowercased() == "100-continue" {
                    request.body = RequestBody(asyncSequence: ContinueOnFirstRead(base: request.body, channel: channel))
                }
                var writer: ResponseWriter? = consume writer
                try await CurrentConnection.$channel.withValue(channel) {
                    try await responder(request, writer.take()!, channel)
                }
            })
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        http1.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let id: Int? =
                switch registry.admission(of: channel) {
                case .admitted(let id): id
                case .refused: nil
                }
            if id == nil { logger.notice("connection refused: too many open connections") }
            let handler = ConnectionGuardHandler(limits: limits, registry: registry, id: id, logger: logger)
            // After the codec, before Hummingbird's own connection state handler.
            let state = try channel.pipeline.syncOperations.handler(type: HTTPConnectionStateHandler.self)
            try channel.pipeline.syncOperations.addHandler(handler, position: .before(state))
            return value
        }
    }

    /// Runs the connection's requests on its own event loop: reading a request, the handler
    /// and writing its answer then need no thread hop (a store call that prefers its database
    /// connection's loop hops there and back).
    func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopExecutor(value.channel.eventLoop)) {
            await http1.handle(value: value, logger: logger)
        }
    }
}

/// First on a listener's server channel: admits each connection as it is accepted, in order.
final class AcceptedConnectionsHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    let registry: ConnectionRegistry

    init(registry: ConnectionRegistry) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        registry.accept(unwrapInboundIn(data))
        context.fireChannelRead(data)
    }

    /// For `Application(onServerRunning:)`: installs the handler on the running listener.
    static func install(_ registry: ConnectionRegistry) -> @Sendable (any Channel) async -> Void {
        { server in
            try? await server.pipeline.addHandler(AcceptedConnectionsHandler(registry: registry), position: .first)
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 under `limits`, with connections tracked in `registry`.
    static func guardedHTTP1(limits: ConnectionLimits, registry: ConnectionRegistry) -> HTTPServerBuilder {
        .init { responder in GuardedHTTP1Channel(responder: responder, limits: limits, registry: registry) }
    }
}

/// The connection the current request arrived on, for handlers of long-lived responses (event
/// streams) that must be able to end it while a write is blocked on a client that stopped reading.
enum CurrentConnection {
    @TaskLocal static var channel: (any Channel)?

    /// Closes the current request's connection, if it is known.
    static func close() { channel?.close(promise: nil) }
}

/// A request body that asks the connection to send `100 Continue` when it is first read, so a
/// request refused without reading its body (unauthorized, too large) never gets one.
struct ContinueOnFirstRead: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: RequestBody
    let channel: any Channel

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        let channel: any Channel
        var asked = false

        mutating func next() async throws -> ByteBuffer? {
            if !asked {
                asked = true
                channel.triggerUserOutboundEvent(SendContinueEvent(), promise: nil)
            }
            return try await base.next()
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), channel: channel) }
}
