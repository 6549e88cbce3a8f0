import Foundation
import PluginKit
import Synchronization
import SMSText
import TwilioCore

/// The Twilio SMS channel (`ds.channel/1`): receives webhooks on `webhook_path`,
/// delivery reports on `status_path`, and sends through the Messages REST API with
/// the host's HTTP client.
///
/// Threading: `init` runs on the host's main thread; route handlers and `send` run as
/// Swift tasks, concurrently. All mutable state is in thread-safe objects (rate
/// limiter, sent-parts ledger, the learned public URL behind a mutex). Compliance
/// keywords (STOP/START/HELP) and the opt-out ledger are the router's: every message is
/// submitted, and a send Twilio refuses as opted out (21610) is reported as
/// DS_ERR_OPTED_OUT, which the host records in the ledger.
/// The auth token lives in `config`, `signer` and `api`; nothing here logs it.
final class TwilioChannel: ChannelPlugin {
    let host: PluginHost
    let config: TwilioConfig
    let signer: TwilioSignature
    let api: TwilioMessagesAPI
    let sentParts = SentPartsLedger()
    /// The gateway's public base URL (scheme://host[:port]), from config, env or the first webhook.
    let publicBase: Mutex<String?>
    let metrics: TwilioMetrics
    /// WhatsApp instances: each user's customer-service window.
    let window: ServiceWindow?

    init(host: PluginHost, config raw: PluginConfig) throws {
        self.host = host
        do { config = try TwilioConfig.parse(json: raw.json) } catch let e as TwilioConfigError { throw PluginError.config(e.description) }
        signer = TwilioSignature(authToken: config.authToken)
        api = TwilioMessagesAPI(config: config)
        let base = config.publicURL ?? host.env("DARKSPERE_PUBLIC_URL")
        publicBase = Mutex(base.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 })
        metrics = TwilioMetrics(host)
        if !config.deprecatedKeys.isEmpty {
            host.log(.warn, "\(config.deprecatedKeys.joined(separator: ", ")): deprecated and ignored; the per-number rate limit moved to the host's abuse: section (abuse.per_sender, abuse.rate_limit_reply, abuse.window)")
        }
        window = config.whatsapp ? ServiceWindow(hours: config.windowHours, file: config.windowFile) : nil
        if !config.validateSignatures { host.log(.warn, "validate_signatures is false: webhooks are NOT authenticated") }

