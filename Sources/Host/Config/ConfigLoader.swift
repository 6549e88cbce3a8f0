import Foundation
import Yams

/// One problem found in a configuration: where (key path and line) and why.
public struct ConfigProblem: Error, CustomStringConvertible, Sendable, Equatable {
    public var path: String
    public var line: Int
    public var message: String
    public init(path: String, line: Int, message: String) { self.path = path; self.line = line; self.message = message }
    public var description: String {
        let at = line > 0 ? "line \(line): " : ""
        return path.isEmpty ? "\(at)\(message)" : "\(at)\(path): \(message)"
    }
}

/// Every problem of a configuration; thrown by `ConfigLoader.load`.
public struct ConfigErrors: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var problems: [ConfigProblem]
    public var description: String {
        "\(file): \(problems.count) problem\(problems.count == 1 ? "" : "s"):\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// Reads plugins.yaml: YAML, `${VAR}` / `${VAR:-default}` from the environment,
/// strict keys (unknown keys are errors), every problem reported with key path and line.
public struct ConfigLoader: Sendable {
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public func load(path: String) throws -> GatewayConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigErrors(file: path, problems: [ConfigProblem(path: "", line: 0, message: "cannot read the file")])
        }
        var config = try load(yaml: String(decoding: data, as: UTF8.self), file: path)
        config.sourcePath = path
        return config
    }

    public func load(yaml: String, file: String = "plugins.yaml") throws -> GatewayConfig {
        let (config, problems) = inspect(yaml: yaml)
        if !problems.isEmpty { throw ConfigErrors(file: file, problems: problems) }
        return config
    }

    /// Everything that could be read, with every problem found (for `darkspere check`,
    /// which goes on to check the plugins of a config that has problems of its own).
    public func inspect(yaml: String) -> (GatewayConfig, [ConfigProblem]) {
        var reader = Reader(env: environment)
        let config = reader.read(yaml: yaml)
        return (config, reader.problems)
    }
}

/// A walk over the YAML node tree that fills GatewayConfig and collects problems.
struct Reader {
    let env: [String: String]
    var problems: [ConfigProblem] = []

    init(env: [String: String]) { self.env = env }

    mutating func problem(_ path: String, _ node: Node?, _ message: String) {
        problems.append(ConfigProblem(path: path, line: node?.mark?.line ?? 0, message: message))
    }

    mutating func read(yaml: String) -> GatewayConfig {
        var config = GatewayConfig()
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch let error as YamlError {
            problem("", nil, "not valid YAML: \(error)")
            return config
        } catch {
            problem("", nil, "not valid YAML: \(error)")
            return config
        }
        guard let root, let top = mapping(root, "") else { return config }
        for (key, value) in top {
            switch key {
            case "server": readServer(value, &config.server)
            case "store": readStore(value, &config.store)
            case "routing": readRouting(value, &config.routing)
            case "events": readEvents(value, &config.events)
            case "plugin_path":
                if let s = sequence(value, "plugin_path") {
                    config.pluginPath = s.enumerated().compactMap { string($1, "plugin_path[\($0)]") }
                } else if case .scalar = value, let s = string(value, "plugin_path") {
                    config.pluginPath = s.split(separator: ":").map(String.init)
                }
            case "plugins": config.plugins = readPlugins(value)
            case "agents": config.agents = readAgents(value)
            case "routes": config.routes = readRoutes(value)
            case "accounts": config.accounts = readAccounts(value)
            case "tiers": config.tiers = readTiers(value)
            case "billing": readBilling(value, &config.billing)
            case "admin": config.admin = readAdmin(value)
            case "abuse": config.abuse = readAbuse(value)
            default: unknown(key, "", value, ["server", "store", "routing", "events", "plugin_path", "plugins", "agents", "routes", "accounts", "tiers", "billing", "admin", "abuse"])
            }
        }
        crossCheck(&config)
        crossCheckAccounts(config)
        return config
    }

