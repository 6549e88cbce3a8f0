import Synchronization

/// One lock per chat: the updates (and sends) of one chat are handled one at a time, in
/// the order they asked, so replies go out in the order the router produced them.
/// Chats do not wait for each other.
///
/// Thread-safe: one mutex over the held chats and their FIFO queues of waiters. Taking a
/// free chat's lock does not suspend (no actor hop: this was an actor, and its two hops per
/// update showed in the webhook's CPU time); a waiter is resumed exactly once, outside the
/// mutex, by the release that hands it the lock.
final class ChatLocks: Sendable {
    /// Held chats -> the tasks waiting for them, first come first served.
    private let held = Mutex<[Int64: [CheckedContinuation<Void, Never>]]>([:])

    func acquire(_ chat: Int64) async {
        let free = held.withLock { all -> Bool in
            guard all[chat] == nil else { return false }
            all[chat] = []
            return true
        }
        if free { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let granted = held.withLock { all -> Bool in
                if all[chat] == nil { all[chat] = []; return true }   // released meanwhile
                all[chat]!.append(c)
                return false
            }
            if granted { c.resume() }
        }
    }

    /// Hands the lock to the chat's next waiter, or frees it.
    func release(_ chat: Int64) {
        let next = held.withLock { all -> CheckedContinuation<Void, Never>? in
            guard let queue = all[chat], !queue.isEmpty else {
                all[chat] = nil
                return nil
            }
            return all[chat]!.removeFirst()
        }
        next?.resume()
    }

    /// Runs `body` holding the chat's lock.
    func with<T: Sendable>(_ chat: Int64, _ body: () async -> T) async -> T {
        await acquire(chat)
        let r = await body()
        release(chat)
        return r
    }

    /// How many chats are held now (tests, metrics).
    var heldCount: Int { held.withLock { $0.count } }
}
