import Foundation
import Synchronization

/// A task executor backed by one dedicated thread. The store's writer runs its transactions
/// here, so the fsync of a commit blocks this thread rather than one of the few threads of
/// Swift's cooperative pool that serve HTTP requests.
final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let jobs = Mutex<[UnownedJob]>([])
    private let wakeup = NSCondition()
    private let stopped = Mutex(false)

    /// Starts the thread; it keeps the executor alive until `stop()`.
    init(name: String) {
        let thread = Thread { self.loop() }
        thread.name = name
        thread.start()
    }

    /// Lets the thread exit once the jobs already queued have run.
    func stop() {
        stopped.withLock { $0 = true }
        wakeup.lock()
        wakeup.signal()
        wakeup.unlock()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        jobs.withLock { $0.append(unowned) }
        wakeup.lock()
        wakeup.signal()
        wakeup.unlock()
    }

    private func loop() {
        while true {
            wakeup.lock()
            var batch = jobs.withLock { j -> [UnownedJob] in
                let b = j
                j.removeAll(keepingCapacity: true)
                return b
            }
            while batch.isEmpty {
                if stopped.withLock({ $0 }) {
                    wakeup.unlock()
                    return
                }
                wakeup.wait()
                batch = jobs.withLock { j -> [UnownedJob] in
                    let b = j
                    j.removeAll(keepingCapacity: true)
                    return b
                }
            }
            wakeup.unlock()
            for job in batch { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
        }
    }
}
