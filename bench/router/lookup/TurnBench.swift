// The store's share of a message, without HTTP, channel or agent (issue 3 benchmark).
//
//   darkspere-router-bench turns <store-url> [threads=64] [seconds=10] [numbers=10000]
//
// `threads` threads each run turns back to back, as the router does for a synchronous
// agent on an existing session: the conversation lock with the turn context (dedupe,
// opt-out, session, 20 history entries), then the whole turn as one group-commit unit
// (`Store.writeAnsweredTurn`), waiting for its commit. A sender's first turn creates its
// session (`beginTurn` + `finishTurn`). Each thread has its own senders, so no two turns of
// one conversation overlap (the router's queues guarantee that in the gateway). Prints
// turns/s and this process's CPU time per turn (user + system, every store thread): the
// least CPU a durable message costs the gateway on this backend. On PostgreSQL the
// server's own CPU comes on top.
import Foundation
import Host

func runTurnBench(url: String, threads: Int, seconds: Double, numbers: Int) throws {
    let store = try openStore(url: url, configDir: FileManager.default.currentDirectoryPath, lockConnections: threads)
    let perThread = max(1, numbers / threads)
    let stop = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
    // One slot per thread, written only by that thread, read after all have finished.
    nonisolated(unsafe) let counts = UnsafeMutablePointer<Int>.allocate(capacity: threads)
    counts.initialize(repeating: 0, count: threads)
    nonisolated(unsafe) let failures = UnsafeMutablePointer<Int>.allocate(capacity: threads)
    failures.initialize(repeating: 0, count: threads)
    let runId = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    var ru0 = rusage(); getrusage(0 /* RUSAGE_SELF */, &ru0)
    let t0 = DispatchTime.now().uptimeNanoseconds
    let group = DispatchGroup()
    for th in 0..<threads {
        group.enter()
        let t = Thread {
            defer { group.leave() }
            var seq = 0
            while DispatchTime.now().uptimeNanoseconds < stop {
                seq += 1
                let remote = "+1" + String(format: "%010d", th * perThread + Int.random(in: 0..<perThread))
                let msgId = "\(runId)-\(th)-\(seq)"
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                do {
                    let lock = try store.lockConversationForTurn("bench|\(remote)|+15550000001")
                    defer { lock.release() }
                    let ctx = try store.turnContext(channel: "bench", channelMessageId: msgId, remote: remote, local: "+15550000001",
                                                    sinceMs: now - 1_800_000, under: lock, historyDepth: { _ in 20 })
                    let text = "hello \(seq)"
                    let reply = "echo: \(text) (\(ctx.history.count))"
                    if let s = ctx.session {
                        let start = TurnStart(channel: "bench", channelMessageId: msgId, remote: remote, local: "+15550000001",
                                              text: text, nowMs: now, sessionId: s.id, newAgent: nil)
                        let done = DispatchSemaphore(value: 0)
                        let outcome = UnsafeMutablePointer<Bool>.allocate(capacity: 1)
                        defer { outcome.deallocate() }
                        // Written by the completion before `done.signal()`, read after `done.wait()`.
                        nonisolated(unsafe) let out = outcome
                        store.writeAnsweredTurn(start, finish: {
                            TurnFinish(sessionId: s.id, inboundMessageId: 0, channel: "bench", channelMessageId: msgId, agent: "echo",
                                       reply: reply, sessionState: nil, processingMs: 0, nowMs: now, outbox: nil)
                        }, completion: { r in
                            if case .success = r { out.pointee = true } else { out.pointee = false }
                            done.signal()
                        })
                        done.wait()
                        if !outcome.pointee { failures[th] += 1; continue }
                    } else {
                        let (s, inbound) = try store.beginTurn(TurnStart(channel: "bench", channelMessageId: msgId, remote: remote,
                                                                          local: "+15550000001", text: text, nowMs: now,
                                                                          sessionId: nil, newAgent: "echo"))
                        try store.finishTurn(TurnFinish(sessionId: s.id, inboundMessageId: inbound, channel: "bench",
                                                        channelMessageId: msgId, agent: "echo", reply: reply, sessionState: nil,
                                                        processingMs: 0, nowMs: now, outbox: nil))
                    }
                    counts[th] += 1
                } catch {
                    failures[th] += 1
                }
            }
        }
        t.start()
    }
    group.wait()
    let wall = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    var ru1 = rusage(); getrusage(0 /* RUSAGE_SELF */, &ru1)
    func secs(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    let cpu = secs(ru1.ru_utime) - secs(ru0.ru_utime) + secs(ru1.ru_stime) - secs(ru0.ru_stime)
    let turns = (0..<threads).reduce(0) { $0 + counts[$1] }
    let failed = (0..<threads).reduce(0) { $0 + failures[$1] }
    print(String(format: "backend=%@ threads=%d turns=%d failed=%d turns/s=%.0f cpu/turn=%.0fus (user %.0f%%) cores=%.2f",
                 (store as? SQLStore)?.backend ?? "?", threads, turns, failed, Double(turns) / wall,
                 turns > 0 ? cpu * 1e6 / Double(turns) : 0,
                 cpu > 0 ? 100 * (secs(ru1.ru_utime) - secs(ru0.ru_utime)) / cpu : 0, cpu / wall))
    store.close()
}
