import Foundation
import PluginKit

/// The `openai` transport: any OpenAI-compatible chat completions endpoint (OpenAI,
/// vLLM, llama.cpp server, Ollama, LM Studio, ...). POSTs `{url}/chat/completions`
/// with the system prompt, the history as messages and the new message; the reply is
/// `choices[0].message.content`. HTTP goes through the host's client.
///
/// Threading: open/close never concurrent on the instance; call/probe from any task,
/// concurrently. Agents are immutable values.
final class OpenAITransport: AgentTransport {
    struct Agent: Sendable {
        let name: String
        let config: OpenAIConfig
    }

    let host: PluginHost

    init(host: PluginHost, config: PluginConfig) throws { self.host = host }

    func open(name: String, config: PluginConfig) throws -> Agent {
        Agent(name: name, config: try OpenAIConfig(config, host: host))
    }

    /// Offered with `handoff_tool: true`: the model calls it to hand the conversation to a person.
    /// `nonisolated(unsafe)`: an immutable JSON literal (value types only), never mutated.
    nonisolated(unsafe) static let requestHumanTool: [String: Any] = [
        "type": "function",
        "function": [
            "name": "request_human",
            "description": "Hand this SMS conversation to a human operator when you cannot or should not answer yourself.",
            "parameters": ["type": "object", "properties": ["reason": ["type": "string", "description": "why a person is needed"]],
                           "required": [] as [String]],
        ] as [String: Any],
    ]

    /// A user message's `content`: the text alone, or with attachments content parts —
    /// `{"type":"text"}` then one `{"type":"image_url","image_url":{"url"}}` per image (or
    /// attachment of unknown type); other attachments are named in a text part.
    static func content(_ text: String, _ media: [MediaAttachment]) -> Any {
        guard !media.isEmpty else { return text }
        var parts: [[String: Any]] = []
        if !text.isEmpty { parts.append(["type": "text", "text": text]) }
        for m in media {
            if m.contentType.isEmpty || m.contentType.hasPrefix("image/") {
                parts.append(["type": "image_url", "image_url": ["url": m.url]])
            } else {
                parts.append(["type": "text", "text": "[attachment \(m.contentType): \(m.url)]"])
            }
        }
        return parts
    }

    /// An assistant message's text with its attachments named (the API takes no image
    /// parts in assistant messages).
    static func noted(_ text: String, _ media: [MediaAttachment]) -> String {
        media.reduce(text) { t, m in (t.isEmpty ? "" : t + "\n") + "[attachment\(m.contentType.isEmpty ? "" : " " + m.contentType): \(m.url)]" }
    }

    /// A reply's `content`: a string, or a list of parts — `text` parts joined, `image_url`
    /// parts (`image_url.url`, absolute http(s)) as attachments.
    static func reply(_ content: Any?) -> (text: String, media: [MediaAttachment])? {
        if let s = content as? String { return (s, []) }
        guard let parts = content as? [[String: Any]] else { return nil }
        var texts: [String] = [], media: [MediaAttachment] = []
        for p in parts {
            switch p["type"] as? String {
            case "text": if let t = p["text"] as? String { texts.append(t) }
            case "image_url":
                let url = (p["image_url"] as? [String: Any])?["url"] as? String ?? p["image_url"] as? String
                if let u = url, u.hasPrefix("https://") || u.hasPrefix("http://") { media.append(MediaAttachment(url: u, contentType: "")) }
            default: continue
            }
        }
        return (texts.joined(separator: "\n"), Array(media.prefix(10)))
    }

    /// The request body for one turn.
    static func body(_ c: OpenAIConfig, _ r: AgentRequest) -> [UInt8] {
        var messages: [[String: Any]] = []
        if let s = c.systemPrompt { messages.append(["role": "system", "content": s]) }
        for h in r.history {
            // An operator's message (takeover) is said by our side: "assistant" (the API has no operator role).
            let user = h.role == "user"
            messages.append(["role": user ? "user" : "assistant", "content": user ? content(h.text, h.media) : noted(h.text, h.media)])
        }
        messages.append(["role": "user", "content": content(r.text, r.media)])
        var o: [String: Any] = ["model": c.model, "messages": messages]
        if let t = c.temperature { o["temperature"] = t }
        if let n = c.maxTokens { o["max_tokens"] = n }
        if !r.sessionId.isEmpty { o["user"] = r.sessionId }
        if c.handoffTool { o["tools"] = [Self.requestHumanTool] }
        return [UInt8]((try? JSONSerialization.data(withJSONObject: o, options: [.withoutEscapingSlashes])) ?? Data())
    }

