import ArgumentParser
import Foundation
import Host
#if canImport(Glibc)
import Glibc
#endif

/// `darkspere reload`: the running gateway re-reads its config file and applies the
/// difference, or refuses it as a whole. Through the admin API when the config has an
/// `admin:` section (the answer says what changed, or every problem); else by SIGHUP to
/// the pid in `data/darkspere-<port>.pid` next to the config (or `--pid`), after which the
/// command watches the gateway's /metrics for the outcome.
struct Reload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make the running gateway re-read its config file and apply the difference (admin API, else SIGHUP).",
        discussion: """
        Examples:
          darkspere reload                       through admin.listen of ./plugins.yaml, else SIGHUP to data/darkspere-<port>.pid
          darkspere reload --signal --pid 4242   send SIGHUP to that process, wait for the result on /metrics
        A config with any problem is refused as a whole (printed as `darkspere check` prints it, exit 1); the running config stays.
        """)

    @OptionGroup var admin: AdminOptions

    @Flag(help: "Send SIGHUP even if the config has an admin: section.")
    var signal = false

    @Option(help: "The gateway's pid (default: from data/darkspere-<port>.pid next to the config).")
    var pid: Int32?

    @Option(help: "Seconds to wait for the outcome after SIGHUP.")
    var wait: Double = 30

    func run() async throws {
        // Read leniently: the file may well be the broken one the gateway is about to refuse,
        // and the refusal's text comes from the gateway; only the listeners are needed here.
        var cfg: GatewayConfig?
        if let data = FileManager.default.contents(atPath: admin.config) {
            cfg = ConfigLoader().inspect(yaml: String(decoding: data, as: UTF8.self)).0
            cfg?.sourcePath = admin.config
        }
        if !signal && (cfg?.admin != nil || admin.adminURL != nil) {
            return try await viaAdmin(cfg)
        }
        try await viaSignal(cfg)
    }

    /// The admin client as `AdminOptions.client()` makes it, from the leniently read config.
    private func client(_ cfg: GatewayConfig?) throws -> AdminAPIClient {
        var base = admin.adminURL
        var token = ProcessInfo.processInfo.environment["DARKSPERE_ADMIN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if let a = cfg?.admin {
            let host = a.host == "0.0.0.0" || a.host == "::" ? "127.0.0.1" : (a.host.contains(":") ? "[\(a.host)]" : a.host)
            if base == nil { base = "http://\(host):\(a.port)" }
            if token == nil { token = (a.tokens.first { $0.role == .operator } ?? a.tokens.first)?.token }
        }
        guard let token else { throw ValidationError("no admin token: set DARKSPERE_ADMIN_TOKEN, or admin.tokens in \(admin.config)") }
        var url = base ?? "http://127.0.0.1:8081"
        while url.hasSuffix("/") { url.removeLast() }
        return AdminAPIClient(base: url, token: token, json: admin.json)
    }

    private func viaAdmin(_ cfg: GatewayConfig?) async throws {
        var response: ClientResponse?
        try await AdminAPIClient.run("reload") {
            let c = try client(cfg)
            do {
                response = try await AdminAPIClient.http.send(method: "POST", url: c.base + "/api/v1/reload",
                                                              headers: [("Authorization", "Bearer \(c.token)"), ("Accept", "application/json")],
                                                              body: [], timeoutMs: 120_000)
            } catch {
                throw AdminCallError(description: "cannot reach the admin API at \(c.base): \(error) (is the gateway running?)")
            }
        }
        guard let r = response else { throw ExitCode(1) }
        let value = (try? JSONValue.parse(String(decoding: r.body, as: UTF8.self))) ?? .null
        if admin.json { print(value.text) }
        switch r.status {
        case 200:
            if !admin.json { print(Self.describe(value)) }
        case 422:
            if !admin.json { print(value["text"]?.stringValue ?? value.text) }
            throw ExitCode(1)
        default:
            let msg = value["error"]?["message"]?.stringValue ?? String(decoding: r.body, as: UTF8.self)
            FileHandle.standardError.write(Data("darkspere reload: \(r.status): \(msg)\n".utf8))
            throw ExitCode(1)
        }
    }

    static func describe(_ v: JSONValue) -> String {
        let path = v["path"]?.stringValue ?? "config"
        var parts: [String] = []
        if let c = v["changed"] {
            for (key, label) in [("plugins_added", "plugins added"), ("plugins_removed", "plugins removed"), ("plugins_changed", "plugins changed"),
                                 ("agents_added", "agents added"), ("agents_removed", "agents removed"), ("agents_changed", "agents changed"),
                                 ("routing_changed", "routing")] {
                let items = (c[key]?.arrayValue ?? []).compactMap(\.stringValue)
                if !items.isEmpty { parts.append("\(label): \(items.joined(separator: ", "))") }
            }
            for (key, label) in [("routes_changed", "routes"), ("accounts_changed", "accounts"), ("tiers_changed", "tiers")] where c[key] == .bool(true) {
                parts.append("\(label) changed")
            }
        }
        return "\(path): reloaded (\(parts.isEmpty ? "no change" : parts.joined(separator: "; "))), config sha256 \(v["hash"]?.stringValue ?? "-")"
    }

    private func viaSignal(_ cfg: GatewayConfig?) async throws {
        var target = pid
        if target == nil, let cfg {
            let file = PidFile(config: cfg)
            target = file.read()
            if target == nil {
                FileHandle.standardError.write(Data("darkspere reload: no running gateway found in \(file.path) (is it running with this config? use --pid)\n".utf8))
                throw ExitCode(1)
            }
        }
        guard let target else {
            FileHandle.standardError.write(Data("darkspere reload: cannot read \(admin.config); pass --pid\n".utf8))
            throw ExitCode(1)
        }
        // The outcome shows on /metrics (public listener): the reload counters move.
        let metricsURL = cfg.map { c -> String in
            let host = c.server.host == "0.0.0.0" || c.server.host == "::" ? "127.0.0.1" : (c.server.host.contains(":") ? "[\(c.server.host)]" : c.server.host)
            return "http://\(host):\(c.server.port)/metrics"
        }
        let before = await Self.reloadCounts(metricsURL)
        guard kill(target, SIGHUP) == 0 else {
            FileHandle.standardError.write(Data("darkspere reload: cannot signal pid \(target): \(String(cString: strerror(errno)))\n".utf8))
            throw ExitCode(1)
        }
        guard let before else {
            print("sent SIGHUP to pid \(target); the gateway's log says whether the config was applied")
            return
        }
        let until = Date().addingTimeInterval(wait)
        while Date() < until {
            try await Task.sleep(nanoseconds: 100_000_000)
            guard let now = await Self.reloadCounts(metricsURL) else { continue }
            if now.ok > before.ok { return print("sent SIGHUP to pid \(target): reloaded, config sha256 \(now.hash)") }
            if now.failed > before.failed {
                FileHandle.standardError.write(Data("darkspere reload: pid \(target) refused the new config; the running config stays (the problems are in its log; `darkspere check` lists them too)\n".utf8))
                throw ExitCode(1)
            }
        }
        FileHandle.standardError.write(Data("darkspere reload: sent SIGHUP to pid \(target) but saw no outcome within \(Int(wait)) s\n".utf8))
        throw ExitCode(1)
    }

    /// darkspere_config_reloads_total{result=ok|failed} and the info metric's hash, or nil if /metrics cannot be read.
    static func reloadCounts(_ url: String?) async -> (ok: Int, failed: Int, hash: String)? {
        guard let url, let r = try? await AdminAPIClient.http.send(method: "GET", url: url, headers: [], body: [], timeoutMs: 5_000), r.status == 200 else { return nil }
        var ok = 0, failed = 0, hash = "-"
        for line in String(decoding: r.body, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("darkspere_config_reloads_total{result=\"ok\"} ") { ok = Int(line.split(separator: " ").last ?? "") ?? 0 }
            if line.hasPrefix("darkspere_config_reloads_total{result=\"failed\"} ") { failed = Int(line.split(separator: " ").last ?? "") ?? 0 }
            if line.hasPrefix("darkspere_config_info{hash=\""), let h = line.split(separator: "\"").dropFirst().first { hash = String(h) }
        }
        return (ok, failed, hash)
    }
}
