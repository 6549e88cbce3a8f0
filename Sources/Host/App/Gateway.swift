import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The assembled gateway: configuration, store, plugins, router, outbox, event stream and
/// HTTP server, each long-running part a swift-service-lifecycle `Service` in one
/// `ServiceGroup` (see `services()`, which states the shutdown order).
///
/// Lifecycle: `init` only keeps the config; `start()` raises the open-file limit, binds the
/// HTTP server first (so /livez answers and /readyz says 503 during start-up; plugin routes
/// answer 503 "starting", never 404), then opens the store, loads and creates every plugin,
/// makes every part with what it needs (nothing is wired after a part's `init`), applies
/// the agents table once, binds the admin listener, and only then opens the plugin routes,
/// turns ready and runs the service group. Any failure stops everything and throws: the
/// gateway never serves half-configured. The parts made by `start()` are implicitly
/// unwrapped: they exist once `start()` has returned. `stop()` (or SIGTERM/SIGINT under
/// `runUntilSignalled()`) shuts the group down gracefully, in the stated order; the
/// plugins, the store and the runtime are destroyed after the last service returned.
/// Threading: start/stop from one task; the rest is thread-safe.
/// Unchecked Sendable: the implicitly unwrapped parts, `group` and `running` are set by
/// `start()` before the server opens its routes and the service group runs (and `plugins` is
/// replaced only by a reload, one at a time); the rest is a Mutex, an atomic or immutable.
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
    /// Where the background services' blocking store calls run (started by `start()`,
    /// shut down after the service group).
    let blocking = NIOThreadPool(numberOfThreads: 2)
    let logger: Logger
    private let ready = Atomic<Bool>(false)
    /// The service group and the task running it (set by `start()`).
    private var group: ServiceGroup?
    private var running: Task<Void, Never>?
    /// The services (and finally "resources") in the order they stopped: what
    /// `shutdownOrder` promises, observed (tests).
    let stopped = Mutex<[String]>([])
    /// True once the plugins, store and runtime were torn down (at most once).
    private let tornDown = Atomic<Bool>(false)

    public init(config: GatewayConfig, logger: Logger, runtime: HostRuntime = HostRuntime()) {
        configBox = Mutex(config)
        self.logger = logger
        self.runtime = runtime
        server = HTTPServer(runtime: runtime, config: config.server, logger: logger, routesOpen: false)
        server.delegate = self
    }

    public func isReady() -> Bool {
        guard ready.load(ordering: .acquiring), !server.draining.load(ordering: .acquiring), let store else { return false }
        return store.ping()
    }

    /// The in-memory account directory (accounts: + tiers:), once started.
    public var accounts: ConfiguredAccounts? { runtime.accounts as? ConfiguredAccounts }

    public func metricsText() -> String { runtime.metrics.render() }

    /// The order in which a graceful shutdown stops the gateway's parts, the one place it is
    /// stated (`services()` follows it; the service group stops its services in the reverse
    /// of their start order, each after the one before has returned):
    /// 1. `admin`: the admin listener closes (its event streams end);
    /// 2. `http`: the public listener stops accepting and lets the requests in flight finish
    ///    (inline replies) within `server.shutdown_grace`;
    /// 3. `jobs`: probes, retention, expiry and recovery stop (no turn is resumed after);
    /// 4. `agent-sync`: the agents table is no longer polled;
    /// 5. `turns`: the queued and running turns finish within `server.shutdown_grace` (their
    ///    deferred replies reach the outbox), then the router's threads stop;
    /// 6. `outbox`: one last round sends what the last turns queued; sends in flight finish;
    /// 7. `usage`: usage reports in flight finish;
    /// 8. `events`: the sinks take what they can within `server.shutdown_grace`; the rest is
    ///    spooled;
    /// 9. `resources`, after the group: plugins (sinks included) destroyed, store closed,
    ///    runtime (HTTP client, timer loop) shut down.
    /// Services absent from a configuration (admin, agent sync, usage) are skipped.
    public static let shutdownOrder = ["admin", "http", "jobs", "agent-sync", "turns", "outbox", "usage", "events", "resources"]

    /// The parts as named services, in the order of `shutdownOrder` (the group gets them
    /// reversed: it starts them in that order and stops them in the reverse).
    private func services() -> [GatewayService] {
        let parts: [(String, (any Service)?)] = [
            ("admin", admin), ("http", server), ("jobs", jobs), ("agent-sync", agentSync),
            ("turns", TurnDrain(router: conversations, grace: config.server.shutdownGrace, timerLoop: runtime.timerLoop, logger: logger)),
            ("outbox", outbox), ("usage", usageReporter), ("events", events),
        ]
        return parts.compactMap { name, service in
            service.map { GatewayService(name: name, service: $0, stopped: { [weak self] in self?.stopped.withLock { $0.append(name) } }) }
        }
    }

    /// Binds, starts everything and runs the service group; returns the bound port. Throws
    /// StartupErrors.
    @discardableResult
    public func start() async throws -> Int { try await start(onSignals: false) }

    /// `start()`; with `onSignals`, the group also shuts down gracefully on SIGTERM and SIGINT.
    func start(onSignals: Bool) async throws -> Int {
        guard group == nil, !tornDown.load(ordering: .acquiring) else {
            throw StartupErrors(problems: ["the gateway was started already; make a new Gateway"])
        }
        let insecure = SecureDefaults.problems(config)
        guard insecure.isEmpty else { throw StartupErrors(problems: insecure) }
        let files = FileLimit.raiseSoftToHard()
        logger.debug("open-file limit: \(files)")
        try await server.start()
        blocking.start()
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
                                          lockConnections: config.routing.maxConcurrent, timerLoop: runtime.timerLoop, logger: logger, exclusive: true)
                    try store.syncAgents(config.agents)
                } catch {
                    throw StartupErrors(problems: ["store \(Redactor.redactURL(config.store.url)): \(error)"])
                }
                do { return (store, try PluginSet.start(config, runtime: runtime)) } catch { store.close(); throw error }
            }
            self.store = store
            plugins = set
            let bus = try EventBus(config: config.events, sinks: set.sinks, spoolDir: relativeToConfig(config.events.spoolDir),
                                   shutdownGrace: config.server.shutdownGrace, timerLoop: runtime.timerLoop,
                                   metrics: runtime.metrics, logger: logger)
            events = bus
            let outbox = OutboxSender(store: store, channels: set.channels, maxAttempts: config.routing.outboxMaxAttempts, events: bus,
                                      blocking: blocking, timerLoop: runtime.timerLoop, metrics: runtime.metrics, logger: logger)
            self.outbox = outbox
            let meter = try startBilling(store: store, plugins: set, events: bus)
            let conv = ConversationRouter(store: store, agents: set.agents, config: config, metrics: runtime.metrics, logger: logger,
                                          closeAgent: { [set] h in set.closeAgent(h) }, events: bus, usage: meter,
                                          onOutbox: { [outbox] in outbox.kick() }, handoffReply: config.admin?.waitingReply,
                                          timerLoop: runtime.timerLoop)
            conversations = conv
            router = conv
            jobs = RouterJobs(router: conv, store: store, routing: config.routing, blocking: blocking, timerLoop: runtime.timerLoop, logger: logger)
            runtime.router = conv
            // Stored agent states and runtime agents before the recovery sweep and the probes.
            try await startAgentSync()
            try await startAdmin()
        } catch {
            await admin?.shutdown(grace: 0)
            await server.shutdown(grace: 0)
            await tearDown()
            throw error
        }
        server.openRoutes()
        recordLoadedConfig()
        ready.store(true, ordering: .releasing)
        logger.info("ready: \(plugins.channels.count) channel(s), \(plugins.agents.count) agent(s), routes \(runtime.routePaths)")
        let group = ServiceGroup(configuration: .init(services: services().reversed().map { .init(service: $0, serviceName: $0.name) },
                                                      gracefulShutdownSignals: onSignals ? [.sigterm, .sigint] : [], logger: logger))
        self.group = group
        running = Task { [self, logger] in
            do { try await group.run() } catch { logger.error("service group: \(error)") }
            await tearDown()
        }
        return server.boundPort
    }

    /// Accounts: stored tier/status changes apply and later ones are stored; agents with an
    /// account are metered (the meter returned, for the router); with a billing plugin, the
    /// ledger is reported to it (`usageReporter`).
    private func startBilling(store: any Store, plugins: PluginSet, events: EventBus) throws -> UsageMeter? {
        guard let accounts else { return nil }
        var meter: UsageMeter?
        do { try accounts.attach(store) } catch { throw StartupErrors(problems: ["store: cannot read account state: \(error)"]) }
        // With accounts: configured, runtime agents may name one too (admin API).
        if config.agents.contains(where: { $0.account != nil }) || !config.accounts.isEmpty {
            meter = UsageMeter(store: store, accounts: accounts, billing: config.billing, events: events,
                               metrics: runtime.metrics, logger: logger)
        }
        let chosen = config.billing.provider.flatMap { id in plugins.billing.first { $0.instanceId == id } } ?? plugins.billing.first
        guard let billing = chosen else { return meter }
        if config.billing.provider == nil && plugins.billing.count > 1 {
            logger.warning("billing: \(plugins.billing.count) billing plugins; usage goes to '\(billing.instanceId)' (set billing.provider to choose)")
        }
        usageReporter = UsageReporter(store: store, billing: billing, accounts: accounts, config: config.billing, events: events,
                                      blocking: blocking, timerLoop: runtime.timerLoop, metrics: runtime.metrics, logger: logger)
        return meter
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

    /// After the last service returned (or a failed start): destroys the plugins (sinks
    /// included), closes the store, stops the blocking pool and the runtime. At most once.
    private func tearDown() async {
        guard !tornDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        plugins?.shutdown()
        store?.close()
        try? await blocking.shutdownGracefully()
        runtime.shutdown()
        stopped.withLock { $0.append("resources") }
    }

    /// Shuts the gateway down gracefully in `shutdownOrder` and returns when it is down.
    /// Without a successful `start()`, releases what the gateway holds.
    public func stop() async {
        ready.store(false, ordering: .releasing)
        if let group, let running {
            await group.triggerGracefulShutdown()
            await running.value
        } else {
            await server.shutdown(grace: 0)
            await tearDown()
        }
    }

    /// As a service of someone else's group: starts, then runs until that group's graceful
    /// shutdown (or cancellation), which stops the gateway in `shutdownOrder`.
    public func run() async throws {
        try await start()
        await withTaskCancellationOrGracefulShutdownHandler {
            await running?.value
        } onCancelOrGracefulShutdown: { [self] in
            Task { await stop() }
        }
    }

    /// `darkspere run`: runs the gateway until SIGTERM or SIGINT (graceful shutdown of its
    /// service group); SIGHUP reloads, and the pid file lets `darkspere reload` find us.
    public func runUntilSignalled() async throws {
        try await start(onSignals: true)
        let hup = watchReloadSignal()
        let pid = PidFile(config: config)
        pid.write(logger: logger)
        await running?.value
        hup.stop()
        pid.remove()
    }
}

/// One part of the gateway in its service group: named (the group logs the name) and
/// reporting when its `run()` returned (`Gateway.stopped`).
struct GatewayService: Service, CustomStringConvertible {
    let name: String
    let service: any Service
    let stopped: @Sendable () -> Void

    func run() async throws {
        defer { stopped() }
        try await service.run()
    }

    var description: String { name }
}
