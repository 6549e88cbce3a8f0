import Synchronization

/// Shows "typing…" in a chat while the agent works: `sendChatAction` after `delaySeconds`
/// (an agent that answers at once causes no extra request) and every 4.5 s (Telegram shows
/// it for 5 s) until `stop`, a send to the chat, or `maxSeconds`.
///
/// Thread-safe (one mutex over the per-chat tasks).
final class TypingIndicator: Sendable {
    let action: @Sendable (Int64) async -> Void
    let maxSeconds: Double
    let delaySeconds: Double
    private let tasks = Mutex<[Int64: Task<Void, Never>]>([:])

    init(delaySeconds: Double = 1, maxSeconds: Double = 120, action: @escaping @Sendable (Int64) async -> Void) {
        self.action = action
        self.delaySeconds = delaySeconds
        self.maxSeconds = maxSeconds
    }

    func start(_ chat: Int64) {
        let task = Task { [action, maxSeconds, delaySeconds] in
            try? await Task.sleep(nanoseconds: UInt64(delaySeconds * 1e9))
            let rounds = Int(maxSeconds / 4.5)
            for _ in 0...rounds {
                if Task.isCancelled { return }
                await action(chat)
                try? await Task.sleep(nanoseconds: 4_500_000_000)
            }
        }
        tasks.withLock { $0.updateValue(task, forKey: chat) }?.cancel()
    }

    func stop(_ chat: Int64) {
        tasks.withLock { $0.removeValue(forKey: chat) }?.cancel()
    }

    func stopAll() {
        for t in tasks.withLock({ t -> [Task<Void, Never>] in defer { t = [:] }; return Array(t.values) }) { t.cancel() }
    }
}
