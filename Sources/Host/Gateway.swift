import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The assembled gateway: configuration, plugins, router and HTTP server, run as one
/// swift-service-lifecycle `Service` (SIGTERM/SIGINT drain in-flight requests).
///
/// Built on the main thread by `Gateway.start`; `run()` serves until shutdown.
public final class Gateway: Service, HTTPServerDelegate, @unchecked Sendable {
    public let config: GatewayConfig
    public let runtime: HostRuntime
    public let plugins: PluginSet
    public let server: HTTPServer
    public let router: any InboundRouter
    /// The store-backed router (the same object as `router`).
    public let conversations: ConversationRouter
    public let store: any Store
    let outbox: OutboxSender
    let jobs: RouterJobs
    let logger: Logger
    private let ready = Atomic<Bool>(false)

    /// Loads plugins, opens agents and the store. Throws StartupErrors listing every problem.
    public init(config: GatewayConfig, logger: Logger, runtime: HostRuntime = HostRuntime()) throws {
        self.config = config
        self.logger = logger
        self.runtime = runtime
        do {
            store = try openStore(url: config.store.url, configDir: (config.sourcePath as NSString).deletingLastPathComponent,
                                  lockConnections: config.routing.maxConcurrent)
            try store.syncAgents(config.agents)
        } catch {
            throw StartupErrors(problems: ["store \(Redactor.redactURL(config.store.url)): \(error)"])
        }
        plugins = try PluginSet.start(config, runtime: runtime)
        conversations = ConversationRouter(store: store, agents: plugins.agents, config: config, metrics: runtime.metrics, logger: logger)
        router = conversations
        outbox = OutboxSender(store: store, channels: plugins.channels, maxAttempts: config.routing.outboxMaxAttempts,
                              metrics: runtime.metrics, logger: logger)
        conversations.onOutbox = { [outbox] in outbox.kick() }
        jobs = RouterJobs(router: conversations, store: store, routing: config.routing, logger: logger)
        runtime.router = router
        server = HTTPServer(runtime: runtime, config: config.server, delegate: PlaceholderDelegate(), logger: logger)
        server.delegate = self
    }

    public func isReady() -> Bool {
        guard ready.load(ordering: .acquiring) else { return false }
        return store.ping()
    }

    public func metricsText() -> String { runtime.metrics.render() }

    /// Starts serving; returns the bound port.
    @discardableResult
    public func start() async throws -> Int {
        try await server.start()
        outbox.start()
        jobs.start()
        ready.store(true, ordering: .releasing)
        logger.info("ready: \(plugins.channels.count) channel(s), \(plugins.agents.count) agent(s), routes \(runtime.routePaths)")
        return server.boundPort
    }

    /// Drains and stops everything.
    public func stop() async {
        ready.store(false, ordering: .releasing)
        await server.shutdown(grace: config.server.shutdownGrace)
        jobs.stop()
        outbox.stop()
        conversations.shutdown()
        plugins.shutdown()
        store.close()
        runtime.shutdown()
    }

    public func run() async throws {
        try await start()
        try? await gracefulShutdown()
        logger.info("shutting down: draining in-flight requests")
        await stop()
    }

    /// Runs the gateway until SIGTERM or SIGINT.
    public func runUntilSignalled() async throws {
        let group = ServiceGroup(configuration: .init(services: [.init(service: self)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

private final class PlaceholderDelegate: HTTPServerDelegate, @unchecked Sendable {
    func isReady() -> Bool { false }
    func metricsText() -> String { "" }
}
