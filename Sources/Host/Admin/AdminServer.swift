import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The admin listener (`admin:`): a second `HTTPServer` whose every request is served here —
/// bearer-token auth, then the JSON API under /api/v1/ (see openapi.json), the event stream,
/// and /metrics when `admin.metrics` is on.
///
/// Ownership: made and bound by the `Gateway` once its store, router and event bus exist;
/// it holds them strongly until `shutdown`. A swift-service-lifecycle `Service`: `run()`
/// serves until graceful shutdown or cancellation (the first service stopped, see
/// `Gateway.shutdownOrder`), then ends the event streams and closes at once. Threading: `handle` runs on the listener's event
/// loops and never blocks there: store work runs on `work`, a small pool of its own, so the
/// message path's threads never wait for an operator's query.
public final class AdminServer: HTTPHandler, Service, @unchecked Sendable {
    let config: AdminConfig
    let server: HTTPServer
    let store: SQLStore
    let router: ConversationRouter
    let events: EventBus
    /// The running configuration (accounts, plugins, agents): a reload replaces it.
    private let gatewayConfigBox: Mutex<GatewayConfig>
    var gatewayConfig: GatewayConfig { gatewayConfigBox.withLock { $0 } }
    /// A reload applied a new configuration.
    func setGatewayConfig(_ config: GatewayConfig) { gatewayConfigBox.withLock { $0 = config } }
    /// Channel instance ids (the opt-out ledger is per channel); a reload updates them.
    private let channelsBox: Mutex<[String]>
    var channels: [String] { channelsBox.withLock { $0 } }
    /// A reload changed the channel instances.
    func setChannels(_ ids: [String]) { channelsBox.withLock { $0 = ids } }
    /// Runs a reload: POST /api/v1/reload. See AdminServer+Reload.swift.
    let reloader: @Sendable (String) async -> ReloadOutcome
    let metricsText: @Sendable () -> String
    /// Wakes the outbox sender (operator messages go out through the outbox).
    let kickOutbox: @Sendable () -> Void
    let logger: Logger
    let work: BlockingThreadPool
    let openAPI: [UInt8]
    /// Applies agent changes here at once.
    let agentSync: AgentSync?
    /// The operator console's static files (public: the page holds no data).
    let console: AdminConsole

    init(config: AdminConfig, gateway: GatewayConfig, runtime: HostRuntime, store: SQLStore, router: ConversationRouter, events: EventBus,
         channels: [String], metricsText: @escaping @Sendable () -> String, kickOutbox: @escaping @Sendable () -> Void,
         agentSync: AgentSync?, reloader: @escaping @Sendable (String) async -> ReloadOutcome, logger: Logger) {
        self.kickOutbox = kickOutbox
        self.agentSync = agentSync
        self.reloader = reloader
        self.config = config
        gatewayConfigBox = Mutex(gateway)
        self.store = store
        self.router = router
        self.events = events
        channelsBox = Mutex(channels)
        self.metricsText = metricsText
        self.logger = logger
        var sc = gateway.server   // the same limits as the public listener
        sc.host = config.host
        sc.port = config.port
        sc.publicURL = "http://\(config.host):\(config.port)"
        server = HTTPServer(runtime: runtime, config: sc, logger: logger, threads: 1)
        work = BlockingThreadPool(name: "darkspere-admin", threads: 4)
        openAPI = Array(AdminOpenAPI.document.utf8)
        console = AdminConsole.load()
        server.handler = self
    }

    /// Binds; returns the bound port.
    func start() async throws -> Int {
        try await server.start()
        let metricsNote = config.metrics ? ", /metrics served here" : ""
        logger.info("admin: listening on http://\(config.host):\(server.boundPort) with \(config.tokens.count) token(s)\(metricsNote)")
        return server.boundPort
    }

    public func run() async {
        try? await gracefulShutdown()
        await shutdown(grace: 0)
    }

    func shutdown(grace: Double) async {
        // Watchers first: no event may wake a stream writer on a loop that is going away.
        events.live.unsubscribeAll()
        await server.shutdown(grace: grace)
        work.shutdown()
    }

    // MARK: HTTPHandler

