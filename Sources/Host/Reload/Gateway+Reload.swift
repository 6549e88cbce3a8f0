import Digests
import Foundation
import Logging
import PluginAPI

/// The result of one reload: applied (with what changed) or refused (with every problem,
/// as `darkspere check` prints them). The running gateway is unchanged after a refusal.
public struct ReloadOutcome: Sendable {
    /// True if the new config is the running one now (also when nothing changed).
    public var ok: Bool
    /// The config file's path.
    public var path: String
    /// The SHA-256 (hex) of the file read; "" if it could not be read.
    public var hash: String
    /// Every problem of a refused config (empty when `ok`).
    public var problems: [String]
    /// What changed (nil when refused).
    var diff: ConfigDiff?

    /// The refusal exactly as `darkspere check` prints it, or "<path>: reloaded (<what changed>)".
    public var text: String {
        ok ? "\(path): reloaded (\(diff?.summary ?? "no change")), config sha256 \(hash)" : ConfigCheck.text(path: path, problems: problems)
    }

    /// The admin API's answer.
    public var json: JSONValue {
        var f: [(String, JSONValue)] = [("ok", .bool(ok)), ("path", .string(path)), ("hash", .string(hash))]
        if let diff { f.append(("changed", .object(diff.fields))) }
        if !ok { f.append(("problems", .array(problems.map { .string($0) }))); f.append(("text", .string(text))) }
        return .object(f)
    }
}

/// One reload at a time: a second caller waits for the first to finish.
actor ReloadQueue {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        guard busy else { busy = true; return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty { busy = false } else { waiters.removeFirst().resume() }
    }
}

/// Reload: re-read the config file and apply the difference without a restart.
///
/// Order: check the new file as `darkspere check` does (YAML, keys, plugins' schemas and
/// validate_config, agents, secure defaults) and refuse keys that need a restart; create
/// the added and changed plugin instances in a staged set (their routes wait in the
/// runtime's staging area); then commit in one step: routes, channels of the outbox,
/// sinks, billing, accounts and tiers, `routes:`/`routing:`, the config. Any problem before
/// the commit destroys what was staged and leaves the running gateway as it was. Replaced
/// and removed instances are destroyed in the background once their last operation
/// finished (`InstanceRetirer`); a removed channel's routes are taken away only then.
///
/// Threading: `reload` may be called from any task; reloads run one at a time.
extension Gateway {
    /// Re-reads `config.sourcePath` and applies it, or refuses it as a whole.
    /// `trigger` says who asked ("SIGHUP", "admin:<token name>", "api") for the log and event.
    @discardableResult
    public func reload(trigger: String = "api") async -> ReloadOutcome {
        await reloads.acquire()
        let outcome = await reloadLocked(trigger: trigger)
        await reloads.release()
        let m = runtime.metrics
        m.counter("darkspere_config_reloads_total", help: "Config reloads by result", labels: [("result", outcome.ok ? "ok" : "failed")]).increment()
        if outcome.ok {
            logger.info("reload (\(trigger)): \(outcome.text)")
            events?.emit(Event("config.reloaded", fields: [("trigger", .string(trigger)), ("hash", .string(outcome.hash))]
                                                      + (outcome.diff?.fields ?? [])))
        } else {
            logger.error("reload (\(trigger)) refused; the running config stays:\n\(outcome.text)")
            events?.emit(Event("config.reload_failed", fields: [("trigger", .string(trigger)), ("hash", .string(outcome.hash)),
                                                               ("problems", .array(outcome.problems.map { .string($0) }))]))
        }
        return outcome
    }

    /// Sets `darkspere_config_info{hash}` (and the failure/success counters' zero values).
    func recordLoadedConfig(hash given: String? = nil) {
        let hash = given ?? Self.fileHash(config.sourcePath) ?? ""
        let m = runtime.metrics
        let old = configHash.withLock { h in let o = h; h = hash; return o }
        if old != hash && !old.isEmpty { m.remove("darkspere_config_info", labels: [("hash", old)]) }
        m.gauge("darkspere_config_info", help: "The loaded configuration (label hash: SHA-256 of the config file)", labels: [("hash", hash)]).record(1)
        for r in ["ok", "failed"] { _ = m.counter("darkspere_config_reloads_total", help: "Config reloads by result", labels: [("result", r)]) }
    }

