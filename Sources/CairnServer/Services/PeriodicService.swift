import ServiceLifecycle

/// A background service that runs `pass` at start-up, then again after each pause of `interval`
/// or as soon as `wakeups` yields. Graceful shutdown ends the pause at once; a pass in progress
/// finishes first.
struct PeriodicService: Service {
    let interval: Duration
    var wakeups: AsyncStream<Void>?
    let pass: @Sendable () async -> Void

    init(interval: Duration, wakeups: AsyncStream<Void>? = nil, pass: @escaping @Sendable () async -> Void) {
        self.interval = interval
        self.wakeups = wakeups
        self.pass = pass
    }

    func run() async {
        let (ticks, tick) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let forward = wakeups.map { wakeups in Task { for await _ in wakeups { tick.yield() } } }
        defer { forward?.cancel() }
        tick.yield()
        await withGracefulShutdownHandler {
            var pause: Task<Void, Never>?
            for await _ in ticks {
                pause?.cancel()
                if Task.isShuttingDownGracefully { break }
                await pass()
                pause = Task { [interval] in
                    if (try? await Task.sleep(for: interval)) != nil { tick.yield() }
                }
            }
            pause?.cancel()
        } onGracefulShutdown: {
            tick.finish()
        }
    }
}
