import Foundation

/// GET /api/v1/agents. Runs on the admin pool.
extension AdminServer {
    func listAgents(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        let since = activeSinceMs
        let counts = try store.activeSessionCounts(sinceMs: since)
        return .object([("agents", .array(router.agents.map { a in
            let w = a.health.window.snapshot()
            var state = a.state.rawValue
            if a.state == .active && (!a.health.inRotation || a.heartbeatLapsed.load(ordering: .acquiring)) { state = "out_of_rotation" }
            return .object([
                ("name", .string(a.name)), ("transport", .string(a.entry.transport)), ("source", .string(a.source.rawValue)),
                ("state", .string(state)), ("health", .number(Double(a.health.score))), ("breaker", .string(a.health.breaker.rawValue)),
                ("sessions", .number(Double(counts[a.name] ?? 0))), ("max_sessions", AdminJSON.num(a.entry.maxSessions)),
                ("account", AdminJSON.str(a.entry.account)),
                ("latency_ms", .object([("p50", AdminJSON.num(w.p50Ms)), ("p95", AdminJSON.num(w.p95Ms)), ("p99", AdminJSON.num(w.p99Ms))])),
                ("calls_5m", .number(Double(w.calls))), ("errors_5m", .number(Double(w.errors))),
            ])
        }))])
    }
}
