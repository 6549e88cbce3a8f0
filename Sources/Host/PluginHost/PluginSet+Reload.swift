import PluginAPI
import Foundation

/// What a reload does to the plugin set: create the instances it adds or changes in a
/// staged set (sharing the loader, so a library is loaded once and a replaced file is
/// picked up by its identity), then move them in and take the retired ones out.
/// Called by the gateway's reload only (one at a time).
extension PluginSet {
    /// Loads and creates the instances of `entries` in a new set sharing this set's loader
    /// and runtime. Throws `StartupErrors` with every problem; on failure nothing stays created.
    func stage(_ entries: [PluginEntry], config: GatewayConfig) throws -> PluginSet {
        let staged = PluginSet(runtime: runtime, loader: loader)
        var problems: [String] = []
        let search = config.pluginPath.isEmpty ? PluginLoader.defaultSearchPath() : config.pluginPath
        let configDir = (config.sourcePath as NSString).deletingLastPathComponent
        for entry in entries where entry.enabled {
            do {
                try staged.create(entry, try staged.load(entry, search: search, configDir: configDir))
            } catch let e as PluginLoadError {
                problems.append(e.message)
            } catch let e as StartupErrors {
                problems.append(contentsOf: e.problems)
            } catch {
                problems.append("plugin '\(entry.id)': \(error)")
            }
        }
        if !problems.isEmpty {
            staged.shutdown()
            throw StartupErrors(problems: problems)
        }
        return staged
    }

    /// Records an agent a reload opened (so `closeAgent` and `shutdown` close it).
    func adoptAgent(_ h: AgentHandle) { agentLock.withLock { agentList.append(h) } }

    /// The instances whose `plugins:` id is in `ids`.
    func instances(ids: Set<String>) -> [PluginInstanceBase] { instances.filter { ids.contains($0.instanceId) } }

    /// Moves `staged`'s instances in and takes out those whose id is in `retiring`
    /// (returned, to be destroyed once drained). Agents are not touched.
    @discardableResult
    func adopt(_ staged: PluginSet, retiring: Set<String>) -> [PluginInstanceBase] {
        let new = staged.lists.withLock { l -> Lists in let all = l; l = Lists(); return all }
        return lists.withLock { l -> [PluginInstanceBase] in
            var out: [PluginInstanceBase] = []
            out += l.channels.filter { retiring.contains($0.instanceId) }
            out += l.transports.values.filter { retiring.contains($0.instanceId) }
            out += l.billing.filter { retiring.contains($0.instanceId) }
            out += l.sinks.filter { retiring.contains($0.instanceId) }
            l.channels.removeAll { retiring.contains($0.instanceId) }
            l.transports = l.transports.filter { !retiring.contains($0.key) }
            l.billing.removeAll { retiring.contains($0.instanceId) }
            l.sinks.removeAll { retiring.contains($0.instanceId) }
            l.channels += new.channels
            for (k, v) in new.transports { l.transports[k] = v }
            l.billing += new.billing
            l.sinks += new.sinks
            return out
        }
    }
}

extension PluginInstanceBase {
    /// Operations of this instance still running in the plugin.
    var pendingOperations: Int { handle.pending.load(ordering: .relaxed) }

    /// Destroys the instance through its interface's `destroy`.
    func destroyInstance() {
        switch self {
        case let c as ChannelInstance: c.destroy()
        case let t as AgentTransportInstance: t.destroy()
        case let b as BillingInstance: b.destroy()
        case let s as LogSinkInstance: s.destroy()
        default: break
        }
    }
}
