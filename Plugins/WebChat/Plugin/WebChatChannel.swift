import ChannelSupport
import Foundation
import PluginKit
import TwilioCore
import WebChatCore

/// The web chat channel (`ds.channel/1`). Routes under `path_prefix`:
///
/// - `POST /session`: a new visitor token (`{"token","visitor","expires"}`);
/// - `POST /messages` `{"text","id"}`: submits the visitor's message; answers the new
///   messages (the reply when the agent answered within the inline budget);
/// - `GET /poll?after=N`: the visitor's messages numbered above N, held open up to
///   `poll_timeout_seconds` until one comes (deferred replies arrive this way);
/// - `GET /widget.js`, and `GET /demo` when `demo: true`.
///
/// API calls carry `Authorization: Bearer <token>`; the visitor is `web:<visitor id>` from
/// the token, so a visitor can only read and write its own conversation.
///
/// Threading: `init` runs on the host's main thread; handlers and `send` run as Swift
/// tasks, concurrently; the mailbox and rate limiters are thread-safe. The secret lives
/// in `config` and `tokens`; nothing logs it or a token.
final class WebChatChannel: ChannelPlugin {
    let host: PluginHost
    let config: WebChatConfig
    let tokens: VisitorToken
    let origins: OriginPolicy
    let mailbox: Mailbox
    let limiter: InboundRateLimiter
    let sessionLimiter = InboundRateLimiter(limit: 30, window: 60)
    let inbound: PluginHost.Metric?
    /// Forgets idle visitors' mailboxes every 10 minutes.
    let pruner: PluginHost.Timer

    init(host: PluginHost, config raw: PluginConfig) throws {
        self.host = host
        do { config = try WebChatConfig.parse(json: raw.json) } catch { throw PluginError.config("\(error)") }
        tokens = VisitorToken(secret: config.secret)
        origins = OriginPolicy(allowed: config.allowedOrigins)
        let box = Mailbox(keep: config.keepMessages, idleSeconds: config.tokenTTLSeconds)
        mailbox = box
        limiter = InboundRateLimiter(limit: config.rateLimitPerMinute, window: 60)
        inbound = host.metric(.counter, "darkspere_webchat_inbound_total", help: "Visitor messages submitted to the router")
        pruner = host.timer(afterMs: 600_000, everyMs: 600_000) { box.prune() }
        let p = config.pathPrefix
        try route(p + "/session") { s, r, v in await s.newSession(r, v) }
        try route(p + "/messages") { s, r, v in await s.postMessage(r, v) }
        try route(p + "/poll") { s, r, v in await s.poll(r, v) }
        try host.route("GET", p + "/widget.js") { _ in
            HTTPResponse(status: 200, headers: [("Content-Type", "application/javascript; charset=utf-8"), ("Cache-Control", "public, max-age=300"),
                                                ("Access-Control-Allow-Origin", "*")], body: Array(WidgetAssets.script.utf8))
        }
        if config.demo {
            let page = WidgetAssets.demoPage(title: config.title, prefix: p)
            try host.route("GET", p + "/demo") { _ in HTTPResponse(status: 200, contentType: "text/html; charset=utf-8", body: page) }
        }
        host.log(.info, "webchat channel ready: \(p)/{session,messages,poll,widget.js}\(config.demo ? ", demo page \(p)/demo" : ""), allowed origins \(config.allowedOrigins)")
    }

    func shutdown() { pruner.cancel() }

    // MARK: Routing, CORS

    /// Registers an API route for every method: OPTIONS preflights are answered here,
    /// origins are checked before `handler` runs, CORS headers added to its answer.
    func route(_ path: String, _ handler: @escaping @Sendable (WebChatChannel, RouteRequest, OriginPolicy.Verdict) async -> HTTPResponse) throws {
        try host.route("*", path) { [weak self] req in
            guard let self else { return HTTPResponse(status: 503, contentType: "text/plain", body: "shutting down\n") }
            let verdict = self.origins.check(origin: req.header("origin"), host: req.header("host"))
            var response: HTTPResponse
            switch verdict {
            case .refused:
                self.host.log(.info, "\(req.path): origin \(req.header("origin") ?? "") refused (from \(req.remoteAddress))")
                return Self.error(403, "origin not allowed")
            case _ where req.method == "OPTIONS": response = HTTPResponse(status: 204)
            default: response = await handler(self, req, verdict)
            }
            if case .cors(let o) = verdict { response.headers += OriginPolicy.corsHeaders(o) }
            return response
        }
    }

    /// A JSON answer (a body from WebChatAnswer), never cached.
    static func json(_ status: Int, _ body: [UInt8], headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json"), ("Cache-Control", "no-store")] + headers, body: body)
    }

    /// `{"error": message}` with `status`.
    static func error(_ status: Int, _ message: String, headers: [(String, String)] = []) -> HTTPResponse {
        json(status, WebChatAnswer.error(message), headers: headers)
    }

