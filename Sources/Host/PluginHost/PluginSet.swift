import PluginAPI
import Foundation
import Logging
import Synchronization

/// Every plugin instance and agent the configuration asks for, created and opened.
/// Built at start-up; a reload builds the instances it adds in a second set sharing this
/// one's loader (`stage`) and then moves them in (`adopt`). Agents may be opened and
/// closed later (runtime agents and reload, `openAgent` / `closeAgent`, thread-safe under
/// `agentLock`); `shutdown` closes those still open.
///
/// Threading: the lists are read from any thread (each read is a consistent snapshot);
/// only the gateway's start-up and its reload (one at a time) change the instances.
/// Unchecked Sendable: `agentList` and `closedWaiters` only under `agentLock` after start-up (written by start-up
/// before the set is shared; `agents` reads it under the lock); the other lists are in a
/// Mutex; the rest is immutable.
public final class PluginSet: @unchecked Sendable {
    struct Lists {
        var channels: [ChannelInstance] = []
        var transports: [String: AgentTransportInstance] = [:]
        var billing: [BillingInstance] = []
        var sinks: [LogSinkInstance] = []
    }
    let lists = Mutex(Lists())
    public var channels: [ChannelInstance] { lists.withLock { $0.channels } }
    public var transports: [String: AgentTransportInstance] { lists.withLock { $0.transports } }
    public var billing: [BillingInstance] { lists.withLock { $0.billing } }
    public var sinks: [LogSinkInstance] { lists.withLock { $0.sinks } }
    /// The agents open now (a snapshot: runtime agents and reloads open and close them).
    public var agents: [AgentHandle] { agentLock.withLock { agentList } }
    var agentList: [AgentHandle] = []
    /// Guards `agentList` after start-up (and `closedWaiters`), and a close against `shutdown`.
    let agentLock = NSLock()
    /// `whenAgentsClosed` waiters: called once their transport has no open agent.
    private var closedWaiters: [(transport: AgentTransportInstance, waiter: @Sendable () -> Void)] = []
    public let loader: PluginLoader
    let runtime: HostRuntime

    init(runtime: HostRuntime, loader: PluginLoader? = nil) {
        self.runtime = runtime
        self.loader = loader ?? PluginLoader(hostTable: runtime.table)
    }

    /// Every instance of every interface, in creation order (channels, transports, billing, sinks).
    var instances: [PluginInstanceBase] {
        lists.withLock { l in l.channels + Array(l.transports.values) + l.billing + l.sinks }
    }

    public func channel(_ id: String) -> ChannelInstance? { channels.first { $0.instanceId == id } }

    /// Loads every enabled plugin, checks its config against its schema, creates its
    /// instances and opens every agent. Throws `StartupErrors` listing every problem;
    /// on failure nothing stays created.
    public static func start(_ config: GatewayConfig, runtime: HostRuntime, openAgents: Bool = true) throws -> PluginSet {
        let set = PluginSet(runtime: runtime)
        runtime.publicURL = config.server.publicURL
        var problems: [String] = []
        let search = config.pluginPath.isEmpty ? PluginLoader.defaultSearchPath() : config.pluginPath
        let configDir = (config.sourcePath as NSString).deletingLastPathComponent
        for entry in config.plugins where entry.enabled {
            do {
                let lib = try set.load(entry, search: search, configDir: configDir)
                try set.create(entry, lib)
            } catch let e as PluginLoadError {
                problems.append(e.message)
            } catch let e as StartupErrors {
                problems.append(contentsOf: e.problems)
            } catch {
                problems.append("plugin '\(entry.id)': \(error)")
            }
        }
        if problems.isEmpty && openAgents {
            for a in config.agents {
                guard let t = set.transports[a.transport] else {
                    problems.append("agent '\(a.name)' (line \(a.line)): plugin '\(a.transport)' offers no \(DS_AGENT_TRANSPORT_V1) interface")
                    continue
                }
                do {
                    let schemaProblems = try Self.schemaProblems(t.library.agentConfigSchema, "agent_config_schema", json: a.configJSON,
                                                                 who: "agent '\(a.name)' of \(t.library.who(a.transport))",
                                                                 at: "agents[\(a.index)].config", lines: a.configLines, line: a.line)
                    if !schemaProblems.isEmpty { problems += schemaProblems; continue }
                    set.agentList.append(try t.open(name: a.name, configJSON: t.library.agentWithDefaults(a.configJSON)))
                } catch { problems.append("\(error)") }
            }
        }
        if !problems.isEmpty {
            set.shutdown()
            throw StartupErrors(problems: problems)
        }
        return set
    }