    public func handle(_ request: HTTPRequest, _ response: HTTPResponder) {
        // The console's files are public (no data in them); everything else needs a token.
        if request.method == "GET", let file = console.file(request.path) {
            return response.respond(status: 200, headers: [("Content-Type", file.contentType)] + AdminConsole.securityHeaders, body: file.body)
        }
        do {
            // An agent's own endpoints take its agent key, not an admin token (+Agents).
            if request.path.hasPrefix("/api/v1/agents/"), let s = try? Self.segments(request.path), Self.isAgentKeyEndpoint(s) {
                return agentKeyCall(request, s, response)
            }
            let token = try authenticate(request)
            let path = request.path
            if path == "/metrics" && config.metrics {
                guard request.method == "GET" else { throw AdminError(405, "method_not_allowed", "use GET", headers: [("Allow", "GET")]) }
                return response.respond(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")], body: Array(metricsText().utf8))
            }
            guard path.hasPrefix("/api/v1/") else { throw AdminError.notFound("no such path: \(path.prefix(200)) (the API is under /api/v1/)") }
            let segments = try Self.segments(path)
            let call = try AdminRequest(http: request, token: token, segments: segments)
            let route = try self.route(call)
            if route.changes && token.role != .operator { throw AdminError.forbidden(token.name) }
            if route.streams { return route.run(call, response) }
            // The route's body was made for this request and runs once, on `work`; nothing
            // else holds it (it captures only `self`, which is Sendable, and its own values).
            nonisolated(unsafe) let run = route.run
            work.async {
                run(call, response)
            }
        } catch let e as AdminError {
            Self.send(response, e)
        } catch {
            Self.send(response, AdminError.badRequest("\(error)"))
        }
    }

    /// The decoded path segments after /api/v1/.
    static func segments(_ path: String) throws -> [String] {
        try path.dropFirst("/api/v1/".count).split(separator: "/", omittingEmptySubsequences: false).map { s -> String in
            guard let d = String(s).removingPercentEncoding else { throw AdminError.badRequest("the path is not valid percent-encoding") }
            return d
        }
    }

    /// register / heartbeat: POST only, authenticated by the agent key (a store lookup, on `work`).
    func agentKeyCall(_ request: HTTPRequest, _ segments: [String], _ response: HTTPResponder) {
        guard request.method == "POST" else {
            return Self.send(response, AdminError(405, "method_not_allowed", "\(request.method) is not allowed here (allowed: POST)", headers: [("Allow", "POST")]))
        }
        work.async { [self] in
            do {
                let agent = try authenticateAgent(request)
                let call = try AdminRequest(http: request, token: AdminToken(name: "agent \(agent)", token: "", role: .viewer), segments: segments)
                let body: (AdminRequest) throws -> JSONValue = segments.count == 2 ? { try self.registerAgent($0, agent: agent) }
                                                                                   : { try self.heartbeat($0, agent: agent) }
                json(body)(call, response)
            } catch let e as AdminError {
                Self.send(response, e)
            } catch {
                logger.error("admin: agent key lookup: \(error)")
                Self.send(response, AdminError.unavailable("the store"))
            }
        }
    }

    /// The token of `Authorization: Bearer <token>`, compared in constant time. The event
    /// stream alone also takes `?access_token=<token>` (a browser's EventSource cannot send
    /// headers); the header wins when both are given. Neither is ever logged.
    func authenticate(_ request: HTTPRequest) throws -> AdminToken {
        let given: [UInt8]
        if let h = request.header("authorization") {
            guard h.count > 7, h.prefix(7).lowercased() == "bearer " else { throw AdminError.unauthorized }
            given = Array(h.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)
        } else if request.path == Self.eventsPath, let t = Self.accessToken(request.query) {
            given = Array(t.utf8)
        } else {
            throw AdminError.unauthorized
        }
        var found: AdminToken?
        for t in config.tokens where Self.constantTimeEqual(Array(t.token.utf8), given) { found = t }
        guard let found else { throw AdminError.unauthorized }
        return found
    }

    static let eventsPath = "/api/v1/events"

    /// The decoded `access_token` of a query string, if there is one.
    static func accessToken(_ query: String) -> String? {
        for part in query.split(separator: "&") where part.hasPrefix("access_token=") {
            return String(part.dropFirst("access_token=".count)).removingPercentEncoding
        }
        return nil
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) { diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0) }
        return diff == 0
    }

    // MARK: routing

    /// One endpoint: whether it changes anything (operator only), whether it streams (runs on
    /// the event loop), and its body, which answers the responder.
    struct Route {
        var changes = false
        var streams = false
        var run: (AdminRequest, HTTPResponder) -> Void
    }

    /// A handler returning a JSON value (status 200 unless `status` says otherwise).
    func json(status: Int = 200, _ body: @escaping (AdminRequest) throws -> JSONValue) -> (AdminRequest, HTTPResponder) -> Void {
        { [self] call, response in
            do {
                Self.send(response, status, try body(call))
            } catch let e as AdminError {
                Self.send(response, e)
            } catch {
                logger.error("admin: \(call.method) \(call.http.path): \(error)")
                Self.send(response, AdminError.unavailable("the store"))
            }
        }
    }

    func route(_ call: AdminRequest) throws -> Route {
        let s = call.segments, m = call.method
        func allow(_ methods: [String]) throws {
            guard methods.contains(m) else {
                throw AdminError(405, "method_not_allowed", "\(m) is not allowed here (allowed: \(methods.joined(separator: ", ")))",
                                 headers: [("Allow", methods.joined(separator: ", "))])
            }
        }
        switch (s.first ?? "", s.count) {
        case ("openapi.json", 1):
            try allow(["GET"])
            return Route(run: { [openAPI] call, response in
                do {
                    try call.only([])
                    response.respond(status: 200, headers: [("Content-Type", "application/json")], body: openAPI)
                } catch let e as AdminError { Self.send(response, e) } catch {}
            })
        case ("agents", 1):
            try allow(["GET", "POST"])
            if m == "POST" { return Route(changes: true, run: json(status: 201, addAgent)) }
            return Route(run: json(listAgents))
        case ("agents", 2):
            try allow(["GET", "PATCH", "DELETE"])
            switch m {
            case "GET": return Route(run: json(showAgent))
            case "PATCH": return Route(changes: true, run: json(patchAgent))
            default: return Route(changes: true, run: json(deleteAgent))
            }
        case ("agent-keys", 1):
            try allow(["GET", "POST"])
            if m == "POST" { return Route(changes: true, run: json(status: 201, createAgentKey)) }
            return Route(run: json(listAgentKeys))
        case ("agent-keys", 2):
            try allow(["DELETE"])
            return Route(changes: true, run: json(revokeAgentKey))
        case ("sessions", 1):
            try allow(["GET"])
            return Route(run: json(listSessions))
        case ("sessions", 2):
            try allow(["GET"])
            return Route(run: json(showSession))
        case ("sessions", 3):
            try allow(["POST"])
            switch s[2] {
            case "takeover": return Route(changes: true, run: json(takeOver))
            case "messages": return Route(changes: true, run: json(status: 201, operatorMessage))
            case "release": return Route(changes: true, run: json(release))
            case "close": return Route(changes: true, run: json(closeSession))
            case "move": return Route(changes: true, run: json(moveSession))
            default: throw AdminError.notFound("no such endpoint: \(call.http.path.prefix(200)) (see GET /api/v1/openapi.json)")
            }
        case ("messages", 1):
            try allow(["GET", "POST"])
            return m == "GET" ? Route(run: json(findMessages)) : Route(changes: true, run: json(status: 202, sendProactive))
        case ("optouts", 1):
            try allow(["GET", "POST", "DELETE"])
            switch m {
            case "GET": return Route(run: json(listOptOuts))
            case "POST": return Route(changes: true, run: json(status: 201, addOptOut))
            default: return Route(changes: true, run: json(removeOptOut))
            }
        case ("usage", 1):
            try allow(["GET"])
            return Route(run: json(usage))
        case ("me", 1):
            try allow(["GET"])
            return Route(run: json(me))
        case ("access-rules", 1):
            try allow(["GET", "POST"])
            return m == "GET" ? Route(run: json(listAccessRules)) : Route(changes: true, run: json(status: 201, addAccessRule))
        case ("access-rules", 2):
            try allow(["DELETE"])
            return Route(changes: true, run: json(removeAccessRule))
        case ("users", 1):
            try allow(["GET", "POST"])
            return m == "GET" ? Route(run: json(listUsers)) : Route(changes: true, run: json(status: 201, saveUser))
        case ("users", 2):
            try allow(["DELETE"])
            return Route(changes: true, run: json(removeUser))
        case ("forget", 1):
            try allow(["POST"])
            return Route(changes: true, run: json(forgetNumber))
        case ("events", 1):
            try allow(["GET"])
            return Route(streams: true, run: streamEvents)
        case ("reload", 1):
            try allow(["POST"])
            return Route(changes: true, streams: true, run: reload)
        default:
            throw AdminError.notFound("no such endpoint: \(call.http.path.prefix(200)) (see GET /api/v1/openapi.json)")
        }
    }

    // MARK: answers

    static func send(_ response: HTTPResponder, _ status: Int, _ body: JSONValue) {
        response.respond(status: status, headers: [("Content-Type", "application/json"), ("Cache-Control", "no-store")], body: Array(body.text.utf8))
    }

    static func send(_ response: HTTPResponder, _ e: AdminError) {
        response.respond(status: e.status, headers: [("Content-Type", "application/json"), ("Cache-Control", "no-store")] + e.headers,
                         body: Array(e.json.text.utf8))
    }

    /// Now − session_timeout: sessions active since then count as active.
    var activeSinceMs: Int64 { nowMillis() - Int64(gatewayConfig.routing.sessionTimeout * 1000) }
}
