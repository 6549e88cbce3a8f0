import Foundation
import NIOPosix
import Synchronization
import Testing
@testable import Host

/// The one timer mechanism: `SlotTimer` on the host's timer loop (inline budgets, deferred
/// unlocks), and no timer thread of the router's or the store's own.
@Suite(.serialized) struct SlotTimerTests {
    /// Waits (without a fixed sleep deciding anything) until `done` holds, up to `seconds`.
    private func waitUntil(_ seconds: Double = 30, _ done: () -> Bool) async throws {
        let until = Date().addingTimeInterval(seconds)
        while !done() && Date() < until { try await Task.sleep(nanoseconds: 2_000_000) }
    }

    final class Probe: Sendable {}

    /// In slots (2 ms) and per entry (0: one scheduleTask each): deadline order, never early,
    /// all released once run.
    @Test(arguments: [0.002, 0.0]) func runsActionsInDeadlineOrderNeverEarly(granularity: Double) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let timer = SlotTimer(loop: group.next(), granularity: granularity)
        defer { timer.shutdown() }
        let fired = Mutex<[(Int, UInt64)]>([])
        let delays = [0.12, 0.03, 0.06, 0.0]
        let start = DispatchTime.now().uptimeNanoseconds
        for (i, delay) in delays.enumerated() {
            timer.schedule(after: delay) { fired.withLock { $0.append((i, DispatchTime.now().uptimeNanoseconds - start)) } }
        }
        try await waitUntil { fired.withLock { $0.count } == 4 }
        let got = fired.withLock { $0 }
        #expect(got.map(\.0) == [3, 1, 2, 0])
        for (i, ns) in got {
            #expect(Double(ns) / 1e9 >= delays[i], "action \(i) fired after \(Double(ns) / 1e9) s, due at \(delays[i]) s")
        }
        #expect(timer.pending == 0)
    }

    /// A cancelled entry never runs and its action (with what it captured) is released at
    /// once; the others still run; a spent or zero token is a no-op.
    @Test(arguments: [0.002, 0.0]) func cancelDropsTheEntryAndReleasesItsAction(granularity: Double) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let timer = SlotTimer(loop: group.next(), granularity: granularity)
        defer { timer.shutdown() }
        let ran = Mutex<[String]>([])
        weak var weakProbe: Probe?
        var token: SlotTimer.Token = 0
        do {
            let probe = Probe()
            weakProbe = probe
            token = timer.schedule(after: 0.05) { withExtendedLifetime(probe) { ran.withLock { $0.append("cancelled") } } }
        }
        let kept = timer.schedule(after: 0.1) { ran.withLock { $0.append("kept") } }
        #expect(token != 0 && kept != 0)
        #expect(weakProbe != nil)
        timer.cancel(token)
        #expect(weakProbe == nil, "the cancelled action was not released")
        #expect(timer.pending == 1)
        try await waitUntil { ran.withLock { $0.count } >= 1 }
        #expect(ran.withLock { $0 } == ["kept"])
        timer.cancel(token)   // spent: no-op
        timer.cancel(kept)    // ran: no-op
        timer.cancel(0)
        #expect(timer.pending == 0)
    }

    /// Many entries from many threads, half cancelled: exactly the others run, once each.
    @Test func concurrentScheduleAndCancel() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let timer = SlotTimer(loop: group.next(), granularity: 0.001)
        defer { timer.shutdown() }
        let ran = Atomic<Int>(0)
        let threads = 4, perThread = 5_000
        await withTaskGroup(of: Void.self) { g in
            for _ in 0..<threads {
                g.addTask {
                    for i in 0..<perThread {
                        // Those to cancel are due far later than their cancel (a cancel racing
                        // the firing may legitimately come too late).
                        let delay = i % 2 == 1 ? 1 + Double(i % 7) / 1000 : Double(i % 7) / 1000
                        let t = timer.schedule(after: delay) { ran.add(1, ordering: .relaxed) }
                        if i % 2 == 1 { timer.cancel(t) }
                    }
                }
            }
        }
        #expect(timer.pending <= threads * perThread / 2)
        // A marker due after every cancelled entry's deadline: once it ran, they would have.
        let marker = Atomic<Bool>(false)
        timer.schedule(after: 1.05) { marker.store(true, ordering: .releasing) }
        try await waitUntil { marker.load(ordering: .acquiring) }
        #expect(timer.pending == 0)
        #expect(ran.load(ordering: .relaxed) == threads * perThread / 2)
    }

    /// After shutdown nothing pending runs and nothing new is scheduled; the loop is not shut down.
    @Test func shutdownDropsPendingEntries() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()
        let timer = SlotTimer(loop: loop, granularity: 0.002)
        let ran = Atomic<Int>(0)
        timer.schedule(after: 0.05) { ran.add(1, ordering: .relaxed) }
        timer.shutdown()
        let late = timer.schedule(after: 0) { ran.add(1, ordering: .relaxed) }
        #expect(late == 0)
        #expect(timer.pending == 0)
        // The loop still runs tasks; one scheduled after the dropped entry's deadline ran first.
        try await loop.scheduleTask(in: .milliseconds(100)) {}.futureResult.get()
        #expect(ran.load(ordering: .relaxed) == 0)
    }

    /// Cost of one budget (schedule, then cancel as the reply is answered) in slots vs. one
    /// `scheduleTask` per entry, from 2 threads, paced (1 entry per thread every 100 µs, as
    /// at ~20k msg/s): process CPU and context switches per entry. A measurement, not a
    /// check: `DARKSPERE_TIMER_BENCH=1 swift test --filter SlotTimerTests/measure` (debug
    /// build: the wake-ups, not the code, dominate).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["DARKSPERE_TIMER_BENCH"] == "1"), arguments: [0.002, 0.0])
    func measureSchedulePlusCancel(granularity: Double) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let timer = SlotTimer(loop: group.next(), granularity: granularity)
        defer { timer.shutdown() }
        let perThread = 20_000
        func usage() -> (cpu: Double, switches: Int) {
            var u = rusage()
            getrusage(RUSAGE_SELF.rawValue, &u)
            return (Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6, u.ru_nvcsw + u.ru_nivcsw)
        }
        let before = usage()
        await withTaskGroup(of: Void.self) { g in
            for _ in 0..<2 {
                g.addTask {
                    for _ in 0..<perThread {
                        let t = timer.schedule(after: 5) {}
                        timer.cancel(t)
                        usleep(100)
                    }
                }
            }
        }
        let after = usage()
        let n = Double(2 * perThread)
        print("timer bench granularity \(granularity): \((after.cpu - before.cpu) / n * 1e6) us CPU and \(Double(after.switches - before.switches) / n) context switches per entry")
    }

    /// The process's threads by name (/proc/self/task/*/comm, at most 15 characters).
    static func threadNames() -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) }
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// After a gateway served messages (each with its inline budget), no timer
    /// thread of the router's or the store's own exists (the old "darkspere-inline-budget"
    /// and "darkspere-store-unlock" sweeper threads): budgets run on the runtime's timer loop.
    @Test func aGatewayServesWithoutATimerThreadOfItsOwn() async throws {
        let dir = TestEnv.tempDir("timer-threads")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, routing: "inline_reply_budget: 300ms", agents: """
              - name: echo
                transport: echo
            """), dir: dir)
        for i in 0..<50 { #expect(await g.reply(from: "+1555100\(1000 + i)", id: "tt-\(i)", text: "hi \(i)") != "<not an inline reply>") }
        #expect(g.router.budgets.loop === g.gateway.runtime.timerLoop)
        // The answered messages' budget entries were cancelled.
        try await waitUntil { g.router.budgets.pending == 0 }
        #expect(g.router.budgets.pending == 0)
        let names = Self.threadNames()
        #expect(!names.isEmpty)
        let own = names.filter { $0.hasPrefix("darkspere-inlin") || $0.hasPrefix("darkspere-store") || $0.contains("sweeper") }
        #expect(own.isEmpty, "timer threads of their own: \(own)")
        await g.stop()
    }
}