    // MARK: sections

    mutating func readServer(_ node: Node, _ s: inout ServerConfig) {
        guard let m = mapping(node, "server") else { return }
        for (key, v) in m {
            let p = "server.\(key)"
            switch key {
            case "listen":
                guard let text = string(v, p) else { continue }
                if let (h, port) = Self.hostPort(text) { s.host = h; s.port = port } else { problem(p, v, "expected host:port, got '\(text)'") }
            case "public_url":
                guard let text = string(v, p) else { continue }
                if let u = URL(string: text), let scheme = u.scheme, ["http", "https"].contains(scheme), u.host != nil {
                    s.publicURL = text.hasSuffix("/") ? String(text.dropLast()) : text
                } else { problem(p, v, "expected an http(s) URL, got '\(text)'") }
            case "max_body_bytes": if let n = int(v, p, min: 1024) { s.maxBodyBytes = n }
            case "request_timeout": if let d = duration(v, p) { s.requestTimeout = d }
            case "shutdown_grace": if let d = duration(v, p) { s.shutdownGrace = d }
            case "max_header_bytes": if let n = int(v, p, min: 1024) { s.maxHeaderBytes = n }
            case "max_headers": if let n = int(v, p, min: 8) { s.maxHeaders = n }
            case "idle_timeout": if let d = duration(v, p) { s.idleTimeout = d }
            case "read_timeout": if let d = duration(v, p) { s.readTimeout = d }
            case "max_connections": if let n = int(v, p, min: 1) { s.maxConnections = n }
            case "ready_timeout": if let d = duration(v, p) { s.readyTimeout = d }
            case "trusted_proxies":
                guard let list = sequence(v, p) else { continue }
                var proxies: [String] = []
                for (i, n) in list.enumerated() {
                    guard let a = string(n, "\(p)[\(i)]") else { continue }
                    if ForwardedFor.isIPAddress(a) { proxies.append(a) } else { problem("\(p)[\(i)]", n, "expected an IP address, got '\(a)'") }
                }
                s.trustedProxies = proxies
            default: unknown(key, "server.", v, ["listen", "public_url", "max_body_bytes", "request_timeout", "shutdown_grace", "max_header_bytes",
                                                  "max_headers", "idle_timeout", "read_timeout", "max_connections", "ready_timeout",
                                                  "trusted_proxies"])
            }
        }
    }

    mutating func readStore(_ node: Node, _ s: inout StoreConfig) {
        guard let m = mapping(node, "store") else { return }
        for (key, v) in m {
            switch key {
            case "url":
                guard let text = string(v, "store.url") else { continue }
                if text.hasPrefix("sqlite:") || text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") { s.url = text }
                else { problem("store.url", v, "expected sqlite:PATH or postgres://..., got '\(Redactor.redactURL(text))'") }
            default: unknown(key, "store.", v, ["url"])
            }
        }
    }