    /// The visitor of a request's bearer token, or the 401 to answer.
    func visitor(_ req: RouteRequest) -> Result<String, HTTPResponseBox> {
        guard let auth = req.header("authorization"), auth.hasPrefix("Bearer ") else {
            return .failure(HTTPResponseBox(Self.error(401, "missing token")))
        }
        switch tokens.verify(String(auth.dropFirst(7)), now: Int64(Date().timeIntervalSince1970)) {
        case .valid(let v, _): return .success(v)
        case .expired: return .failure(HTTPResponseBox(Self.error(401, "token expired")))
        case .invalid:
            host.log(.info, "\(req.path): invalid token (from \(req.remoteAddress))")
            return .failure(HTTPResponseBox(Self.error(401, "invalid token")))
        }
    }

    // MARK: Handlers

    func newSession(_ req: RouteRequest, _ v: OriginPolicy.Verdict) async -> HTTPResponse {
        guard req.method == "POST" else { return Self.error(405, "POST only") }
        let ip = String(req.remoteAddress.split(separator: ":").dropLast().joined(separator: ":"))
        guard sessionLimiter.check(ip) == .allow else { return Self.error(429, "too many new sessions", headers: [("Retry-After", "60")]) }
        let visitor = VisitorToken.newVisitorId()
        let expires = Int64(Date().timeIntervalSince1970) + Int64(config.tokenTTLSeconds)
        return Self.json(200, WebChatAnswer.session(token: tokens.issue(visitor: visitor, expires: expires), visitor: visitor,
                                                    expires: expires, title: config.title))
    }

    func postMessage(_ req: RouteRequest, _ v: OriginPolicy.Verdict) async -> HTTPResponse {
        guard req.method == "POST" else { return Self.error(405, "POST only") }
        let visitor: String
        switch self.visitor(req) { case .success(let s): visitor = s; case .failure(let r): return r.response }
        let post: WebChatPost
        do { post = try WebChatPost.parse(req.body, maxLength: config.maxMessageLength) } catch let p as WebChatPost.Problem {
            return Self.error(p.status, p.message)
        } catch { return Self.error(400, "\(error)") }
        let text = post.text
        let clientId = post.clientId ?? VisitorToken.newVisitorId()
        switch limiter.check(visitor) {
        case .allow: break
        case .limitedNotify, .limitedSilent:
            return Self.error(429, "too many messages; wait a minute", headers: [("Retry-After", "60")])
        }
        let mine = mailbox.append(visitor, role: "user", text: text)
        inbound?.record(1)
        let m = InboundMessage(channelMessageId: "\(visitor):\(clientId)", from: "web:\(visitor)", to: config.address, text: text,
                               metadata: WebChatAnswer.metadata(origin: req.header("origin"), userAgent: req.header("user-agent")))
        do {
            switch try await host.submit(m) {
            case .reply(let reply):
                var out = [mine]
                if !reply.isEmpty { out.append(mailbox.append(visitor, role: "assistant", text: reply)) }
                return Self.json(200, WebChatAnswer.messages(out, deferred: false))
            case .deferred:
                return Self.json(202, WebChatAnswer.messages([mine], deferred: true))
            }
        } catch {
            let e = PluginError.from(error)
            host.log(.warn, "router refused a web chat message: \(e.message) [status \(e.status)]")
            if e.status == DS_ERR_INVALID { return Self.error(400, e.message) }
            return Self.error(503, "temporarily unavailable; try again", headers: [("Retry-After", "2")])
        }
    }

    func poll(_ req: RouteRequest, _ v: OriginPolicy.Verdict) async -> HTTPResponse {
        guard req.method == "GET" else { return Self.error(405, "GET only") }
        let visitor: String
        switch self.visitor(req) { case .success(let s): visitor = s; case .failure(let r): return r.response }
        let after = QueryString.value(req.query, "after").flatMap(Int.init) ?? 0
        let wait = QueryString.value(req.query, "wait") == "0" ? 0 : UInt64(config.pollTimeoutSeconds) * 1000
        let entries = await mailbox.wait(visitor, after: after, timeoutMs: wait)
        return Self.json(200, WebChatAnswer.messages(entries))
    }

    // MARK: Sending

    /// A deferred reply (or a compliance message): into the visitor's mailbox, where a
    /// waiting long poll picks it up at once.
    func send(_ m: OutboundMessage) async throws -> SendReceipt {
        guard m.to.hasPrefix("web:"), case let visitor = String(m.to.dropFirst(4)), visitor.count == 32, visitor.allSatisfy(\.isHexDigit) else {
            throw PluginError.invalid("to: '\(m.to)' is not web:<visitor id>")
        }
        let e = mailbox.append(visitor, role: "assistant", text: m.text)
        return SendReceipt(providerMessageId: "web:\(visitor):\(e.seq)", segments: 1)
    }
}

/// An HTTPResponse as an Error (for Result), e.g. the 401 of a bad token.
struct HTTPResponseBox: Error, Sendable {
    let response: HTTPResponse
    init(_ r: HTTPResponse) { response = r }
}
