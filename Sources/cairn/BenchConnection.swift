import CairnCore
import CairnStore
import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal HTTP/1.1 keep-alive connection for the benchmark: one request at a time, no
/// pooling, redirects or TLS, so the figures measure the server rather than the client.
final class BenchConnection: @unchecked Sendable {
    private let channel: any NIOCore.Channel
    private let handler: ResponseHandler
    private let host: String
    private let authorization: String?

    struct Failure: Error, CustomStringConvertible { let description: String }

    static func connect(host: String, port: Int, apiKey: String?) async throws -> BenchConnection {
        let handler = ResponseHandler()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: host, port: port).get()
        return BenchConnection(channel: channel, handler: handler, host: "\(host):\(port)", apiKey: apiKey)
    }

    private init(channel: any NIOCore.Channel, handler: ResponseHandler, host: String, apiKey: String?) {
        self.channel = channel
        self.handler = handler
        self.host = host
        self.authorization = apiKey.map { "Bearer \($0)" }
    }

    /// Runs `body` with this connection's event loop as the task's executor, so each request is
    /// written and each response resumes the task without waking another thread: the client's
    /// own thread hops stay out of the latencies it measures.
    func onItsLoop<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(EventLoopExecutor(channel.eventLoop), operation: body)
    }

    /// POSTs JSON, expects 200 (or 201, for a creation) and returns the parsed body.
    func post(_ path: String, _ body: String) async throws -> JSONValue {
        let (status, bytes) = try await send(.POST, path, body)
        guard status == .ok || status == .created else {
            throw Failure(description: "\(path): \(status) \(String(buffer: bytes))")
        }
        return try JSONParser.parse(bytes: Array(bytes.readableBytesView))
    }

    /// Sends one request (with a JSON body, if any) and returns the status and raw body.
    func send(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws
        -> (HTTPResponseStatus, ByteBuffer)
    {
        var headers = HTTPHeaders()
        headers.add(name: "host", value: host)
        if let body {
            headers.add(name: "content-type", value: "application/json")
            headers.add(name: "content-length", value: String(body.utf8.count))
        }
        if let authorization { headers.add(name: "authorization", value: authorization) }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)
        let promise = channel.eventLoop.makePromise(of: (HTTPResponseStatus, ByteBuffer).self)
        let handler = self.handler
        let channel = self.channel
        let write: @Sendable () -> Void = {
            handler.pending.append(promise)
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            if let body {
                channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil)
            }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        if channel.eventLoop.inEventLoop { write() } else { channel.eventLoop.execute(write) }
        return try await promise.futureResult.get()
    }

    func close() async { try? await channel.close() }

    /// Collects each response and completes the oldest waiting request with it.
    final class ResponseHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPClientResponsePart
        var pending: [EventLoopPromise<(HTTPResponseStatus, ByteBuffer)>] = []
        private var status: HTTPResponseStatus = .ok
        private var body = ByteBuffer()

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                status = head.status
                body.clear()
            case .body(var part):
                body.writeBuffer(&part)
            case .end:
                if !pending.isEmpty { pending.removeFirst().succeed((status, body)) }
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            for p in pending { p.fail(error) }
            pending.removeAll()
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            for p in pending { p.fail(Failure(description: "connection closed")) }
            pending.removeAll()
        }
    }
}
