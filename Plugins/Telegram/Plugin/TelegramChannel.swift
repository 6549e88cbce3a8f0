import Foundation
import ChannelSupport
import PluginKit
import Synchronization
import Digests
import TelegramCore
import TwilioCore

/// The Telegram channel (`ds.channel/1`): updates arrive on the webhook route (checked
/// against `secret_token`) or through getUpdates long polling; each message is submitted
/// to the router as `telegram:<chat id>` → `telegram:<bot id>`; replies and deferred
/// replies go out with sendMessage (split at 4096), "typing…" is shown while the agent
/// works, inbound photos reach the agent as signed links to `file_path`.
///
/// Threading: `init` and `shutdown` run on the host's main thread; route handlers, the
/// polling task and `send` run as Swift tasks, concurrently. One chat is handled one
/// update at a time (`chats`). The bot token lives in `config`, `api` and `links`;
/// everything logged goes through `api.scrub`.
final class TelegramChannel: ChannelPlugin {
    let host: PluginHost
    let config: TelegramConfig
    let api: TelegramBotAPI
    let links: TelegramFileLink
    let chats = ChatLocks()
    let sentParts = SentPartsLedger()
    let metrics: TelegramMetrics
    let typing: TypingIndicator
    /// scheme://host[:port] of the gateway, for media links (config, env, or the first webhook).
    let publicBase: Mutex<String?>
    /// Polling mode: the handled-update state and the loop (nil in webhook mode).
    let pollState: PollState?
    let poller = Mutex<Task<Void, Never>?>(nil)
    let stopped = Atomic<Bool>(false)

    /// Unchecked Sendable: `[String: Any]` holds only JSON values (strings, numbers, arrays,
    /// dictionaries), built once and never mutated.
    enum Handled: @unchecked Sendable {
        case done
        /// Webhook mode: answer the webhook with this Bot API method call.
        case answer([String: Any])
        case invalid(String)
        case retryLater(String)
    }

