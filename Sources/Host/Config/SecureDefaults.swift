import Foundation

/// Secrets that still have a published default (or none at all) while the gateway listens
/// on a non-loopback address: the gateway refuses to start, and `darkspere check` reports
/// them, each naming the config key and how to set it.
///
/// On loopback (the laptop default) nothing is reported: the defaults exist so that
/// `plugins.yaml` runs on a fresh machine. Pure functions; thread-safe.
public enum SecureDefaults {
    /// Config keys (in a plugin's `config`) that hold secrets.
    static let secretKeys: Set<String> = ["auth_token", "api_key", "webhook_secret", "token", "secret", "password", "admin_token", "bearer_token"]

    /// Values published in this repository's examples and docs, or obviously placeholders.
    static let publishedDefaults: Set<String> = ["local-development-token", "changeme", "change-me", "secret", "password", "token",
                                                 "test", "dev", "development", "example", "xxx", "todo"]

    /// Where the shipped plugins.yaml reads each secret from.
    static let environmentHints: [String: String] = ["auth_token": "TWILIO_AUTH_TOKEN", "api_key": "STRIPE_API_KEY",
                                                     "webhook_secret": "STRIPE_WEBHOOK_SECRET"]

    /// True for 127.0.0.0/8, ::1 and localhost.
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }

    /// Every secret with a published default, empty, or missing; empty when every listener
    /// (server, admin) is on loopback.
    public static func problems(_ config: GatewayConfig) -> [String] {
        let listeners = [("server.listen", config.server.host, config.server.port)]
            + (config.admin.map { [("admin.listen", $0.host, $0.port)] } ?? [])
        guard let open = listeners.first(where: { !isLoopback($0.1) }) else { return [] }
        let listen = "\(open.1):\(open.2)"
        var out: [String] = []
        for (i, t) in (config.admin?.tokens ?? []).enumerated() {
            let v = t.token.trimmingCharacters(in: .whitespaces)
            if v.isEmpty || isPublished(v) || v.count < 16 {
                let why = v.isEmpty ? "is empty" : isPublished(v) ? "still has the published default '\(v)'" : "is shorter than 16 characters"
                out.append(message("admin.tokens[\(i)].token", of: t.name, why, listen: listen, via: open.0))
            }
        }
        for p in config.plugins where p.enabled {
            guard case .object(let fields)? = try? JSONValue.parse(p.configJSON) else { continue }
            for (key, value) in fields.sorted(by: { $0.0 < $1.0 }) where secretKeys.contains(key) {
                guard case .string(let s) = value else { continue }
                let v = s.trimmingCharacters(in: .whitespaces)
                let why: String
                if v.isEmpty { why = "is empty" } else if isPublished(v) { why = "still has the published default '\(v)'" } else { continue }
                out.append(message("plugins[\(p.index)].config.\(key)", of: p.id, why, listen: listen, via: open.0))
            }
            // Stripe: without webhook_secret its webhooks cannot be verified.
            if isStripe(p), !fields.contains(where: { $0.0 == "webhook_secret" }) {
                out.append(message("plugins[\(p.index)].config.webhook_secret", of: p.id, "is missing", listen: listen, via: open.0))
            }
        }
        return out
    }

    static func isPublished(_ v: String) -> Bool {
        let l = v.lowercased()
        return publishedDefaults.contains(l) || l.contains("example") || l.contains("placeholder")
    }

    static func isStripe(_ p: PluginEntry) -> Bool {
        let name = (p.library as NSString).lastPathComponent.lowercased()
        return name == "stripe" || name.hasPrefix("libds-stripe") || name.hasPrefix("libstripe")
    }

    /// `key` is a key path in the one form every config message uses (`plugins[0].config.auth_token`);
    /// `owner` names the entry it is in (the plugin id, the token's name).
    static func message(_ key: String, of owner: String, _ why: String, listen: String, via: String) -> String {
        let last = key.split(separator: ".").last.map(String.init) ?? key
        let hint = environmentHints[last].map { " (the shipped plugins.yaml reads it from $\($0): export it)" } ?? ""
        return "\(key) (\(owner)) \(why) while \(via) is \(listen), not loopback: set \(key) to the real secret\(hint), or listen on 127.0.0.1"
    }
}