    mutating func readRouting(_ node: Node, _ r: inout RoutingConfig) {
        guard let m = mapping(node, "routing") else { return }
        for (key, v) in m {
            let p = "routing.\(key)"
            switch key {
            case "session_timeout": if let d = duration(v, p) { r.sessionTimeout = d }
            case "history_depth": if let n = int(v, p, min: 0, max: 50) { r.historyDepth = n }
            case "inline_reply_budget": if let d = duration(v, p) { r.inlineReplyBudget = d }
            case "min_health": if let n = int(v, p, min: 0, max: 100) { r.minHealth = n }
            case "retention": if let d = duration(v, p) { r.retention = d }
            case "agent_timeout": if let d = duration(v, p) { r.agentTimeout = d }
            case "no_agent_reply": if let s = string(v, p) { r.noAgentReply = s }
            case "max_concurrent": if let n = int(v, p, min: 1, max: 10_000) { r.maxConcurrent = n }
            case "probe_interval": if let d = duration(v, p) { if d > 0 { r.probeInterval = d } else { problem(p, v, "must be more than 0") } }
            case "breaker_cooldown": if let d = duration(v, p) { r.breakerCooldown = d }
            case "outbox_max_attempts": if let n = int(v, p, min: 1, max: 1000) { r.outboxMaxAttempts = n }
            case "opt_out_reply": if let s = string(v, p) { r.optOutReply = s }
            case "opt_in_reply": if let s = string(v, p) { r.optInReply = s }
            case "help_reply": if let s = string(v, p) { r.helpReply = s }
            default: unknown(key, "routing.", v, ["session_timeout", "history_depth", "inline_reply_budget", "min_health",
                                                  "retention", "agent_timeout", "no_agent_reply", "max_concurrent", "probe_interval",
                                                  "breaker_cooldown", "outbox_max_attempts", "opt_out_reply", "opt_in_reply", "help_reply"])
            }
        }
    }

    mutating func readEvents(_ node: Node, _ e: inout EventsConfig) {
        guard let m = mapping(node, "events") else { return }
        for (key, v) in m {
            let p = "events.\(key)"
            switch key {
            case "include_bodies": if let b = bool(v, p) { e.includeBodies = b }
            case "redact_numbers": if let b = bool(v, p) { e.redactNumbers = b }
            case "queue_capacity": if let n = int(v, p, min: 1) { e.queueCapacity = n }
            case "batch_size": if let n = int(v, p, min: 1, max: 10_000) { e.batchSize = n }
            case "write_timeout": if let d = duration(v, p) { e.writeTimeout = d }
            case "spool_dir": if let s = string(v, p) { e.spoolDir = s }
            default: unknown(key, "events.", v, ["include_bodies", "redact_numbers", "queue_capacity", "batch_size", "write_timeout", "spool_dir"])
            }
        }
    }

    mutating func readPlugins(_ node: Node) -> [PluginEntry] {
        guard let list = sequence(node, "plugins") else { return [] }
        var result: [PluginEntry] = []
        for (i, item) in list.enumerated() {
            let base = "plugins[\(i)]"
            guard let m = mapping(item, base) else { continue }
            var id: String?, library: String?
            var entry = PluginEntry(id: "", library: "", line: item.mark?.line ?? 0)
            entry.index = i
            for (key, v) in m {
                let p = "\(base).\(key)"
                switch key {
                case "id": id = string(v, p)
                    if let s = id, !Self.isIdentifier(s) { problem(p, v, "must match [a-z0-9][a-z0-9_-]*, got '\(s)'") }
                case "library": library = string(v, p)
                case "enabled": if let b = bool(v, p) { entry.enabled = b }
                case "config":
                    var lines: [String: Int] = [:]
                    if let json = toJSON(v, p, "", &lines) {
                        if case .mapping = v { entry.configJSON = json } else { problem(p, v, "expected a mapping") }
                    }
                    entry.configLines = lines
                default: unknown(key, "\(base).", v, ["id", "library", "enabled", "config"])
                }
            }
            if id == nil { problem("\(base).id", item, "missing (every plugin needs an id)") }
            if library == nil { problem("\(base).library", item, "missing (a path or a short name such as 'twilio')") }
            entry.id = id ?? ""
            entry.library = library ?? ""
            result.append(entry)
        }
        return result
    }

