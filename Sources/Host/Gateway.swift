import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The assembled gateway: configuration, store, plugins, router and HTTP server, run
/// as one swift-service-lifecycle `Service` (SIGTERM/SIGINT drain in-flight requests).
///
/// Lifecycle: `init` only keeps the config; `start()` binds the HTTP server first (so
/// /livez answers and /readyz says 503 during start-up), then opens the store, loads and
/// creates every plugin, opens every agent, and only then turns ready. Any failure stops
/// everything and throws: the gateway never serves half-configured.
/// Threading: start/stop from one task; the rest is thread-safe.
public final class Gateway: Service, HTTPServerDelegate, @unchecked Sendable {
    public let config: GatewayConfig
    public let runtime: HostRuntime
    public private(set) var plugins: PluginSet?
    public private(set) var router: (any InboundRouter)?
    /// The event stream to the log sinks; set once started.
    public private(set) var events: EventBus?
    public let server: HTTPServer
    let logger: Logger
    private(set) var store: SQLiteDatabase?
    private let ready = Atomic<Bool>(false)
    private let storeLock = NSLock()

    public init(config: GatewayConfig, logger: Logger, runtime: HostRuntime = HostRuntime()) {
        self.config = config
        self.logger = logger
        self.runtime = runtime
        server = HTTPServer(runtime: runtime, config: config.server, logger: logger)
        server.delegate = self
    }

    public func isReady() -> Bool {
        guard ready.load(ordering: .acquiring) else { return false }
        guard let store else { return true }
        storeLock.lock(); defer { storeLock.unlock() }
        return (try? store.scalarInt("SELECT 1")) == 1
    }

    /// The in-memory account directory (accounts: + tiers:), once started.
    public var accounts: ConfiguredAccounts? { runtime.accounts as? ConfiguredAccounts }

    public func metricsText() -> String { runtime.metrics.render() }

    /// Binds, then starts everything; returns the bound port. Throws StartupErrors.
    @discardableResult
    public func start() async throws -> Int {
        try await server.start()
        do {
            store = try openStore()
            // Billing plugins may change accounts from their create() on (ABI 1.1 account_update).
            if runtime.accounts == nil { runtime.accounts = ConfiguredAccounts(config: config) }
            let set = try PluginSet.start(config, runtime: runtime)
            plugins = set
            let bus = try EventBus(config: config.events, sinks: set.sinks, spoolDir: relativeToConfig(config.events.spoolDir),
                                   metrics: runtime.metrics, logger: logger)
            bus.start()
            events = bus
            let r = SimpleRouter(agents: set.agents, routing: config.routing, events: bus)
            router = r
            runtime.router = r
        } catch {
            await server.shutdown(grace: 0)
            runtime.shutdown()
            throw error
        }
        ready.store(true, ordering: .releasing)
        logger.info("ready: \(plugins?.channels.count ?? 0) channel(s), \(plugins?.agents.count ?? 0) agent(s), routes \(runtime.routePaths)")
        return server.boundPort
    }

    /// A path from the config, relative to the config file's folder.
    func relativeToConfig(_ path: String) -> String {
        path.hasPrefix("/") ? path : ((config.sourcePath as NSString).deletingLastPathComponent as NSString).appendingPathComponent(path)
    }

    private func openStore() throws -> SQLiteDatabase? {
        guard config.store.url.hasPrefix("sqlite:") else { return nil }
        var path = String(config.store.url.dropFirst("sqlite:".count))
        if !path.hasPrefix("/") && path != ":memory:" {
            path = ((config.sourcePath as NSString).deletingLastPathComponent as NSString).appendingPathComponent(path)
        }
        do { return try SQLiteDatabase(path: path) } catch {
            throw StartupErrors(problems: ["store \(Redactor.redactURL(config.store.url)): \(error)"])
        }
    }

    /// Drains in-flight requests, then stops plugins and services.
    public func stop() async {
        ready.store(false, ordering: .releasing)
        await server.shutdown(grace: config.server.shutdownGrace)
        await events?.stop(grace: config.server.shutdownGrace)
        plugins?.shutdown()
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
