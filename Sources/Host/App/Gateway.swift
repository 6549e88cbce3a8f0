import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The assembled gateway: configuration, store, plugins, router, outbox, event stream and
/// HTTP server, run as one swift-service-lifecycle `Service` (SIGTERM/SIGINT drain
/// in-flight requests).
///
/// Lifecycle: `init` only keeps the config; `start()` raises the open-file limit, binds the
/// HTTP server first (so /livez answers and /readyz says 503 during start-up; plugin routes
/// answer 503 "starting", never 404), then opens the store, loads and creates every plugin,
/// opens every agent, and only then opens the plugin routes and turns ready. Any failure stops
/// everything and throws: the gateway never serves half-configured. The parts made by
/// `start()` are implicitly unwrapped: they exist once `start()` has returned.
/// Threading: start/stop from one task; the rest is thread-safe.
/// Unchecked Sendable: the implicitly unwrapped parts are set by `start()` before the server opens
/// its routes and turns ready (and replaced only by a reload, one at a time, for `plugins`); the
/// rest is a Mutex, an atomic or immutable.
public final class Gateway: Service, HTTPServerDelegate, @unchecked Sendable {
    /// The running configuration: the one started with, then the last one a reload applied.
    public var config: GatewayConfig { configBox.withLock { $0 } }
    let configBox: Mutex<GatewayConfig>
    /// Reloads (SIGHUP, the admin API, `reload()`), one at a time. See Reload/Gateway+Reload.swift.
    let reloads = ReloadQueue()
    /// The SHA-256 of the config file as last loaded (the `darkspere_config_info` label).
    let configHash = Mutex("")
    /// True under `darkspere run` (SIGHUP reloads): a reload re-asserts the host's handler.
    let signalWatched = Atomic<Bool>(false)
    public let runtime: HostRuntime
    public let server: HTTPServer
    public private(set) var plugins: PluginSet!
    public private(set) var store: (any Store)!
    /// The store-backed router (the same object as `router`).
    public private(set) var conversations: ConversationRouter!
    public private(set) var router: (any InboundRouter)!
    /// The event stream to the log sinks.
    public private(set) var events: EventBus!
    private(set) var outbox: OutboxSender?
    private(set) var jobs: RouterJobs?
    /// Reports the usage ledger to the billing plugin (nil without one).
    private(set) var usageReporter: UsageReporter?
    /// Keeps the router's agents in step with the store's agents table (runtime agents,
    /// operator state, heartbeats). See Gateway+Agents.swift.
    public internal(set) var agentSync: AgentSync?
    /// The admin listener (`admin:`; nil without it). See Gateway+Admin.swift.
    public internal(set) var admin: AdminServer?
    let logger: Logger
    private let ready = Atomic<Bool>(false)

    public init(config: GatewayConfig, logger: Logger, runtime: HostRuntime = HostRuntime()) {
        configBox = Mutex(config)
        self.logger = logger
        self.runtime = runtime
        server = HTTPServer(runtime: runtime, config: config.server, logger: logger, routesOpen: false)
        server.delegate = self
    }

    public func isReady() -> Bool {
        guard ready.load(ordering: .acquiring), let store else { return false }
        return store.ping()
    }

    /// The in-memory account directory (accounts: + tiers:), once started.
    public var accounts: ConfiguredAccounts? { runtime.accounts as? ConfiguredAccounts }

    public func metricsText() -> String { runtime.metrics.render() }