    mutating func readAgents(_ node: Node) -> [AgentEntry] {
        guard let list = sequence(node, "agents") else { return [] }
        var result: [AgentEntry] = []
        for (i, item) in list.enumerated() {
            let base = "agents[\(i)]"
            guard let m = mapping(item, base) else { continue }
            var entry = AgentEntry(name: "", transport: "", line: item.mark?.line ?? 0)
            entry.index = i
            var name: String?, transport: String?
            for (key, v) in m {
                let p = "\(base).\(key)"
                switch key {
                case "name": name = string(v, p)
                case "transport": transport = string(v, p)
                case "max_sessions": if let n = int(v, p, min: 1) { entry.maxSessions = n }
                case "max_in_flight": if let n = int(v, p, min: 1, max: 10_000) { entry.maxInFlight = n }
                case "history_depth": if let n = int(v, p, min: 5, max: 50) { entry.historyDepth = n }
                case "account": entry.account = string(v, p)
                case "config":
                    var lines: [String: Int] = [:]
                    if let json = toJSON(v, p, "", &lines) {
                        if case .mapping = v { entry.configJSON = json } else { problem(p, v, "expected a mapping") }
                    }
                    entry.configLines = lines
                default: unknown(key, "\(base).", v, ["name", "transport", "max_sessions", "max_in_flight", "history_depth", "account", "config"])
                }
            }
            if name == nil { problem("\(base).name", item, "missing") }
            if transport == nil { problem("\(base).transport", item, "missing (the id of an agent-transport plugin)") }
            entry.name = name ?? ""
            entry.transport = transport ?? ""
            result.append(entry)
        }
        return result
    }

    mutating func readRoutes(_ node: Node) -> [RouteEntry] {
        guard let list = sequence(node, "routes") else { return [] }
        var result: [RouteEntry] = []
        for (i, item) in list.enumerated() {
            let base = "routes[\(i)]"
            guard let m = mapping(item, base) else { continue }
            var r = RouteEntry(line: item.mark?.line ?? 0)
            for (key, v) in m {
                let p = "\(base).\(key)"
                switch key {
                case "to": r.to = string(v, p)
                case "keyword":
                    if let k = string(v, p) {
                        if k.isEmpty || k.contains(" ") { problem(p, v, "must be one word, got '\(k)'") } else { r.keyword = k.uppercased() }
                    }
                case "agent": if let a = string(v, p) { r.agents.append(a) }
                case "pool":
                    if let s = sequence(v, p) { r.agents += s.enumerated().compactMap { string($1, "\(p)[\($0)]") } }
                default: unknown(key, "\(base).", v, ["to", "keyword", "agent", "pool"])
                }
            }
            if (r.to == nil) == (r.keyword == nil) { problem(base, item, "needs exactly one of 'to' or 'keyword'") }
            if r.agents.isEmpty { problem(base, item, "needs 'agent' (a name) or 'pool' (a list of names)") }
            result.append(r)
        }
        return result
    }

    mutating func crossCheck(_ config: inout GatewayConfig) {
        let agentNames = Set(config.agents.map(\.name))
        for (i, r) in config.routes.enumerated() {
            for a in r.agents where !agentNames.contains(a) {
                problems.append(ConfigProblem(path: "routes[\(i)]", line: r.line, message: "no agent named '\(a)'"))
            }
        }
        var seen: [String: Int] = [:]
        for p in config.plugins where !p.id.isEmpty {
            if let first = seen[p.id] { problems.append(ConfigProblem(path: "plugins[\(p.index)].id", line: p.line, message: "duplicate plugin id '\(p.id)' (first at line \(first))")) }
            seen[p.id] = p.line
        }
        var names: Set<String> = []
        for a in config.agents where !a.name.isEmpty {
            if !names.insert(a.name).inserted { problems.append(ConfigProblem(path: "agents[\(a.index)].name", line: a.line, message: "duplicate agent name '\(a.name)'")) }
            if !a.transport.isEmpty {
                if let p = config.plugins.first(where: { $0.id == a.transport }) {
                    if !p.enabled { problems.append(ConfigProblem(path: "agents[\(a.index)].transport", line: a.line, message: "plugin '\(a.transport)' is disabled")) }
                } else {
                    problems.append(ConfigProblem(path: "agents[\(a.index)].transport", line: a.line, message: "no plugin with id '\(a.transport)'"))
                }
            }
        }
    }

