import Foundation
import PluginAPI

/// `darkspere check`: every problem of a configuration, or the effective config with secrets hidden.
public enum ConfigCheck {
    public struct Report: Sendable {
        public var ok: Bool
        public var text: String
    }

    public static func run(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> Report {
        let config: GatewayConfig
        do { config = try ConfigLoader(environment: environment).load(path: path) } catch let e as ConfigErrors {
            return Report(ok: false, text: e.description)
        } catch {
            return Report(ok: false, text: "\(path): \(error)")
        }
        // Plugins: load each library and validate its config against its schema (nothing is created).
        let runtime = PluginSet(runtime: HostRuntime.forInspection)
        let search = config.pluginPath.isEmpty ? PluginLoader.defaultSearchPath() : config.pluginPath
        let dir = (path as NSString).deletingLastPathComponent
        var problems: [String] = []
        for entry in config.plugins where entry.enabled {
            do { _ = try runtime.load(entry, search: search, configDir: dir) } catch let e as PluginLoadError {
                problems.append(e.message)
            } catch let e as StartupErrors {
                problems.append(contentsOf: e.problems)
            } catch { problems.append("\(error)") }
        }
        problems += SecureDefaults.problems(config)
        if !problems.isEmpty {
            return Report(ok: false, text: "\(path): \(problems.count) problem\(problems.count == 1 ? "" : "s"):\n" + problems.map { "  - \($0)" }.joined(separator: "\n"))
        }
        return Report(ok: true, text: "\(path): OK\n" + effective(config))
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
        return out
    }
}

/// `darkspere plugins`: the libraries found, as a table.
public enum PluginListing {
    public static func table(configPath: String) -> String {
        var search = PluginLoader.defaultSearchPath()
        if FileManager.default.fileExists(atPath: configPath), let c = try? ConfigLoader().load(path: configPath), !c.pluginPath.isEmpty {
            search = c.pluginPath
        }
        let loader = PluginLoader(hostTable: HostTable.table)
        let found = loader.discover(in: search)
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
        if found.isEmpty { out += "\nno plugin libraries (libds-*.so) found" }
        if !errors.isEmpty { out += "\nnot loadable:\n" + errors.map { "  - \($0)" }.joined(separator: "\n") }
        return out
    }
}

extension HostRuntime {
    /// A runtime for inspection commands (check, plugins): nothing is served.
    static let forInspection = HostRuntime(logLevel: .error)
}