        try host.route("POST", config.webhookPath) { [weak self] req in
            guard let self else { return HTTPResponse(status: 503, contentType: "text/plain", body: "shutting down\n") }
            return await self.handleMessage(req)
        }
        try host.route("POST", config.statusPath) { [weak self] req in
            guard let self else { return HTTPResponse(status: 503, contentType: "text/plain", body: "shutting down\n") }
            return self.handleStatus(req)
        }
        host.log(.info, "twilio channel ready: webhook \(config.webhookPath), status \(config.statusPath), api \(config.apiBase)")
    }

    // MARK: Responses

    func twiml(_ messages: [String]) -> HTTPResponse {
        HTTPResponse(status: 200, contentType: TwiML.contentType, body: TwiML.response(messages: messages))
    }

    func twiml(reply text: String, media: [MediaAttachment] = []) -> HTTPResponse {
        HTTPResponse(status: 200, contentType: TwiML.contentType,
                     body: TwiML.response(messages: text.isEmpty ? [] : MessageSplitter.split(text), media: media.map(\.url)))
    }

    func refuse(_ r: TwilioWebhook.Rejection, _ req: RouteRequest, route: String) -> HTTPResponse {
        metrics.rejected(r.httpStatus)
        host.log(.warn, "\(route): \(r.httpStatus) \(r.reason) (from \(req.remoteAddress))")
        return HTTPResponse(status: r.httpStatus, contentType: "text/plain", body: r.reason + "\n")
    }

    /// Remembers scheme://host[:port] of the URL Twilio used, for StatusCallback.
    func learnPublicBase(_ req: RouteRequest) {
        let suffix = req.path + (req.query.isEmpty ? "" : "?" + req.query)
        guard req.publicURL.hasSuffix(suffix) else { return }
        let base = String(req.publicURL.dropLast(suffix.count))
        publicBase.withLock { if $0 == nil { $0 = base } }
    }

    var statusCallbackURL: String? { publicBase.withLock { $0 }.map { $0 + config.statusPath } }

    // MARK: Inbound messages

    func handleMessage(_ req: RouteRequest) async -> HTTPResponse {
        let params: [(String, String)]
        let msg: TwilioWebhook.Inbound
        do {
            params = try TwilioWebhook.verifiedParams(signature: signer, headers: req.headers, body: req.body,
                                                      publicURL: req.publicURL, validate: config.validateSignatures)
            msg = try TwilioWebhook.inbound(params, whatsapp: config.whatsapp)
        } catch {
            return refuse(error, req, route: config.webhookPath)
        }
        learnPublicBase(req)
        metrics.inbound.record(1)
        window?.inbound(msg.from)   // WhatsApp: the user's 24-hour window opens (or restarts) now

        let inbound = InboundMessage(channelMessageId: msg.messageSid, from: msg.from, to: msg.to, text: msg.body,
                                     media: msg.media.map { .init(url: $0.url, contentType: $0.contentType) },
                                     metadata: msg.metadataJSON)
        do {
            let answer = try await host.submitWithMedia(inbound)
            switch answer.result {
            case .reply(let text): return twiml(reply: text, media: answer.media)
            case .deferred: return twiml([])
            }
        } catch {
            let e = PluginError.from(error)
            host.log(.warn, "router refused message \(msg.messageSid): \(e.message) [status \(e.status)]")
            if e.status == DS_ERR_INVALID { return HTTPResponse(status: 400, contentType: "text/plain", body: e.message + "\n") }
            // Anything else: not taken; a 503 lets Twilio (or its fallback URL) try again.
            return HTTPResponse(status: 503, contentType: "text/plain", body: "temporarily unavailable\n")
        }
    }

    // MARK: Delivery status

    func handleStatus(_ req: RouteRequest) -> HTTPResponse {
        let update: TwilioWebhook.StatusUpdate?
        do {
            let params = try TwilioWebhook.verifiedParams(signature: signer, headers: req.headers, body: req.body,
                                                          publicURL: req.publicURL, validate: config.validateSignatures)
            update = try TwilioWebhook.statusUpdate(params)
        } catch {
            return refuse(error, req, route: config.statusPath)
        }
        if let u = update {
            metrics.status(u.status)
            let known = host.reportStatus(providerMessageId: u.messageSid, status: u.status, errorCode: u.errorCode)
            if !known { host.log(.debug, "status \(u.status) for unknown message \(u.messageSid)") }
        }
        // Always 200: Twilio needs no body, and an unknown message is not Twilio's fault.
        return HTTPResponse(status: 200, contentType: "text/plain", body: "")
    }

    // MARK: Sending

    func send(_ m: OutboundMessage) async throws -> SendReceipt {
        var template: WhatsApp.Template?
        let to: String, from: String?
        if let window {
            guard let t = WhatsApp.address(m.to) else { throw PluginError.invalid("to is not whatsapp:+E164") }
            to = t
            from = m.from.isEmpty ? config.senderNumber.map { "whatsapp:" + $0 } : WhatsApp.address(m.from)
            if !window.isOpen(to) {
                // Outside the customer-service window: only an approved template may go.
                let meta = (try? JSONSerialization.jsonObject(with: Data(m.metadata.utf8))) as? [String: Any] ?? [:]
                let agent = meta["agent"] as? String
                template = WhatsApp.Template.parse(meta["template"]) ?? agent.flatMap { config.agentTemplates[$0] } ?? config.template
                guard let t = template else {
                    metrics.sendFailed("whatsapp_window")
                    throw PluginError(status: DS_ERR_INVALID,
                                      "WhatsApp: \(PhoneNumber.masked(String(to.dropFirst("whatsapp:".count)))) has not written in the last \(Int(config.windowHours)) hours (outside the 24-hour customer-service window): free-form messages are refused there; give the message a template (content_sid), or configure template or agent_templates\(agent.map { " for agent '\($0)'" } ?? "")",
                                      detailCode: 63016)
                }
                if let p = t.problem { throw PluginError.invalid("template: \(p)") }
            }
        } else {
            guard let t = PhoneNumber.e164(m.to) else { throw PluginError.invalid("to is not an E.164 phone number") }
            to = t
            from = m.from.isEmpty ? nil : m.from
        }
        if let template {
            // One templated message (ContentSid + ContentVariables); text and media belong to the template.
            let r = api.createRequest(to: to, from: from, body: "", statusCallback: statusCallbackURL, template: template)
            let response = try await host.http(HTTPRequest(method: "POST", url: r.url, headers: r.headers,
                                                           body: Array(r.body.utf8), timeoutMs: config.requestTimeoutMs))
            let sid = try sent(TwilioMessagesAPI.outcome(status: response.status, headers: response.headers, body: response.body))
            metrics.sent(parts: 1, segments: 1)
            return SendReceipt(providerMessageId: sid, segments: 1)
        }
        // Media go with the first part (an MMS); a media-only message is one part with no Body.
        let parts = m.text.isEmpty && !m.media.isEmpty ? [""] : MessageSplitter.split(m.text)
        var sids = sentParts.parts(m.messageId)
        var segments = 0
        for (i, part) in parts.enumerated() {
            segments += SMSSegments.count(part)
            if i < sids.count { continue }   // accepted on an earlier attempt of this message
            let r = api.createRequest(to: to, from: from, body: part, statusCallback: statusCallbackURL,
                                      mediaURLs: i == 0 ? m.media.map(\.url) : [])
            let response = try await host.http(HTTPRequest(method: "POST", url: r.url, headers: r.headers,
                                                           body: Array(r.body.utf8), timeoutMs: config.requestTimeoutMs))
            sids.append(try sent(TwilioMessagesAPI.outcome(status: response.status, headers: response.headers, body: response.body)))
            if parts.count > 1 { sentParts.record(m.messageId, sids: sids) }
        }
        sentParts.forget(m.messageId)
        metrics.sent(parts: parts.count, segments: segments)
        return SendReceipt(providerMessageId: sids.first ?? "", segments: segments)
    }

    /// The message sid of an accepted create-message call, or the error for the host.
    func sent(_ outcome: TwilioMessagesAPI.Outcome) throws -> String {
            switch outcome {
            case .sent(let sid, _):
                return sid
            case .rateLimited(let code, let message, let after):
                metrics.sendFailed("rate_limited")
                throw PluginError.rateLimited("Twilio rate limit: \(message)", retryAfterMs: after, detailCode: code)
            case .unavailable(let status, let message, let after):
                metrics.sendFailed("unavailable")
                throw PluginError(status: DS_ERR_UNAVAILABLE, "Twilio HTTP \(status): \(message)", retryAfterMs: after)
            case .optedOut(let code, let message):
                metrics.sendFailed("opted_out")
                throw PluginError.optedOut("Twilio: \(message)", detailCode: code)
            case .auth(let status, let code, let message):
                metrics.sendFailed("auth")
                throw PluginError(status: DS_ERR_AUTH, "Twilio refused the credentials (HTTP \(status)): \(message)", detailCode: code)
            case .rejected(let status, let code, let message):
                metrics.sendFailed("rejected")
                throw PluginError(status: status == 400 ? DS_ERR_INVALID : DS_ERR_FAILED,
                                  "Twilio HTTP \(status) code \(code): \(message)", detailCode: code)
            }
    }
}