    // MARK: typed readers

    mutating func mapping(_ node: Node, _ path: String) -> [(String, Node)]? {
        guard case .mapping(let m) = node else {
            problem(path, node, "expected a mapping, found \(kind(node))")
            return nil
        }
        var out: [(String, Node)] = []
        var seen: Set<String> = []
        for (k, v) in m {
            guard case .scalar(let s) = k else { problem(path, k, "keys must be strings"); continue }
            if !seen.insert(s.string).inserted { problem(path.isEmpty ? s.string : "\(path).\(s.string)", k, "duplicate key") }
            out.append((s.string, v))
        }
        return out
    }

    mutating func sequence(_ node: Node, _ path: String) -> [Node]? {
        guard case .sequence(let s) = node else {
            problem(path, node, "expected a list, found \(kind(node))")
            return nil
        }
        return Array(s)
    }

    mutating func string(_ node: Node, _ path: String) -> String? {
        guard case .scalar(let s) = node else { problem(path, node, "expected a string, found \(kind(node))"); return nil }
        return interpolate(s.string, path, node)
    }

    mutating func int(_ node: Node, _ path: String, min: Int? = nil, max: Int? = nil) -> Int? {
        guard let text = string(node, path) else { return nil }
        guard let n = Int(text.replacingOccurrences(of: "_", with: "")) else { problem(path, node, "expected an integer, got '\(text)'"); return nil }
        if let min, n < min { problem(path, node, "must be at least \(min), got \(n)"); return nil }
        if let max, n > max { problem(path, node, "must be at most \(max), got \(n)"); return nil }
        return n
    }

