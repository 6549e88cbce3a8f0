import Foundation
import Synchronization

/// The recent messages of every visitor's conversation, numbered per visitor, and the
/// long polls waiting for the next one. The widget shows them and resumes from them
/// after a reload; the router's store keeps the conversation itself.
///
/// In memory: lost when the gateway restarts (tokens stay valid; the conversation goes
/// on with the agent's history intact). Thread-safe: one mutex; waiters are resumed
/// exactly once, outside it.
public final class Mailbox: Sendable {
    public struct Entry: Sendable, Equatable {
        public var seq: Int
        public var role: String   // "user" or "assistant"
        public var text: String
        public var timeMs: Int64
        public init(seq: Int, role: String, text: String, timeMs: Int64) {
            self.seq = seq
            self.role = role
            self.text = text
            self.timeMs = timeMs
        }
    }

    final class Waiter: Sendable {
        let continuation: CheckedContinuation<Void, Never>
        init(_ c: CheckedContinuation<Void, Never>) { continuation = c }
    }

    struct Visitor {
        var entries: [Entry] = []
        var nextSeq = 1
        var waiters: [ObjectIdentifier: Waiter] = [:]
        var lastActive: Int64 = 0
    }

    let keep: Int
    let idleMs: Int64
    private let visitors = Mutex<[String: Visitor]>([:])

    /// Keeps `keep` messages per visitor; forgets visitors idle for `idleSeconds`.
    public init(keep: Int, idleSeconds: Int) {
        self.keep = keep
        idleMs = Int64(idleSeconds) * 1000
    }

    /// Appends a message and wakes the visitor's long polls; returns it with its number.
    @discardableResult
    public func append(_ visitor: String, role: String, text: String, nowMs: Int64 = Mailbox.nowMs()) -> Entry {
        let (entry, waiters) = visitors.withLock { all -> (Entry, [Waiter]) in
            // In place (`inout` through the dictionary's subscript): a copy of the visitor taken
            // out and stored back made every append copy the visitor's whole list.
            Self.append(to: &all[visitor, default: Visitor()], role: role, text: text, nowMs: nowMs, keep: keep)
        }
        for w in waiters { w.continuation.resume() }
        return entry
    }

    private static func append(to v: inout Visitor, role: String, text: String, nowMs: Int64, keep: Int) -> (Entry, [Waiter]) {
        let e = Entry(seq: v.nextSeq, role: role, text: text, timeMs: nowMs)
        v.nextSeq += 1
        v.entries.append(e)
        if v.entries.count > keep { v.entries.removeFirst(v.entries.count - keep) }
        v.lastActive = nowMs
        if v.waiters.isEmpty { return (e, []) }
        let w = Array(v.waiters.values)
        v.waiters = [:]
        return (e, w)
    }

    /// The visitor's messages numbered above `after`.
    public func entries(_ visitor: String, after: Int) -> [Entry] {
        visitors.withLock { $0[visitor]?.entries.filter { $0.seq > after } ?? [] }
    }

    /// The messages above `after`, waiting up to `timeoutMs` for one if there is none yet.
    public func wait(_ visitor: String, after: Int, timeoutMs: UInt64) async -> [Entry] {
        let now = Mailbox.nowMs()
        let ready = visitors.withLock { all -> Bool in
            all[visitor, default: Visitor()].lastActive = now
            return all[visitor]!.entries.contains { $0.seq > after }
        }
        if ready || timeoutMs == 0 { return entries(visitor, after: after) }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let w = Waiter(c)
            let id = ObjectIdentifier(w)
            let registered = visitors.withLock { all -> Bool in
                if all[visitor]?.entries.contains(where: { $0.seq > after }) == true { return false }
                all[visitor, default: Visitor()].waiters[id] = w
                return true
            }
            guard registered else { return c.resume() }
            Task { [weak self] in
                try? await Task.sleep(nanoseconds: timeoutMs * 1_000_000)
                // Still waiting: time out (a message that came meanwhile has removed it and resumed it).
                if let w = self?.visitors.withLock({ $0[visitor]?.waiters.removeValue(forKey: id) }) { w.continuation.resume() }
            }
        }
        return entries(visitor, after: after)
    }

    /// Forgets visitors idle longer than the token lifetime (no waiter, no recent message).
    public func prune(nowMs: Int64 = Mailbox.nowMs()) {
        visitors.withLock { all in all = all.filter { !$0.value.waiters.isEmpty || nowMs - $0.value.lastActive < idleMs } }
    }

    public var visitorCount: Int { visitors.withLock { $0.count } }

    public static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