    /// Binds, then starts everything; returns the bound port. Throws StartupErrors.
    @discardableResult
    public func start() async throws -> Int {
        let insecure = SecureDefaults.problems(config)
        guard insecure.isEmpty else { throw StartupErrors(problems: insecure) }
        let files = FileLimit.raiseSoftToHard()
        logger.debug("open-file limit: \(files)")
        try await server.start()
        do {
            let config = self.config, runtime = self.runtime, logger = self.logger
            // Billing plugins may change accounts from their create() on (ABI 1.1 account_update).
            if runtime.accounts == nil { runtime.accounts = ConfiguredAccounts(config: config) }
            // Store migrations and plugin create()/open() may block (child processes,
            // handshakes, connections): keep them off the cooperative pool.
            let (store, set) = try await Self.offPool { () throws -> (any Store, PluginSet) in
                let store: any Store
                do {
                    store = try openStore(url: config.store.url, configDir: (config.sourcePath as NSString).deletingLastPathComponent,
                                          lockConnections: config.routing.maxConcurrent)
                    try store.syncAgents(config.agents)
                } catch {
                    throw StartupErrors(problems: ["store \(Redactor.redactURL(config.store.url)): \(error)"])
                }
                do { return (store, try PluginSet.start(config, runtime: runtime)) } catch { store.close(); throw error }
            }
            self.store = store
            plugins = set
            let bus = try EventBus(config: config.events, sinks: set.sinks, spoolDir: relativeToConfig(config.events.spoolDir),
                                   metrics: runtime.metrics, logger: logger)
            bus.start()
            events = bus
            let conv = ConversationRouter(store: store, agents: set.agents, config: config, metrics: runtime.metrics, logger: logger,
                                          closeAgent: { [set] h in set.closeAgent(h) })
            conv.events = bus
            try startBilling(store: store, plugins: set, router: conv, events: bus)
            conversations = conv
            router = conv
            let outbox = OutboxSender(store: store, channels: set.channels, maxAttempts: config.routing.outboxMaxAttempts,
                                      metrics: runtime.metrics, logger: logger)
            outbox.events = bus
            conv.onOutbox = { [outbox] in outbox.kick() }
            self.outbox = outbox
            jobs = RouterJobs(router: conv, store: store, routing: config.routing, logger: logger)
            runtime.router = conv
            // Stored agent states and runtime agents before the recovery sweep and the probes.
            try await startAgentSync()
            outbox.start()
            jobs?.start()
            try await startAdmin()
        } catch {
            agentSync?.stop()
            await admin?.shutdown(grace: 0)
            await server.shutdown(grace: 0)
            plugins?.shutdown()
            store?.close()
            runtime.shutdown()
            throw error
        }
        server.openRoutes()
        recordLoadedConfig()
        ready.store(true, ordering: .releasing)
        logger.info("ready: \(plugins.channels.count) channel(s), \(plugins.agents.count) agent(s), routes \(runtime.routePaths)")
        return server.boundPort
    }

    /// Accounts: stored tier/status changes apply and later ones are stored; agents with an
    /// account are metered; with a billing plugin, the ledger is reported to it.
    private func startBilling(store: any Store, plugins: PluginSet, router: ConversationRouter, events: EventBus) throws {
        guard let accounts else { return }
        do { try accounts.attach(store) } catch { throw StartupErrors(problems: ["store: cannot read account state: \(error)"]) }
        // With accounts: configured, runtime agents may name one too (admin API).
        if config.agents.contains(where: { $0.account != nil }) || !config.accounts.isEmpty {
            let meter = UsageMeter(store: store, accounts: accounts, billing: config.billing, metrics: runtime.metrics, logger: logger)
            meter.events = events
            router.usage = meter
        }
        let chosen = config.billing.provider.flatMap { id in plugins.billing.first { $0.instanceId == id } } ?? plugins.billing.first
        guard let billing = chosen else { return }
        if config.billing.provider == nil && plugins.billing.count > 1 {
            logger.warning("billing: \(plugins.billing.count) billing plugins; usage goes to '\(billing.instanceId)' (set billing.provider to choose)")
        }
        let reporter = UsageReporter(store: store, billing: billing, accounts: accounts, config: config.billing,
                                     metrics: runtime.metrics, logger: logger)
        reporter.events = events
        reporter.start()
        usageReporter = reporter
    }

    /// Runs blocking work on a dedicated thread and awaits its result.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            let t = Thread { c.resume(with: Result { try work() }) }
            t.name = "darkspere-startup"
            t.start()
        }
    }

    /// A path from the config, relative to the config file's folder.
    func relativeToConfig(_ path: String) -> String {
        path.hasPrefix("/") ? path : ((config.sourcePath as NSString).deletingLastPathComponent as NSString).appendingPathComponent(path)
    }

    /// Drains in-flight requests, then stops the router, sinks, plugins and store.
    public func stop() async {
        ready.store(false, ordering: .releasing)
        await admin?.shutdown(grace: 0)
        await server.shutdown(grace: config.server.shutdownGrace)
        jobs?.stop()
        agentSync?.stop()
        outbox?.stop()
        usageReporter?.stop()
        conversations?.shutdown()
        await events?.stop(grace: config.server.shutdownGrace)
        plugins?.shutdown()
        store?.close()
        runtime.shutdown()
    }

    public func run() async throws {
        try await start()
        // `darkspere run`: SIGHUP reloads, and the pid file lets `darkspere reload` find us.
        let hup = watchReloadSignal()
        let pid = PidFile(config: config)
        pid.write(logger: logger)
        try? await gracefulShutdown()
        hup.stop()
        pid.remove()
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