    static func fileHash(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { Digest.hex(Digest.sha256(Array($0))) }
    }

    private func reloadLocked(trigger: String) async -> ReloadOutcome {
        let old = config
        let path = old.sourcePath
        let hash = Self.fileHash(path) ?? ""
        func refuse(_ problems: [String]) -> ReloadOutcome { ReloadOutcome(ok: false, path: path, hash: hash, problems: problems) }
        guard let plugins, let store, let conversations else { return refuse(["the gateway is not running"]) }

        // 1. Check the file as `darkspere check` does (it loads libraries and calls validate_config: off the pool).
        let (read, checkProblems) = (try? await Self.offPool { ConfigCheck.inspect(path: path) }) ?? (nil, ["cannot check the file"])
        guard var edited = read else { return refuse(checkProblems) }
        edited.sourcePath = path
        let new = edited
        let search = new.pluginPath.isEmpty ? PluginLoader.defaultSearchPath() : new.pluginPath
        let configDir = (path as NSString).deletingLastPathComponent
        let loader = plugins.loader
        // A library replaced on disk (by rename): the running instance's file is not the one at
        // its path now. (Compared with the instance's library, not the loader's cache: the check
        // above has already loaded the new file.)
        let diff = ConfigDiff(old: old, new: new) { entry in
            guard let p = try? loader.resolve(entry.library, searchPath: search, configDir: configDir),
                  let running = plugins.instances(ids: [entry.id]).first?.library.identity else { return false }
            return FileIdentity(path: URL(fileURLWithPath: p).resolvingSymlinksInPath().path) != running
        }
        var problems = checkProblems
        problems += diff.restartKeys.map { "\($0): cannot change without a restart (the running gateway keeps its current value; restart it to apply this)" }
        guard problems.isEmpty else { return refuse(problems) }
        guard !diff.isEmpty else {
            configBox.withLock { $0 = new }
            recordLoadedConfig(hash: hash)
            return ReloadOutcome(ok: true, path: path, hash: hash, problems: [], diff: diff)
        }

        // 2. Stage the added and changed instances.
        let retiringIds = Set(diff.pluginsRemoved + diff.pluginsChanged)
        let retiring = plugins.instances(ids: retiringIds)
        let entries = new.plugins.filter { $0.enabled && (diff.pluginsAdded.contains($0.id) || diff.pluginsChanged.contains($0.id)) }
        runtime.beginStaging(yielding: retiring.map(\.handle))
        let staged: PluginSet
        do {
            staged = try await Self.offPool { try plugins.stage(entries, config: new) }
        } catch let e as StartupErrors {
            runtime.abortStaging()
            return refuse(e.problems)
        } catch {
            runtime.abortStaging()
            return refuse(["\(error)"])
        }
        func abort(_ problems: [String]) async -> ReloadOutcome {
            runtime.abortStaging()
            try? await Self.offPool { staged.shutdown() }
            return refuse(problems)
        }

        // 3. Problems only visible with the instances made: agents' transports, billing.
        let transportsAfter = plugins.transports.filter { !retiringIds.contains($0.key) }.merging(staged.transports) { a, _ in a }
        var late: [String] = []
        for a in new.agents where transportsAfter[a.transport] == nil {
            late.append("agent '\(a.name)' (line \(a.line)): plugin '\(a.transport)' offers no \(DS_AGENT_TRANSPORT_V1) interface")
        }
        let billingAfter = plugins.billing.filter { !retiringIds.contains($0.instanceId) } + staged.billing
        let chosenBilling = new.billing.provider.flatMap { id in billingAfter.first { $0.instanceId == id } } ?? billingAfter.first
        if (usageReporter == nil) != (chosenBilling == nil) {
            late.append(usageReporter == nil ? "plugins: adding the first billing plugin needs a restart"
                                             : "plugins: removing the billing plugin needs a restart")
        }
        let agentPlan = AgentReloadPlan(diff: diff, old: old, new: new, retiringTransports: retiringIds)
        let opened: [String: AgentHandle]
        do {
            opened = try await Self.offPool { try agentPlan.open(new, transports: transportsAfter, set: plugins) }
        } catch let e as StartupErrors {
            return await abort(late + e.problems)
        } catch {
            return await abort(late + ["\(error)"])
        }
        if !late.isEmpty {
            for h in opened.values { h.transport.close(h) }
            return await abort(late)
        }
        if diff.accounts || diff.tiers, let accounts {
            do { try accounts.replace(accounts: new.accounts, tiers: new.tiers) } catch {
                for h in opened.values { h.transport.close(h) }
                return await abort(["store: cannot read account state: \(error)"])
            }
        }

        // 4. Commit.
        let stagedHandles = staged.instances.map(\.handle)
        let replacedHandles = plugins.instances(ids: Set(diff.pluginsChanged)).map(\.handle)
        for p in runtime.commitStaging(replaced: replacedHandles, staged: stagedHandles) { logger.warning("reload: \(p)") }
        let newSinks = staged.sinks
        let retired = plugins.adopt(staged, retiring: retiringIds)
        outbox?.setChannels(plugins.channels)
        admin?.setChannels(plugins.channels.map(\.instanceId))
        var retiredSinks: [LogSinkInstance] = []
        if let events {
            for s in newSinks {
                if diff.pluginsChanged.contains(s.instanceId), let old = events.handOver(to: s) {
                    retiredSinks.append(old)
                } else {
                    do { try events.add(s) } catch { logger.error("reload: sink '\(s.instanceId)': cannot open its spool file: \(error)") }
                }
            }
        }
        if let reporter = usageReporter, let chosenBilling, reporter.billing !== chosenBilling {
            _ = reporter.replaceBilling(chosenBilling)
        }
        conversations.configReloaded(new)
        admin?.setGatewayConfig(new)
        agentPlan.commit(opened, new: new, router: conversations, set: plugins)
        if conversations.usage == nil, new.agents.contains(where: { $0.account != nil }), let accounts {
            conversations.installUsage(UsageMeter(store: store, accounts: accounts, billing: new.billing, events: events,
                                                  metrics: runtime.metrics, logger: logger))
        }
        configBox.withLock { $0 = new }
        recordLoadedConfig(hash: hash)
        if signalWatched.load(ordering: .relaxed) { ReloadSignal.reassert() }   // a new instance may have taken SIGHUP
        let agents = new.agents
        do { try await Self.offPool { try store.syncAgents(agents) } } catch { logger.error("reload: store: cannot record the agents: \(error)") }

        // 5. Retire what was replaced or removed, in the background.
        let removedSinkIds = Set(diff.pluginsRemoved).intersection(Set(retired.compactMap { ($0 as? LogSinkInstance)?.instanceId }))
        let retirer = InstanceRetirer(runtime: runtime, plugins: plugins, events: events, logger: logger,
                                      drainLimit: new.server.requestTimeout + new.routing.agentTimeout, sinkGrace: new.server.shutdownGrace)
        let removedChannels = Set(retired.filter { $0 is ChannelInstance && diff.pluginsRemoved.contains($0.instanceId) }.map { ObjectIdentifier($0) })
        Task.detached { await retirer.retire(retired + retiredSinks.filter { s in !retired.contains { $0 === s } },
                                             removedChannels: removedChannels, removedSinks: removedSinkIds) }
        return ReloadOutcome(ok: true, path: path, hash: hash, problems: [], diff: diff)
    }

    /// Reloads on SIGHUP until the returned watcher is stopped (`darkspere run`).
    func watchReloadSignal() -> ReloadSignal {
        signalWatched.store(true, ordering: .relaxed)
        return ReloadSignal { [weak self] in
            guard let self else { return }
            Task { await self.reload(trigger: "SIGHUP") }
        }
    }
}
