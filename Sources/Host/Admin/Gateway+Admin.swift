import Foundation

/// Binding the admin listener: the gateway's hook (one call at the end of `start()`; the
/// service group runs and stops it).
extension Gateway {
    /// Binds the admin listener if `admin:` is configured; says so either way.
    func startAdmin() async throws {
        guard let cfg = config.admin else {
            logger.info("admin: no admin listener (add an admin: section with tokens to enable the admin API)")
            return
        }
        guard let sql = store as? SQLStore else { throw StartupErrors(problems: ["admin: needs the SQL store"]) }
        if cfg.tokens.isEmpty { logger.warning("admin: no tokens configured: every admin request will get 401") }
        let server = AdminServer(config: cfg, gateway: config, runtime: runtime, store: sql, router: conversations, events: events,
                                 channels: plugins.channels.map(\.instanceId), metricsText: { [runtime] in runtime.metrics.render() },
                                 kickOutbox: { [outbox] in outbox?.kick() }, agentSync: agentSync,
                                 reloader: { [weak self] trigger in
                                     guard let self else { return ReloadOutcome(ok: false, path: "", hash: "", problems: ["the gateway stopped"]) }
                                     return await self.reload(trigger: trigger)
                                 }, logger: logger)
        do { _ = try await server.start() } catch {
            await server.shutdown(grace: 0)
            throw StartupErrors(problems: ["admin.listen \(cfg.host):\(cfg.port): cannot listen: \(error)"])
        }
        admin = server
    }

    /// The admin listener's bound port (nil without one).
    public var adminPort: Int? { admin?.server.boundPort }
}
