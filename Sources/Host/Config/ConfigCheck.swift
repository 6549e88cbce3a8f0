import Foundation
import PluginAPI

/// `darkspere check`: every problem of a configuration, or the effective config with secrets hidden.
public enum ConfigCheck {
    public struct Report: Sendable {
        public var ok: Bool
        public var text: String
    }

    /// Reads the file and reports every problem in one run: the file's own (YAML, keys,
    /// variables), then each plugin's (library, schema, the schema's unknown keywords, the
    /// plugin's validate_config) and each agent's (agent schema, validate_agent_config),
    /// even when the file has problems too.
    public static func run(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> Report {
        let (config, problems) = inspect(path: path, environment: environment)
        guard let config, problems.isEmpty else { return Report(ok: false, text: text(path: path, problems: problems)) }
        return Report(ok: true, text: "\(path): OK\n" + effective(config))
    }

    /// The problems list as `check` prints it: "<path>: N problem(s):" and one "  - " line each.
    public static func text(path: String, problems: [String]) -> String {
        "\(path): \(problems.count) problem\(problems.count == 1 ? "" : "s"):\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }

    /// What `run` finds: the config as read (nil if the file cannot be read) and every problem.
    /// A reload refuses a config with any problem, with exactly these messages.
    public static func inspect(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> (GatewayConfig?, [String]) {
        guard let data = FileManager.default.contents(atPath: path) else { return (nil, ["cannot read the file"]) }
        return inspect(path: path, yaml: String(decoding: data, as: UTF8.self), environment: environment)
    }

    static func inspect(path: String, yaml: String, environment: [String: String]) -> (GatewayConfig?, [String]) {
        var (config, configProblems) = ConfigLoader(environment: environment).inspect(yaml: yaml)
        config.sourcePath = path
        var problems = configProblems.map(\.description)
        let set = PluginSet(runtime: HostRuntime.forInspection)
        let search = config.pluginPath.isEmpty ? PluginLoader.defaultSearchPath() : config.pluginPath
        let dir = (path as NSString).deletingLastPathComponent
        var libraries: [String: PluginLibrary] = [:]
        for entry in config.plugins where entry.enabled && !entry.library.isEmpty {
            do {
                let lib = try set.load(entry, search: search, configDir: dir)
                libraries[entry.id] = lib
                problems += set.checkProblems(entry, lib)
            } catch let e as PluginLoadError {
                problems.append(e.message)
            } catch let e as StartupErrors {
                problems.append(contentsOf: e.problems)
            } catch { problems.append("\(error)") }
        }
        for a in config.agents {
            if let lib = libraries[a.transport], lib.interfaces.contains(DS_AGENT_TRANSPORT_V1) { problems += set.checkAgentProblems(a, lib) }
        }
        problems += SecureDefaults.problems(config)
        return (config, problems)
    }

    /// The effective configuration as YAML-ish text, secrets shown as ***.
    static func effective(_ c: GatewayConfig) -> String {
        var out = """
        server:
          listen: \(c.server.host):\(c.server.port)
          public_url: \(c.server.publicURL)
          max_body_bytes: \(c.server.maxBodyBytes)
          request_timeout: \(c.server.requestTimeout)s
        store:
          url: \(Redactor.redactURL(c.store.url))
        routing:
          session_timeout: \(c.routing.sessionTimeout)s
          history_depth: \(c.routing.historyDepth)
          inline_reply_budget: \(c.routing.inlineReplyBudget)s
          min_health: \(c.routing.minHealth)
        plugins:

        """
        for p in c.plugins {
            let cfg = (try? JSONValue.parse(p.configJSON)).map { Redactor.redact($0).text } ?? "{}"
            out += "  - id: \(p.id)\n    library: \(p.library)\n    enabled: \(p.enabled)\n    config: \(cfg)\n"
        }
        out += "agents:\n"
        for a in c.agents {
            let cfg = (try? JSONValue.parse(a.configJSON)).map { Redactor.redact($0).text } ?? "{}"
            out += "  - name: \(a.name)\n    transport: \(a.transport)\n"
            if let acc = a.account { out += "    account: \(acc)\n" }
            out += "    max_sessions: \(a.maxSessions.map(String.init) ?? "unlimited")\n"
            if let n = a.maxInFlight { out += "    max_in_flight: \(n)\n" }
            out += "    config: \(cfg)\n"
        }
        out += "accounts:\n"
        for a in c.accounts {
            out += "  - id: \(a.id)\n    name: \(a.name)\n    tier: \(a.tier)\n    status: \(a.status.rawValue)\n"
            if let cus = a.stripeCustomerId { out += "    stripe_customer_id: \(cus)\n" }
        }
        out += "tiers:\n"
        func lim(_ n: Int?) -> String { n.map(String.init) ?? "unlimited" }
        for t in c.tiers.values.sorted(by: { $0.name < $1.name }) {
            let limits = UsageKind.allCases.map { "\($0.rawValue): \(lim(t.limit($0)))" }.joined(separator: ", ")
            out += "  \(t.name): {\(limits), per_minute: \(lim(t.perMinute)), overage: \(t.overage.rawValue)}\n"
        }
        if let a = c.abuse {
            func n(_ v: Int) -> String { v > 0 ? String(v) : "off" }
            out += "abuse:\n  window: \(a.window)s\n  per_sender: \(n(a.perSender))\n  per_account: \(n(a.perAccount))\n  global: \(n(a.global))\n"
            out += "  known_users: \(a.knownUsers)\n  spam_filter: \(a.spamFilter)\n  spam_threshold: \(a.spamThreshold)\n"
            out += "  spam_phrases: \(a.spamPhrases.count) phrases\n"
        } else {
            out += "abuse: off (no rate limits, lists or spam filter)\n"
        }
        return out
    }
}

/// `darkspere plugins`: the libraries found, as a table.
public enum PluginListing {
    /// The libraries in the search path (plugin_path of the config if it exists) and the
    /// ones the config's `plugins:` entries load by path (`library: ./x.so`).
    public static func table(configPath: String) -> String {
        var search = PluginLoader.defaultSearchPath()
        var byPath: [String] = []
        if FileManager.default.fileExists(atPath: configPath), let data = FileManager.default.contents(atPath: configPath) {
            let (c, _) = ConfigLoader().inspect(yaml: String(decoding: data, as: UTF8.self))
            if !c.pluginPath.isEmpty { search = c.pluginPath }
            let dir = (configPath as NSString).deletingLastPathComponent
            byPath = c.plugins.filter { $0.library.contains("/") }.map {
                $0.library.hasPrefix("/") ? $0.library : (dir as NSString).appendingPathComponent($0.library)
            }
        }
        let loader = PluginLoader(hostTable: HostTable.table)
        var found = loader.discover(in: search)
        for p in byPath {
            let real = URL(fileURLWithPath: p).resolvingSymlinksInPath().path
            guard !found.contains(where: { $0.path == real }) else { continue }
            do { found.append((real, .success(try loader.load(path: real)))) } catch let e as PluginLoadError {
                found.append((real, .failure(e)))
            } catch {}
        }
        var rows: [[String]] = [["ID", "VERSION", "KINDS", "ABI", "PATH"]]
        var errors: [String] = []
        for (path, result) in found {
            switch result {
            case .success(let lib): rows.append([lib.id, lib.version, lib.interfaces.joined(separator: ","), lib.abiVersion, path])
            case .failure(let e): errors.append(e.message)
            }
        }
        let widths = (0..<5).map { i in rows.map { $0[i].count }.max() ?? 0 }
        var out = rows.map { r in r.enumerated().map { i, s in i == 4 ? s : s.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ") }.joined(separator: "\n")
        out += "\n\nhost ABI \(PluginLoader.hostABI); searched: \(search.joined(separator: ", "))"
        if !byPath.isEmpty { out += "; by path from \(configPath): \(byPath.joined(separator: ", "))" }
        if found.isEmpty { out += "\nno plugin libraries (libds-*.so) found" }
        if !errors.isEmpty { out += "\nnot loadable:\n" + errors.map { "  - \($0)" }.joined(separator: "\n") }
        return out
    }
}

extension HostRuntime {
    /// A runtime for inspection commands (check, plugins): nothing is served.
    static let forInspection = HostRuntime(logLevel: .error)
}
