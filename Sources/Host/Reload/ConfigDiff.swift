import Foundation

/// What a reload changes: the difference between the running configuration and a new one.
///
/// Plugins and agents are compared by id / name. A plugin entry counts as changed when its
/// `library`, `config` or `enabled` changed, or its library file was replaced on disk (a new
/// file identity: `libraryReplaced`). Keys the running gateway cannot change without a
/// restart are listed in `restartKeys` (a reload that touches them is refused).
/// Plain values; built on the reloading task.
struct ConfigDiff: Sendable {
    var pluginsAdded: [String] = []
    var pluginsRemoved: [String] = []
    var pluginsChanged: [String] = []
    var agentsAdded: [String] = []
    var agentsRemoved: [String] = []
    var agentsChanged: [String] = []
    var routes = false
    var routing: [String] = []
    var accounts = false
    var tiers = false
    var restartKeys: [String] = []

    /// The keys of `routing:` a reload applies; the others size or start parts of the
    /// router once (thread pool, breakers, probes, retention, outbox) and need a restart.
    static let reloadableRouting: Set<String> = ["session_timeout", "history_depth", "inline_reply_budget", "no_agent_reply",
                                                 "opt_out_reply", "opt_in_reply", "help_reply"]

    init(old: GatewayConfig, new: GatewayConfig, libraryReplaced: (PluginEntry) -> Bool) {
        // Restart-only sections and keys.
        restartKeys += Self.changedKeys("server", old.server, new.server).map { k in
            k == "server.host" || k == "server.port" ? "server.listen" : k
        }
        restartKeys += Self.changedKeys("store", old.store, new.store)
        restartKeys += Self.changedKeys("events", old.events, new.events)
        restartKeys += Self.changedKeys("billing", old.billing, new.billing)
        if (old.admin == nil) != (new.admin == nil) {
            restartKeys.append("admin")
        } else if let a = old.admin, let b = new.admin {
            restartKeys += Self.changedKeys("admin", a, b).map { k in k == "admin.host" || k == "admin.port" ? "admin.listen" : k }
            let ta = a.tokens.map { "\($0.name)\u{1F}\($0.token)\u{1F}\($0.role.rawValue)" }
            let tb = b.tokens.map { "\($0.name)\u{1F}\($0.token)\u{1F}\($0.role.rawValue)" }
            if ta != tb { restartKeys.append("admin.tokens") }
        }
        var seen = Set<String>()
        restartKeys = restartKeys.filter { seen.insert($0).inserted }
        for k in Self.changedKeys("routing", old.routing, new.routing) {
            let key = String(k.dropFirst("routing.".count))
            if Self.reloadableRouting.contains(key) { routing.append(k) } else { restartKeys.append(k) }
        }

        let before = Dictionary(old.plugins.filter(\.enabled).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let after = Dictionary(new.plugins.filter(\.enabled).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for p in new.plugins where p.enabled {
            guard let o = before[p.id] else { pluginsAdded.append(p.id); continue }
            if o.library != p.library || o.configJSON != p.configJSON || libraryReplaced(p) { pluginsChanged.append(p.id) }
        }
        pluginsRemoved = old.plugins.filter { $0.enabled && after[$0.id] == nil }.map(\.id)

        let oldAgents = Dictionary(old.agents.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let newNames = Set(new.agents.map(\.name))
        for a in new.agents {
            guard let o = oldAgents[a.name] else { agentsAdded.append(a.name); continue }
            if !Self.sameAgent(o, a) { agentsChanged.append(a.name) }
        }
        agentsRemoved = old.agents.filter { !newNames.contains($0.name) }.map(\.name)

        routes = Self.routesText(old.routes) != Self.routesText(new.routes)
        func unlined(_ l: [AccountEntry]) -> [AccountEntry] { l.map { var a = $0; a.line = 0; return a } }
        accounts = unlined(old.accounts) != unlined(new.accounts)
        tiers = old.tiers != new.tiers
    }

    /// True if the new config changes nothing the gateway runs with.
    var isEmpty: Bool {
        pluginsAdded.isEmpty && pluginsRemoved.isEmpty && pluginsChanged.isEmpty && agentsAdded.isEmpty && agentsRemoved.isEmpty
            && agentsChanged.isEmpty && !routes && routing.isEmpty && !accounts && !tiers
    }

    /// The change as JSON: the `config.reloaded` event's fields and the reload API's answer.
    var fields: [(String, JSONValue)] {
        func list(_ l: [String]) -> JSONValue { .array(l.map { .string($0) }) }
        return [("plugins_added", list(pluginsAdded)), ("plugins_removed", list(pluginsRemoved)), ("plugins_changed", list(pluginsChanged)),
                ("agents_added", list(agentsAdded)), ("agents_removed", list(agentsRemoved)), ("agents_changed", list(agentsChanged)),
                ("routes_changed", .bool(routes)), ("routing_changed", list(routing)), ("accounts_changed", .bool(accounts)),
                ("tiers_changed", .bool(tiers))]
    }

    /// One line for the log: "plugins +a -b ~c; agents +x; routes; ..." or "no change".
    var summary: String {
        var parts: [String] = []
        func group(_ name: String, _ a: [String], _ r: [String], _ c: [String]) {
            let items = a.map { "+\($0)" } + r.map { "-\($0)" } + c.map { "~\($0)" }
            if !items.isEmpty { parts.append("\(name) \(items.joined(separator: " "))") }
        }
        group("plugins", pluginsAdded, pluginsRemoved, pluginsChanged)
        group("agents", agentsAdded, agentsRemoved, agentsChanged)
        if routes { parts.append("routes") }
        if !routing.isEmpty { parts.append(routing.joined(separator: " ")) }
        if accounts { parts.append("accounts") }
        if tiers { parts.append("tiers") }
        return parts.isEmpty ? "no change" : parts.joined(separator: "; ")
    }

    static func sameAgent(_ a: AgentEntry, _ b: AgentEntry) -> Bool {
        a.transport == b.transport && a.configJSON == b.configJSON && a.maxSessions == b.maxSessions && a.maxInFlight == b.maxInFlight
            && a.historyDepth == b.historyDepth && a.account == b.account
    }

    /// The stored properties of two values of one plain struct that differ, as
    /// "section.snake_key" (values are never printed: some are secrets).
    static func changedKeys<T>(_ section: String, _ a: T, _ b: T) -> [String] {
        let ma = Mirror(reflecting: a), mb = Mirror(reflecting: b)
        var out: [String] = []
        for (ca, cb) in zip(ma.children, mb.children) {
            guard let label = ca.label, label != "line" else { continue }
            if String(describing: ca.value) != String(describing: cb.value) { out.append("\(section).\(snake(label))") }
        }
        return out
    }

    static func snake(_ camel: String) -> String {
        var out = ""
        for c in camel {
            if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) }
        }
        return out.replacingOccurrences(of: "u_r_l", with: "url")
    }

    static func routesText(_ r: [RouteEntry]) -> String {
        r.map { "\($0.to ?? "")|\($0.keyword ?? "")|\($0.agents.joined(separator: ","))" }.joined(separator: "\n")
    }
}
