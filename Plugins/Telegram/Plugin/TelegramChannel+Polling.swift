import ChannelSupport
import Foundation
import PluginKit
import TelegramCore

/// Long polling (`mode: polling`): getUpdates with the stored offset, the updates of one
/// chat in order and of different chats concurrently, each recorded in `pollState` once
/// handled; the next getUpdates confirms them to Telegram.
///
/// Runs as one task (`poller`) until shutdown.
extension TelegramChannel {
    func pollLoop() async {
        // getUpdates is refused (409) while a webhook is set.
        if case .ok = await call("deleteWebhook", [:]) {} else { host.log(.warn, "deleteWebhook failed; getUpdates may answer 409") }
        var backoff: UInt64 = 1
        while !stopped.load(ordering: .acquiring) && !Task.isCancelled {
            let state = pollState!
            let params: [String: Any] = ["offset": state.offset, "timeout": config.pollTimeoutSeconds,
                                         "allowed_updates": ["message", "my_chat_member"]]
            let outcome = await call("getUpdates", params, timeoutMs: config.requestTimeoutMs + UInt32(config.pollTimeoutSeconds) * 1000)
            if stopped.load(ordering: .acquiring) { return }
            var pause: UInt64 = 0
            switch outcome {
            case .ok(let result):
                backoff = 1
                let failed = await handleBatch((try? JSON.parse(Array(result.utf8)))?.array ?? [], state: state)
                if failed { pause = 1 }
            case .rateLimited(let s, _): pause = UInt64(s)
            case .conflict(let d): host.log(.warn, "getUpdates: \(d)"); pause = 5
            case .unauthorized(_, let d): host.log(.error, "getUpdates: the bot token was refused: \(d)"); pause = 30
            case let other:
                host.log(.warn, "getUpdates failed: \(other)")
                pause = backoff; backoff = min(backoff * 2, 30)
            }
            if pause > 0 { try? await Task.sleep(nanoseconds: pause * 1_000_000_000) }
        }
    }

    /// Handles one getUpdates result; true if some update must be fetched again.
    func handleBatch(_ raw: [JSON], state: PollState) async -> Bool {
        var updates: [TelegramUpdate] = []
        var ids: [Int64] = []
        for o in raw {
            guard let id = o["update_id"]?.int64 else { continue }
            ids.append(id)
            if state.isHandled(id) { continue }
            do { updates.append(try TelegramUpdate.parse(o)) } catch {
                host.log(.warn, "update \(id) skipped: \(error)")
                record(id, ids: ids, state: state)
            }
        }
        let batch = ids
        // Per chat in order; chats concurrently. An update that must be retried stops its chat's queue.
        var byChat: [Int64: [TelegramUpdate]] = [:]
        for u in updates {
            if let c = u.chatId { byChat[c, default: []].append(u) } else { record(u.updateId, ids: batch, state: state) }
        }
        let chatsToRun = byChat
        return await withTaskGroup(of: Bool.self) { group in
            for (_, list) in chatsToRun {
                group.addTask { [self] in
                    for u in list {
                        switch await handle(u) {
                        case .done, .answer, .invalid: record(u.updateId, ids: batch, state: state)
                        case .retryLater(let why):
                            host.log(.warn, "update \(u.updateId) will be fetched again: \(why)")
                            return true
                        }
                    }
                    return false
                }
            }
            var failed = false
            for await f in group { failed = failed || f }
            return failed
        }
    }

    func record(_ id: Int64, ids: [Int64], state: PollState) {
        do { try state.markHandled(id, batch: ids) } catch { host.log(.error, "cannot save the polling offset: \(error)") }
    }
}
