import Foundation

/// One agent's Prometheus metrics, labelled `agent="name"`: calls, errors and call latency
/// (recorded as calls complete), and gauges for health score, breaker state, rotation,
/// calls in flight and active sessions (refreshed by `refresh` whenever /metrics is
/// rendered). Owned by the agent's `RoutedAgent`. Threading: thread-safe (atomics).
final class AgentMetrics: Sendable {
    let calls: Metric, errors: Metric, callSeconds: Metric
    let health: Metric, breaker: Metric, inRotation: Metric, inFlight: Metric, activeSessions: Metric, maxSessions: Metric

    init(agent: String, metrics: MetricsRegistry) {
        let l = [("agent", agent)]
        calls = metrics.counter("darkspere_agent_calls_total", help: "Agent calls completed", labels: l)
        errors = metrics.counter("darkspere_agent_errors_total", help: "Agent calls that failed (error or timeout)", labels: l)
        callSeconds = metrics.histogram("darkspere_agent_call_seconds", help: "Agent call latency, from call to completion", labels: l)
        health = metrics.gauge("darkspere_agent_health_score", help: "Agent health score, 0-100", labels: l)
        breaker = metrics.gauge("darkspere_agent_breaker_state", help: "Agent circuit breaker: 0 closed, 1 half-open, 2 open", labels: l)
        inRotation = metrics.gauge("darkspere_agent_in_rotation", help: "1 while the agent is in rotation (probes pass)", labels: l)
        inFlight = metrics.gauge("darkspere_agent_calls_in_flight", help: "Agent calls in flight", labels: l)
        activeSessions = metrics.gauge("darkspere_agent_active_sessions",
                                       help: "Sessions of the agent active within routing.session_timeout (as last counted)", labels: l)
        maxSessions = metrics.gauge("darkspere_agent_max_sessions", help: "The agent's max_sessions (0: no limit)", labels: l)
    }

    /// A call completed after `seconds`.
    func recordCall(ok: Bool, seconds: Double) {
        calls.increment()
        if !ok { errors.increment() }
        callSeconds.record(seconds)
    }

    /// Brings the gauges up to date (before /metrics is rendered).
    func refresh(_ a: RoutedAgent, activeSessions sessions: Int?) {
        health.record(Double(a.health.score))
        let state: Double = switch a.health.breaker { case .closed: 0; case .halfOpen: 1; case .open: 2 }
        breaker.record(state)
        inRotation.record(a.health.inRotation ? 1 : 0)
        inFlight.record(Double(a.callsInFlight))
        if let sessions { activeSessions.record(Double(sessions)) }
        maxSessions.record(Double(a.entry.maxSessions ?? 0))
    }
}