    func call(_ agent: Agent, _ request: AgentRequest) async throws -> AgentReply {
        let c = agent.config
        let deadline = request.timeoutMs > 0 ? min(c.timeoutMs, request.timeoutMs) : c.timeoutMs
        let r = try await host.http(HTTPRequest(method: "POST", url: c.endpoint,
                                                headers: [("Content-Type", "application/json")] + c.headers,
                                                body: Self.body(c, request), timeoutMs: deadline))
        try Task.checkCancellation()
        try Self.check(r, agent: agent.name)
        guard let o = (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any] else {
            throw PluginError.failed("agent '\(agent.name)': answer is not a JSON object")
        }
        // A call of the request_human tool: the agent asks for a human (its content, if any, is the reply).
        if let choices = o["choices"] as? [[String: Any]], let message = choices.first?["message"] as? [String: Any],
           let calls = message["tool_calls"] as? [[String: Any]],
           let human = calls.first(where: { (($0["function"] as? [String: Any])?["name"] as? String) == "request_human" }) {
            let args = ((human["function"] as? [String: Any])?["arguments"] as? String).flatMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            let text = (message["content"] as? String ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            return AgentReply(text: text, handoff: args?["reason"] as? String ?? "")
        }
        guard let choices = o["choices"] as? [[String: Any]], let first = choices.first,
              let message = first["message"] as? [String: Any], let content = Self.reply(message["content"]) else {
            throw PluginError.failed("agent '\(agent.name)': answer has no choices[0].message.content")
        }
        return AgentReply(text: content.text.trimmingCharacters(in: .whitespacesAndNewlines), media: content.media)
    }

    /// Classifies an HTTP status: 429 rate limited, 408 timeout, 5xx unavailable,
    /// 401/403 auth, other 4xx permanent (the server's error message included).
    static func check(_ r: HTTPResponse, agent: String) throws {
        switch r.status {
        case 200..<300: return
        case 429:
            let after = r.header("Retry-After").flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }.map { $0 * 1000 } ?? 0
            throw PluginError.rateLimited("agent '\(agent)': HTTP 429", retryAfterMs: after)
        case 408: throw PluginError.timeout("agent '\(agent)': HTTP 408")
        case 500...: throw PluginError.unavailable("agent '\(agent)': HTTP \(r.status)")
        case 401, 403: throw PluginError.auth("agent '\(agent)': HTTP \(r.status) (check api_key)")
        default:
            let detail = ((try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any])
                .flatMap { ($0["error"] as? [String: Any])?["message"] as? String } ?? String(r.text.prefix(200))
            throw PluginError.failed("agent '\(agent)': HTTP \(r.status): \(detail)")
        }
    }

    /// Health: GET `{url}/models` answers 2xx.
    func probe(_ agent: Agent) async throws {
        let url = String(agent.config.endpoint.dropLast("/chat/completions".count)) + "/models"
        let r = try await host.http(HTTPRequest(method: "GET", url: url, headers: agent.config.headers, timeoutMs: 5_000))
        try Self.check(r, agent: agent.name)
    }
}

@_cdecl("darkspere_plugin_entry")
public func darkspere_plugin_entry(_ host: UnsafePointer<ds_host>?, _ major: UInt32, _ minor: UInt32) -> UnsafePointer<ds_plugin_descriptor>? {
    PluginExport(id: "openai", name: "OpenAI-compatible agent transport", version: "1.0.0",
                 description: "Chat completions on any OpenAI-compatible server",
                 configSchema: #"{"type":"object","properties":{},"additionalProperties":false}"#,
                 agentTransport: OpenAITransport.self).entry(host, major, minor)
}
