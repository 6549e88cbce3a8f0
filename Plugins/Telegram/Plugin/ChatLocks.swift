/// One lock per chat: the updates (and sends) of one chat are handled one at a time, in
/// the order they asked, so replies go out in the order the router produced them.
/// Chats do not wait for each other.
///
/// An actor: any task may call it; waiters resume in FIFO order.
actor ChatLocks {
    private var waiting: [Int64: [CheckedContinuation<Void, Never>]] = [:]

    func acquire(_ chat: Int64) async {
        if waiting[chat] == nil { waiting[chat] = []; return }
        await withCheckedContinuation { waiting[chat]!.append($0) }
    }

    func release(_ chat: Int64) {
        guard var queue = waiting[chat], !queue.isEmpty else { waiting[chat] = nil; return }
        let next = queue.removeFirst()
        waiting[chat] = queue
        next.resume()
    }

    /// Runs `body` holding the chat's lock.
    func with<T: Sendable>(_ chat: Int64, _ body: @Sendable () async -> T) async -> T {
        await acquire(chat)
        let r = await body()
        release(chat)
        return r
    }
}
