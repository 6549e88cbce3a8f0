import Foundation
import PluginKit

/// One OpenAI-compatible agent's `config` block, validated. Value type; any thread.
///
/// `url` (base, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`;
/// `/chat/completions` is appended), `model` (required), `system_prompt`, `api_key`
/// or `api_key_env` (default `OPENAI_API_KEY` when neither is set; a missing variable
/// means no Authorization header, which local servers accept), `headers`,
/// `temperature`, `max_tokens`, `timeout` (seconds, default 60).
struct OpenAIConfig: Sendable {
    var endpoint: String
    var model: String
    var systemPrompt: String?
    /// Includes Authorization when a key is known. Never logged.
    var headers: [(String, String)]
    var temperature: Double?
    var maxTokens: Int?
    var timeoutMs: UInt32
    /// Offer the model a `request_human` tool (the host's takeover); its call is a handoff.
    var handoffTool: Bool

    private struct Raw: Decodable {
        var url: String?
        var model: String?
        var system_prompt: String?
        var api_key: String?
        var api_key_env: String?
        var headers: [String: String]?
        var temperature: Double?
        var max_tokens: Int?
        var timeout: Double?
        var handoff_tool: Bool?
    }

    init(_ config: PluginConfig, host: PluginHost) throws {
        let raw = try config.decode(Raw.self)
        guard let u = raw.url else { throw PluginError.config("missing field url") }
        guard let parsed = URL(string: u), let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https", parsed.host != nil else {
            throw PluginError.config("url: must be an absolute http:// or https:// URL")
        }
        var base = u
        while base.hasSuffix("/") { base.removeLast() }
        endpoint = base.hasSuffix("/chat/completions") ? base : base + "/chat/completions"
        guard let m = raw.model, !m.isEmpty else { throw PluginError.config("missing field model") }
        model = m
        systemPrompt = raw.system_prompt.flatMap { $0.isEmpty ? nil : $0 }
        if raw.api_key != nil && raw.api_key_env != nil { throw PluginError.config("api_key and api_key_env: set only one of them") }
        var key = raw.api_key
        if key == nil {
            let name = raw.api_key_env ?? "OPENAI_API_KEY"
            key = host.env(name)
            if key == nil && raw.api_key_env != nil { throw PluginError.config("api_key_env: environment variable \(name) is not set") }
        }
        var h = (raw.headers ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if let key, !key.isEmpty { h.append(("Authorization", "Bearer \(key)")) }
        headers = h
        if let t = raw.temperature, !(0...2).contains(t) { throw PluginError.config("temperature: must be between 0 and 2") }
        temperature = raw.temperature
        if let n = raw.max_tokens, n < 1 { throw PluginError.config("max_tokens: must be at least 1") }
        maxTokens = raw.max_tokens
        let t = raw.timeout ?? 60
        guard t > 0, t <= 3600 else { throw PluginError.config("timeout: must be between 0 and 3600 seconds") }
        timeoutMs = UInt32(t * 1000)
        handoffTool = raw.handoff_tool ?? false
    }
}