    init(host: PluginHost, config raw: PluginConfig) throws {
        self.host = host
        do { config = try TelegramConfig.parse(json: raw.json) } catch { throw PluginError.config("\(error)") }
        let api = TelegramBotAPI(token: config.botToken, apiBase: config.apiBase), timeout = config.requestTimeoutMs
        self.api = api
        links = TelegramFileLink(botToken: config.botToken)
        metrics = TelegramMetrics(host)
        let base = config.publicURL ?? host.env("DARKSPERE_PUBLIC_URL")
        publicBase = Mutex(base.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 })
        typing = TypingIndicator { [host] chat in
            let r = api.request("sendChatAction", ["chat_id": chat, "action": "typing"])
            _ = try? await host.http(HTTPRequest(method: "POST", url: r.url, headers: r.headers, body: r.body, timeoutMs: timeout))
        }
        if config.mode == .polling {
            let file = "telegram-\(config.botId ?? 0).json"
            let path = config.stateDir.map { ($0 as NSString).appendingPathComponent(file) }
            do { pollState = try PollState(path: path) } catch { throw PluginError.config("state_dir: \(error)") }
        } else {
            pollState = nil
            try host.route("POST", config.webhookPath) { [weak self] req in
                guard let self else { return HTTPResponse(status: 503, contentType: "text/plain", body: "shutting down\n") }
                return await self.handleWebhook(req)
            }
        }
        try host.route("GET", config.filePath) { [weak self] req in
            guard let self else { return HTTPResponse(status: 503, contentType: "text/plain", body: "shutting down\n") }
            return await self.serveFile(req)
        }
        switch config.mode {
        case .webhook:
            if config.setWebhook { Task { await self.registerWebhook() } }
            host.log(.info, "telegram channel ready: webhook \(config.webhookPath), api \(config.apiBase)")
        case .polling:
            poller.withLock { $0 = Task { await self.pollLoop() } }
            host.log(.info, "telegram channel ready: long polling (offset \(pollState!.offset)), api \(config.apiBase)")
        }
    }

    /// Stops polling and waits (at most one poll timeout plus 5 s) for the loop to end, so
    /// no request of this instance is in flight once the host destroys it.
    func shutdown() {
        stopped.store(true, ordering: .releasing)
        typing.stopAll()
        guard let task = poller.withLock({ $0 }) else { return }
        task.cancel()
        let done = DispatchSemaphore(value: 0)
        Task { await task.value; done.signal() }
        _ = done.wait(timeout: .now() + .seconds(config.pollTimeoutSeconds + 5))
    }

    // MARK: Bot API calls

    /// One Bot API call through the host's client; transport failures become `.unavailable`.
    func call(_ method: String, _ params: [String: Any], timeoutMs: UInt32? = nil) async -> TelegramBotAPI.Outcome {
        let r = api.request(method, params)
        do {
            let resp = try await host.http(HTTPRequest(method: "POST", url: r.url, headers: r.headers, body: r.body,
                                                       timeoutMs: timeoutMs ?? config.requestTimeoutMs))
            let outcome = TelegramBotAPI.outcome(status: resp.status, body: resp.body)
            if case .ok = outcome {} else { metrics.apiError(method, "\(outcome)".prefix { $0 != "(" }.description) }
            return outcome
        } catch {
            metrics.apiError(method, "transport")
            return .unavailable(code: 0, description: api.scrub(PluginError.from(error).message))
        }
    }

    func registerWebhook() async {
        guard let base = publicBase.withLock({ $0 }) else {
            host.log(.error, "set_webhook: no public_url in the config and DARKSPERE_PUBLIC_URL unset; call setWebhook yourself or set one")
            return
        }
        let params: [String: Any] = ["url": base + config.webhookPath, "secret_token": config.secretToken ?? "",
                                     "allowed_updates": ["message", "my_chat_member"]]
        for attempt in 0..<5 {
            if stopped.load(ordering: .acquiring) { return }
            switch await call("setWebhook", params) {
            case .ok:
                host.log(.info, "setWebhook: \(base + config.webhookPath)")
                return
            case .rateLimited(let s, _): try? await Task.sleep(nanoseconds: UInt64(s) * 1_000_000_000)
            case .unavailable(_, let d): host.log(.warn, "setWebhook failed (attempt \(attempt + 1)): \(d)"); try? await Task.sleep(nanoseconds: 2_000_000_000)
            case let other: host.log(.error, "setWebhook refused: \(other)"); return
            }
        }
    }

    // MARK: Webhook

    func handleWebhook(_ req: RouteRequest) async -> HTTPResponse {
        let expected = Array((config.secretToken ?? "").utf8)
        guard let got = req.header("x-telegram-bot-api-secret-token"), !expected.isEmpty,
              Digest.constantTimeEqual(Array(got.utf8), expected) else {
            return refuse(403, "missing or wrong X-Telegram-Bot-Api-Secret-Token", req)
        }
        learnPublicBase(req)
        let update: TelegramUpdate
        do { update = try TelegramUpdate.parse(json: req.body) } catch { return refuse(400, "\(error)", req) }
        switch await handle(update, replyInWebhook: config.replyInWebhook) {
        case .done: return HTTPResponse(status: 200, contentType: "application/json", body: "{}")
        case .answer(let call):
            // The reply as the webhook's answer: Telegram performs this sendMessage itself.
            let body = (try? JSONSerialization.data(withJSONObject: call, options: [])) ?? Data("{}".utf8)
            metrics.sentParts?.record(1)
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array(body))
        case .invalid(let why): return refuse(400, why, req)
        // Telegram redelivers on a non-2xx answer; the router's dedupe keeps the agent from seeing it twice.
        case .retryLater(let why):
            host.log(.warn, "update \(update.updateId) not handled now (\(why)): 503, Telegram will redeliver")
            return HTTPResponse(status: 503, contentType: "text/plain", body: "temporarily unavailable\n")
        }
    }

    func refuse(_ status: Int, _ reason: String, _ req: RouteRequest) -> HTTPResponse {
        metrics.rejected(status)
        host.log(.warn, "\(req.path): \(status) \(reason) (from \(req.remoteAddress))")
        return HTTPResponse(status: status, contentType: "text/plain", body: reason + "\n")
    }

    func learnPublicBase(_ req: RouteRequest) {
        let suffix = req.path + (req.query.isEmpty ? "" : "?" + req.query)
        guard req.publicURL.hasSuffix(suffix) else { return }
        let base = String(req.publicURL.dropLast(suffix.count))
        publicBase.withLock { if $0 == nil { $0 = base } }
    }

    // MARK: One update (both modes)

    /// Submits one update to the router and sends the inline reply, holding the chat's lock.
    /// With `replyInWebhook` a reply that fits in one message is returned as `.answer` instead.
    func handle(_ update: TelegramUpdate, replyInWebhook: Bool = false) async -> Handled {
        switch update.kind {
        case .ignored(let why):
            host.log(.debug, "update \(update.updateId) ignored: \(why)")
            return .done
        case .blocked(let chat):
            // The user blocked the bot: record the opt-out; no confirmation can reach them.
            let m = InboundMessage(channelMessageId: update.channelMessageId, from: TelegramAddress.format(chat), to: config.botAddress,
                                   text: "STOP", metadata: #"{"event":"blocked"}"#)
            return await chats.with(chat) { [self] in
                do { _ = try await host.submit(m); return .done } catch { return submitFailure(error, update) }
            }
        case .message(let chat, _, let text, let attachments, let metadata):
            let base = publicBase.withLock { $0 } ?? ""
            let media = attachments.map { InboundMessage.Media(url: links.url(base: base, path: config.filePath, fileId: $0.fileId), contentType: $0.contentType) }
            let m = InboundMessage(channelMessageId: update.channelMessageId, from: TelegramAddress.format(chat), to: config.botAddress,
                                   text: text, media: media, metadata: metadata)
            metrics.inbound?.record(1)
            return await chats.with(chat) { [self] in
                if config.typing { typing.start(chat) }
                let answer: SubmitAnswer
                do { answer = try await host.submitWithMedia(m) } catch {
                    typing.stop(chat)
                    return submitFailure(error, update)
                }
                switch answer.result {
                case .deferred: return .done   // typing goes on until the deferred reply is sent
                case .reply(let text):
                    typing.stop(chat)
                    if text.isEmpty && answer.media.isEmpty { return .done }
                    if replyInWebhook, answer.media.isEmpty, case let parts = TelegramBotAPI.split(text), parts.count == 1 {
                        return .answer(["method": "sendMessage", "chat_id": chat, "text": parts[0]])
                    }
                    do {
                        _ = try await sendText(chat: chat, text: text, media: answer.media, key: "reply:\(update.channelMessageId)", waitOnRateLimit: true)
                        return .done
                    } catch {
                        let e = PluginError.from(error)
                        if e.status == DS_ERR_OPTED_OUT { return .done }   // blocked meanwhile: nothing to retry
                        return .retryLater("reply not sent: \(e.message)")
                    }
                }
            }
        }
    }

    func submitFailure(_ error: any Error, _ update: TelegramUpdate) -> Handled {
        let e = PluginError.from(error)
        host.log(.warn, "router refused update \(update.updateId): \(e.message) [status \(e.status)]")
        return e.status == DS_ERR_INVALID ? .invalid(e.message) : .retryLater(e.message)
    }

    // MARK: Sending

    /// Sends `text` to a chat as one or more messages, and `media` (ABI 1.2 attachments) as
    /// photos (`sendPhoto`; `sendDocument` for attachments that are not images), by URL:
    /// see `TelegramBotAPI.replyCalls`. Parts accepted on an earlier attempt
    /// under the same `key` are not sent again. With `waitOnRateLimit` a 429 is waited out
    /// (up to 3 times, `retry_after` seconds each); otherwise it is thrown for the host to
    /// retry. Returns the Telegram message ids ("<chat>:<message_id>").
    func sendText(chat: Int64, text: String, media: [MediaAttachment] = [], key: String, waitOnRateLimit: Bool) async throws -> [String] {
        let parts = TelegramBotAPI.replyCalls(chat: chat, text: text, media: media.map { ($0.url, $0.contentType) })
        var ids = sentParts.parts(key)
        var waits = 0
        var i = ids.count
        while i < parts.count {
            switch await call(parts[i].method, parts[i].params) {
            case .ok(let result):
                let mid = ((TelegramBotAPI.decode(result) as? [String: Any])?["message_id"] as? NSNumber)?.int64Value ?? 0
                ids.append("\(chat):\(mid)")
                if parts.count > 1 { sentParts.record(key, sids: ids) }
                metrics.sentParts?.record(1)
                i += 1
            case .rateLimited(let s, let d):
                if waitOnRateLimit && waits < 3 {
                    waits += 1
                    try await Task.sleep(nanoseconds: UInt64(s) * 1_000_000_000)
                    continue
                }
                throw PluginError.rateLimited("Telegram: \(d)", retryAfterMs: Int64(s) * 1000, detailCode: 429)
            case .forbidden(let d): throw PluginError.optedOut("Telegram: \(d)", detailCode: 403)
            case .unauthorized(let c, let d): throw PluginError(status: DS_ERR_AUTH, "Telegram refused the bot token (\(c)): \(d)", detailCode: Int32(c))
            case .unavailable(let c, let d): throw PluginError.unavailable("Telegram \(c): \(d)")
            case .conflict(let d): throw PluginError.failed("Telegram 409: \(d)", detailCode: 409)
            case .rejected(let c, let d): throw PluginError(status: c == 400 ? DS_ERR_INVALID : DS_ERR_FAILED, "Telegram \(c): \(d)", detailCode: Int32(c))
            }
        }
        sentParts.forget(key)
        return ids
    }

    /// A deferred reply or a compliance message from the host's outbox.
    func send(_ m: OutboundMessage) async throws -> SendReceipt {
        guard let chat = TelegramAddress.chatId(m.to) else { throw PluginError.invalid("to: '\(m.to)' is not telegram:<chat id>") }
        let result: Result<[String], PluginError> = await chats.with(chat) { [self] in
            typing.stop(chat)
            do { return .success(try await sendText(chat: chat, text: m.text, media: m.media, key: m.messageId, waitOnRateLimit: false)) } catch { return .failure(PluginError.from(error)) }
        }
        let ids = try result.get()
        return SendReceipt(providerMessageId: ids.first ?? "", segments: ids.count)
    }

    // MARK: Files

    /// GET file_path?id=<file_id>&sig=<signature>: the photo's bytes, fetched with getFile.
    func serveFile(_ req: RouteRequest) async -> HTTPResponse {
        guard let id = QueryString.value(req.query, "id"), let sig = QueryString.value(req.query, "sig"),
              links.verify(fileId: id, sig: sig) else {
            return refuse(403, "missing or wrong file signature", req)
        }
        guard case .ok(let result) = await call("getFile", ["file_id": id]),
              let path = (TelegramBotAPI.decode(result) as? [String: Any])?["file_path"] as? String else {
            return HTTPResponse(status: 502, contentType: "text/plain", body: "getFile failed\n")
        }
        do {
            let r = try await host.http(HTTPRequest(url: api.fileURL(path), timeoutMs: config.requestTimeoutMs))
            guard r.status == 200 else { return HTTPResponse(status: 502, contentType: "text/plain", body: "download failed: HTTP \(r.status)\n") }
            return HTTPResponse(status: 200, headers: [("Content-Type", r.header("Content-Type") ?? "application/octet-stream"),
                                                       ("Cache-Control", "private, max-age=3600")], body: r.body)
        } catch {
            return HTTPResponse(status: 502, contentType: "text/plain", body: "download failed\n")
        }
    }
}

