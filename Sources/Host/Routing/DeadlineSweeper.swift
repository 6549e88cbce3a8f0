import Foundation

/// Runs actions at (or shortly after) their deadlines from one thread, in deadline order:
/// the router's inline reply budget without a dispatch timer per message.
///
/// A per-message `DispatchQueue.asyncAfter` costs a timer registration and, when it fires
/// (usually long after the turn is over), a wake-up of a dispatch thread: one wasted thread
/// switch per message at thousands of messages per second. Here one thread sleeps until
/// the earliest deadline, but at most every `granularity` seconds, so actions run at most
/// `granularity` late and the thread wakes at most 1/granularity times a second however
/// many messages arrive.
///
/// Threading: `schedule` is thread-safe and never blocks for long; actions run on the
/// sweeper's thread, one at a time, and must be short (they must not block).
/// Ownership: an action is released once it ran; `shutdown` drops the pending ones.
/// Unchecked Sendable: `heap`, `seq` and `stopping` only under `cond`.
final class DeadlineSweeper: @unchecked Sendable {
    private struct Entry {
        var deadline: UInt64   // DispatchTime uptime nanoseconds
        var seq: UInt64        // FIFO among equal deadlines
        var action: @Sendable () -> Void
    }

    private var heap: [Entry] = []
    private var seq: UInt64 = 0
    private var stopping = false
    private let cond = NSCondition()
    private let granularityNs: UInt64

    init(name: String, granularity: Double = 0.002) {
        granularityNs = UInt64(max(0.0001, granularity) * 1e9)
        let t = Thread { [self] in loop() }
        t.name = name
        t.stackSize = 256 << 10
        t.start()
    }

    /// Runs `action` on the sweeper's thread once `seconds` have passed (0: at the next sweep).
    func schedule(after seconds: Double, _ action: @escaping @Sendable () -> Void) {
        let deadline = DispatchTime.now().uptimeNanoseconds &+ UInt64(max(0, seconds) * 1e9)
        cond.lock()
        seq &+= 1
        push(Entry(deadline: deadline, seq: seq, action: action))
        // Only a new earliest deadline can make the sleeping thread wake sooner.
        if heap[0].seq == seq { cond.signal() }
        cond.unlock()
    }

    /// Drops pending actions and stops the thread.
    func shutdown() {
        cond.lock(); stopping = true; heap.removeAll(); cond.broadcast(); cond.unlock()
    }

    /// Actions waiting (tests).
    var pending: Int { cond.lock(); defer { cond.unlock() }; return heap.count }

    private func loop() {
        var lastSweep: UInt64 = 0
        while true {
            cond.lock()
            var due: [@Sendable () -> Void] = []
            while due.isEmpty {
                if stopping { cond.unlock(); return }
                let now = DispatchTime.now().uptimeNanoseconds
                if let first = heap.first {
                    let wakeAt = max(first.deadline, lastSweep &+ granularityNs)
                    if wakeAt <= now {
                        while let f = heap.first, f.deadline <= now { due.append(pop().action) }
                        lastSweep = now
                        continue
                    }
                    _ = cond.wait(until: Date(timeIntervalSinceNow: Double(wakeAt - now) / 1e9))
                } else {
                    cond.wait()
                }
            }
            cond.unlock()
            for a in due { a() }
        }
    }

    // MARK: binary min-heap on (deadline, seq); called with `cond` held

    private static func less(_ a: Entry, _ b: Entry) -> Bool { a.deadline != b.deadline ? a.deadline < b.deadline : a.seq < b.seq }

    private func push(_ e: Entry) {
        heap.append(e)
        var i = heap.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard Self.less(heap[i], heap[p]) else { break }
            heap.swapAt(i, p)
            i = p
        }
    }

    private func pop() -> Entry {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && Self.less(heap[l], heap[m]) { m = l }
                if r < heap.count && Self.less(heap[r], heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}