    mutating func bool(_ node: Node, _ path: String) -> Bool? {
        guard let text = string(node, path) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: problem(path, node, "expected true or false, got '\(text)'"); return nil
        }
    }

    /// "90", "90s", "5m", "2h", "30d", "250ms" -> seconds.
    mutating func duration(_ node: Node, _ path: String) -> Double? {
        guard let text = string(node, path) else { return nil }
        if let d = Self.parseDuration(text) { return d }
        problem(path, node, "expected a duration such as 30s, 5m, 2h, 30d or 250ms, got '\(text)'")
        return nil
    }

    static func parseDuration(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        for (u, f) in units where t.hasSuffix(u) {
            if let n = Double(t.dropLast(u.count)), n >= 0 { return n * f }
        }
        if let n = Double(t), n >= 0 { return n }
        return nil
    }

    mutating func unknown(_ key: String, _ prefix: String, _ node: Node, _ allowed: [String]) {
        let hint = allowed.min { Self.distance($0, key) < Self.distance($1, key) }
        var msg = "unknown key"
        if let hint, Self.distance(hint, key) <= 3 { msg += " (did you mean '\(hint)'?)" }
        else { msg += " (allowed: \(allowed.joined(separator: ", ")))" }
        problem(prefix + key, node, msg)
    }

    func kind(_ node: Node) -> String {
        switch node {
        case .scalar: return "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    // MARK: interpolation

    /// Replaces ${VAR} and ${VAR:-default}; `$${` stands for a literal `${`.
    mutating func interpolate(_ text: String, _ path: String, _ node: Node) -> String? {
        guard text.contains("${") else { return text }
        var out = ""
        var rest = Substring(text)
        var ok = true
        while let r = rest.range(of: "${") {
            if r.lowerBound > rest.startIndex, rest[rest.index(before: r.lowerBound)] == "$" {
                out += rest[..<rest.index(before: r.lowerBound)] + "${"
                rest = rest[r.upperBound...]
                continue
            }
            out += rest[..<r.lowerBound]
            guard let close = rest[r.upperBound...].firstIndex(of: "}") else {
                problem(path, node, "unterminated ${ in value")
                return nil
            }
            let expr = rest[r.upperBound..<close]
            let name: Substring, fallback: Substring?
            if let d = expr.range(of: ":-") { name = expr[..<d.lowerBound]; fallback = expr[d.upperBound...] } else { name = expr; fallback = nil }
            if !Self.isEnvName(name) {
                problem(path, node, "'${\(expr)}' is not a valid variable reference")
                ok = false
            } else if let v = env[String(name)], !(v.isEmpty && fallback != nil) {
                out += v
            } else if let fallback {
                out += fallback
            } else {
                problem(path, node, "environment variable \(name) is not set (use ${\(name):-default} for a default)")
                ok = false
            }
            rest = rest[rest.index(after: close)...]
        }
        out += rest
        return ok ? out : nil
    }

    // MARK: plugin config blocks -> JSON

    /// Converts a YAML subtree to JSON text, interpolating strings, recording each path's line.
    mutating func toJSON(_ node: Node, _ path: String, _ rel: String, _ lines: inout [String: Int]) -> String? {
        lines[rel] = node.mark?.line ?? 0
        switch node {
        case .scalar(let s):
            guard let text = interpolate(s.string, path, node) else { return nil }
            if s.style == .plain || s.style == .any {
                switch text {
                case "true", "True", "TRUE": return "true"
                case "false", "False", "FALSE": return "false"
                case "null", "~", "": return "null"
                default: break
                }
                if Int(text) != nil { return text }
                if let d = Double(text), d.isFinite, text.first != "." { return text }
            }
            return JSONText.quote(text)
        case .sequence(let seq):
            var items: [String] = []
            for (i, n) in seq.enumerated() {
                guard let j = toJSON(n, "\(path)[\(i)]", "\(rel)[\(i)]", &lines) else { return nil }
                items.append(j)
            }
            return "[" + items.joined(separator: ",") + "]"
        case .mapping(let m):
            var items: [String] = []
            for (k, v) in m {
                guard case .scalar(let ks) = k else { problem(path, k, "keys must be strings"); return nil }
                let key = ks.string
                let childRel = rel.isEmpty ? key : "\(rel).\(key)"
                guard let j = toJSON(v, "\(path).\(key)", childRel, &lines) else { return nil }
                items.append(JSONText.quote(key) + ":" + j)
            }
            return "{" + items.joined(separator: ",") + "}"
        case .alias:
            problem(path, node, "YAML aliases are not supported here")
            return nil
        }
    }

    // MARK: small helpers

    static func hostPort(_ s: String) -> (String, Int)? {
        guard let colon = s.lastIndex(of: ":") else { return nil }
        var host = String(s[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        return (host, port)
    }

    static func isIdentifier(_ s: String) -> Bool {
        guard let f = s.unicodeScalars.first, f.properties.isLowercase || ("0"..."9").contains(f) else { return false }
        return s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
    }

    static func isEnvName<S: StringProtocol>(_ s: S) -> Bool {
        guard let f = s.unicodeScalars.first, !("0"..."9").contains(f) else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var prev = Array(0...b.count)
        for i in 1...a.count {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count { cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)) }
            prev = cur
        }
        return prev[b.count]
    }
}

/// JSON string quoting without Foundation's encoder (fast, exact).
public enum JSONText {
    public static func quote(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count + 2)
        appendQuoted(s, to: &out)
        return out
    }

    /// Appends `s` as a JSON string. Most strings the gateway writes (ids, numbers, types,
    /// ASCII text) need no escape: those are appended whole after one scan of their bytes.
    public static func appendQuoted(_ s: String, to out: inout String) {
        out.append("\"")
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
            out.append(s)
        } else {
            for u in s.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if u.value < 0x20 {
                        let hex: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
                        out += "\\u00"
                        out.append(hex[Int(u.value >> 4)])
                        out.append(hex[Int(u.value & 0xF)])
                    } else {
                        out.unicodeScalars.append(u)
                    }
                }
            }
        }
        out.append("\"")
    }
}
