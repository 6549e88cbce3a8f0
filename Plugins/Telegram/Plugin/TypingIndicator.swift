import Dispatch
import Synchronization

/// Shows "typing…" in a chat while the agent works: `sendChatAction` `delayMs` after
/// `start` (an agent that answers at once causes no extra request) and every 4.5 s
/// (Telegram shows it for 5 s) until `stop`, a send to the chat, or `maxMs`.
///
/// `start` and `stop` only note the chat in a table; the channel's one periodic host timer
/// calls `tick`, which sends the actions that are due. (It was one task per update that
/// slept and was cancelled: a timer armed and torn down for every message, most of them
/// answered before the first "typing…" was due.)
///
/// Thread-safe (one mutex over the table); `action` runs as a new task, off the mutex.
final class TypingIndicator: Sendable {
    struct Chat {
        var nextMs: Int64
        var untilMs: Int64
    }

    let action: @Sendable (Int64) async -> Void
    let delayMs: Int64
    let maxMs: Int64
    let intervalMs: Int64 = 4500
    /// How often the channel should call `tick`.
    static let tickMs: UInt64 = 250
    private let chats = Mutex<[Int64: Chat]>([:])

    init(delayMs: Int64 = 1000, maxMs: Int64 = 120_000, action: @escaping @Sendable (Int64) async -> Void) {
        self.action = action
        self.delayMs = delayMs
        self.maxMs = maxMs
    }

    static func nowMs() -> Int64 { Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000) }

    func start(_ chat: Int64, nowMs: Int64 = TypingIndicator.nowMs()) {
        chats.withLock { $0[chat] = Chat(nextMs: nowMs + delayMs, untilMs: nowMs + maxMs) }
    }

    func stop(_ chat: Int64) {
        chats.withLock { _ = $0.removeValue(forKey: chat) }
    }

    func stopAll() {
        chats.withLock { $0.removeAll() }
    }

    /// Sends "typing…" to every chat whose turn has come; forgets chats past `maxMs`.
    /// Returns the chats it sent to.
    @discardableResult
    func tick(nowMs: Int64 = TypingIndicator.nowMs()) -> [Int64] {
        let due = chats.withLock { all -> [Int64] in
            if all.isEmpty { return [] }
            let due = all.compactMap { $0.value.nextMs <= nowMs ? $0.key : nil }
            var send: [Int64] = []
            for chat in due {
                if all[chat]!.untilMs <= nowMs {
                    all[chat] = nil
                } else {
                    all[chat]!.nextMs = nowMs + intervalMs
                    send.append(chat)
                }
            }
            return send
        }
        for chat in due { Task { [action] in await action(chat) } }
        return due
    }
}