    /// Loads an entry's library and validates its config block (without creating anything).
    func load(_ entry: PluginEntry, search: [String], configDir: String) throws -> PluginLibrary {
        let path: String
        do { path = try loader.resolve(entry.library, searchPath: search, configDir: configDir) } catch let e as PluginLoadError {
            throw PluginLoadError(message: "plugin '\(entry.id)' (line \(entry.line)): \(e.message)")
        }
        let lib = try loader.load(path: path, expectedBy: entry.id)
        let who = lib.who(entry.id)
        let known = [DS_CHANNEL_V1, DS_AGENT_TRANSPORT_V1, DS_BILLING_V1, DS_LOG_SINK_V1]
        guard lib.interfaces.contains(where: known.contains) else {
            throw PluginLoadError(message: "\(who): offers none of the interfaces this host serves (\(known.joined(separator: ", "))); it lists \(lib.interfaces.isEmpty ? "none" : lib.interfaces.joined(separator: ", "))")
        }
        let problems = try Self.schemaProblems(lib.configSchema, "config_schema", json: entry.configJSON, who: who,
                                               at: "plugins[\(entry.index)].config", lines: entry.configLines, line: entry.line)
        if !problems.isEmpty { throw StartupErrors(problems: problems) }
        return lib
    }

    /// Violations of a JSON text against a plugin's schema, one message each:
    /// "<who>: line N: <at>.<field>: <why>". Throws if the schema itself is not JSON.
    static func schemaProblems(_ schemaText: String?, _ schemaName: String, json: String, who: String, at: String,
                               lines: [String: Int], line: Int) throws -> [String] {
        guard let schemaText else { return [] }
        let schema: JSONSchema
        do { schema = try JSONSchema(json: schemaText) } catch {
            throw PluginLoadError(message: "\(who): its \(schemaName) is not valid JSON: \(error)")
        }
        return schema.validate(json: json).map { v in
            let rel = v.path == "config" ? "" : v.path
            let l = lines[rel] ?? line
            return "\(who): line \(l): \(at)\(rel.isEmpty ? "" : (rel.hasPrefix("[") ? rel : ".\(rel)")): \(v.message)"
        }
    }

    func create(_ entry: PluginEntry, _ lib: PluginLibrary) throws {
        let who = lib.who(entry.id)
        for iface in lib.interfaces {
            let handle = runtime.makeHandle(entry.id, interfaceId: iface)
            var err = ds_error()
            err.struct_size = UInt32(MemoryLayout<ds_error>.size)
            var out: UnsafeMutableRawPointer? = nil
            func created(_ status: ds_status) throws -> PluginInstanceBase {
                guard status == DS_OK else {
                    throw PluginLoadError(message: "\(who): create failed: \(errorText(&err)) [status \(status)]")
                }
                return PluginInstanceBase(instanceId: entry.id, library: lib, interfaceId: iface, handle: handle, instance: out)
            }
            try withDSStr(lib.withDefaults(entry.configJSON)) { cfg in
                switch iface {
                case DS_CHANNEL_V1:
                    guard let t = lib.table(iface, as: ds_channel_v1.self) else { throw missing(who, iface) }
                    let made = ChannelInstance(base: try created(t.pointee.create(lib.descriptor, handle.pointer, cfg, &out, &err)), table: t)
                    lists.withLock { $0.channels.append(made) }
                case DS_AGENT_TRANSPORT_V1:
                    guard let t = lib.table(iface, as: ds_agent_transport_v1.self) else { throw missing(who, iface) }
                    let made = AgentTransportInstance(base: try created(t.pointee.create(lib.descriptor, handle.pointer, cfg, &out, &err)), table: t)
                    lists.withLock { $0.transports[entry.id] = made }
                case DS_BILLING_V1:
                    guard let t = lib.table(iface, as: ds_billing_v1.self) else { throw missing(who, iface) }
                    let made = BillingInstance(base: try created(t.pointee.create(lib.descriptor, handle.pointer, cfg, &out, &err)), table: t)
                    lists.withLock { $0.billing.append(made) }
                case DS_LOG_SINK_V1:
                    guard let t = lib.table(iface, as: ds_log_sink_v1.self) else { throw missing(who, iface) }
                    let made = LogSinkInstance(base: try created(t.pointee.create(lib.descriptor, handle.pointer, cfg, &out, &err)), table: t)
                    lists.withLock { $0.sinks.append(made) }
                default:
                    break   // an interface this host does not serve: ignored
                }
            }
        }
    }

    /// Problems of an agent to open at runtime (unknown transport, config against the
    /// transport's agent schema and validate_agent_config), one message each; empty: it
    /// may be opened. Threading: any thread.
    public func agentProblems(_ a: AgentEntry) -> [String] {
        guard let t = transports[a.transport] else {
            let offered = transports.keys.sorted()
            return ["transport '\(a.transport)' is not a plugin offering \(DS_AGENT_TRANSPORT_V1) (offered by: \(offered.isEmpty ? "none" : offered.joined(separator: ", ")))"]
        }
        return checkAgentProblems(a, t.library)
    }

    /// Opens an agent after start-up (runtime agents); throws `StartupErrors` with its
    /// problems (see `agentProblems`) or the transport's refusal. Threading: any thread;
    /// the transport's `open` may block.
    public func openAgent(_ a: AgentEntry) throws -> AgentHandle {
        let problems = agentProblems(a)
        guard problems.isEmpty, let t = transports[a.transport] else { throw StartupErrors(problems: problems) }
        let h: AgentHandle
        do { h = try t.open(name: a.name, configJSON: t.library.agentWithDefaults(a.configJSON)) } catch let e as PluginLoadError {
            throw StartupErrors(problems: [e.message])
        }
        agentLock.withLock { agentList.append(h) }
        return h
    }

    /// Closes one agent (removed or replaced, once no call holds it); nothing if it is not
    /// open (already closed, or after `shutdown`). Threading: any thread.
    public func closeAgent(_ h: AgentHandle) {
        let done = agentLock.withLock { () -> [@Sendable () -> Void] in
            guard let i = agentList.firstIndex(where: { $0 === h }) else { return [] }
            agentList.remove(at: i)
            h.transport.close(h)
            return takeClosedWaiters()
        }
        for w in done { w() }
    }

    /// Calls `waiter` once, as soon as no agent is open on `transport` (at once if none
    /// is): on this thread or on the one that closes the last agent. It must be short.
    func whenAgentsClosed(on transport: AgentTransportInstance, _ waiter: @escaping @Sendable () -> Void) {
        let now = agentLock.withLock { () -> Bool in
            if agentList.contains(where: { $0.transport === transport }) { closedWaiters.append((transport, waiter)); return false }
            return true
        }
        if now { waiter() }
    }

    /// The waiters whose transport has no open agent left, taken out. With `agentLock` held.
    private func takeClosedWaiters() -> [@Sendable () -> Void] {
        guard !closedWaiters.isEmpty else { return [] }
        var done: [@Sendable () -> Void] = []
        closedWaiters.removeAll { w in
            guard !agentList.contains(where: { $0.transport === w.transport }) else { return false }
            done.append(w.waiter)
            return true
        }
        return done
    }

    private func missing(_ who: String, _ iface: String) -> PluginLoadError {
        PluginLoadError(message: "\(who): lists \(iface) but get_interface returned NULL")
    }

    /// Closes agents and destroys instances (reverse order of creation).
    public func shutdown() {
        let done = agentLock.withLock { () -> [@Sendable () -> Void] in
            for a in agentList.reversed() { a.transport.close(a) }
            agentList.removeAll()
            return takeClosedWaiters()
        }
        for w in done { w() }
        let l = lists.withLock { l -> Lists in let all = l; l = Lists(); return all }
        for s in l.sinks.reversed() { s.destroy() }
        for b in l.billing.reversed() { b.destroy() }
        for t in l.transports.values { t.destroy() }
        for c in l.channels.reversed() { c.destroy() }
    }
}

/// Several start-up problems at once.
public struct StartupErrors: Error, CustomStringConvertible, Sendable {
    public var problems: [String]
    public var description: String { problems.joined(separator: "\n") }
}
