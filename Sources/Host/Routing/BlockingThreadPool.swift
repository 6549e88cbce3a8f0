import Foundation

/// A fixed set of threads for work that blocks (database round trips, waiting for a
/// conversation's advisory lock). libdispatch on Linux cannot see a blocked thread and
/// keeps its pools about as wide as the core count, so blocking store calls on a dispatch
/// queue would serialise the router; these threads may all block at once.
///
/// Threading: `async` is thread-safe; jobs run FIFO on any of the pool's threads.
/// Unchecked Sendable: `jobs`, `head` and `stopping` only under `cond`.
final class BlockingThreadPool: @unchecked Sendable {
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private let cond = NSCondition()
    private var stopping = false

    /// Set (to this pool) on the pool's own threads: lets a caller tell whether it may block here.
    private let memberKey: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    init(name: String, threads: Int) {
        for i in 0..<max(1, threads) {
            let t = Thread { [self] in loop() }
            t.name = "\(name)-\(i)"
            t.stackSize = 1 << 20
            t.start()
        }
    }

    func async(_ job: @escaping @Sendable () -> Void) {
        cond.lock()
        jobs.append(job)
        cond.unlock()
        // After the unlock: a thread woken while the lock is still held would wake only to
        // wait for the lock (a second sleep and wake-up). No wake-up is lost: a waiter checks
        // the queue under the lock before it sleeps.
        cond.signal()
    }

    /// Lets the threads finish the queued jobs and exit.
    func shutdown() {
        cond.lock(); stopping = true; cond.broadcast(); cond.unlock()
    }

    /// True on one of this pool's threads (where blocking work may run at once instead of
    /// hopping through `async`).
    var isCurrentThread: Bool { pthread_getspecific(memberKey) == Unmanaged.passUnretained(self).toOpaque() }

    private func loop() {
        pthread_setspecific(memberKey, Unmanaged.passUnretained(self).toOpaque())
        while true {
            cond.lock()
            while head == jobs.count && !stopping { cond.wait() }
            if head == jobs.count { cond.unlock(); return }
            let job = jobs[head]
            head += 1
            if head > 1024 && head * 2 > jobs.count { jobs.removeFirst(head); head = 0 }
            cond.unlock()
            job()
        }
    }
}
