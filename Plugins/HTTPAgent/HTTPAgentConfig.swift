import Foundation
import PluginKit

/// One HTTP JSON agent's `config` block, validated. Value type; any thread.
///
/// `url` (required), `health_url` (default: `url`), `headers`, `api_key` (sent as
/// `Authorization: Bearer …`) or `api_key_env` (read through the host's env service),
/// `timeout` in seconds (default 30).
struct HTTPAgentConfig: Sendable {
    var url: String
    var healthURL: String
    /// Includes the Authorization header when an API key is configured. Never logged.
    var headers: [(String, String)]
    var timeoutMs: UInt32

    private struct Raw: Decodable {
        var url: String?
        var health_url: String?
        var headers: [String: String]?
        var api_key: String?
        var api_key_env: String?
        var timeout: Double?
    }

    init(_ config: PluginConfig, host: PluginHost) throws {
        let raw = try config.decode(Raw.self)
        guard let u = raw.url else { throw PluginError.config("missing field url") }
        url = try Self.checkURL(u, field: "url")
        healthURL = try Self.checkURL(raw.health_url ?? u, field: "health_url")
        var h = (raw.headers ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if raw.api_key != nil && raw.api_key_env != nil { throw PluginError.config("api_key and api_key_env: set only one of them") }
        var key = raw.api_key
        if let name = raw.api_key_env {
            guard let v = host.env(name), !v.isEmpty else { throw PluginError.config("api_key_env: environment variable \(name) is not set") }
            key = v
        }
        if let key, !key.isEmpty { h.append(("Authorization", "Bearer \(key)")) }
        headers = h
        let t = raw.timeout ?? 30
        guard t > 0, t <= 3600 else { throw PluginError.config("timeout: must be between 0 and 3600 seconds") }
        timeoutMs = UInt32(t * 1000)
    }

    static func checkURL(_ s: String, field: String) throws -> String {
        guard let u = URL(string: s), let scheme = u.scheme?.lowercased(), scheme == "http" || scheme == "https", u.host != nil else {
            throw PluginError.config("\(field): must be an absolute http:// or https:// URL")
        }
        return s
    }
}

/// Maps a non-2xx HTTP status to a classified error: 429 rate limited (with
/// Retry-After), 408 timeout, 5xx unavailable, 401/403 auth, other 4xx permanent.
enum HTTPStatusError {
    static func check(_ r: HTTPResponse, what: String) throws {
        switch r.status {
        case 200..<300: return
        case 429:
            let after = r.header("Retry-After").flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }.map { $0 * 1000 } ?? 0
            throw PluginError.rateLimited("\(what): HTTP 429", retryAfterMs: after)
        case 408: throw PluginError.timeout("\(what): HTTP 408")
        case 500...: throw PluginError.unavailable("\(what): HTTP \(r.status)")
        case 401, 403: throw PluginError.auth("\(what): HTTP \(r.status) (check api_key / headers)")
        default: throw PluginError.failed("\(what): HTTP \(r.status): \(String(r.text.prefix(200)))")
        }
    }
}
