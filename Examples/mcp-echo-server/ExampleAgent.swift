import Foundation

/// The MCP server side: handshake, ping, tools/list and tools/call of `chat`.
/// Single-threaded (the main loop calls `handle` for each line in order).
final class ExampleAgent {
    static let versions = ["2025-11-25", "2025-06-18", "2025-03-26"]
    let started = Date()
    var calls = 0

    /// The answers (zero or more lines) to one incoming line.
    func handle(line: String) -> [String] {
        guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
            return [encode(["jsonrpc": "2.0", "id": NSNull(), "error": ["code": -32700, "message": "parse error"]])]
        }
        guard let method = o["method"] as? String else { return [] }   // a response to us: none expected
        guard let id = o["id"] else {
            if method == "notifications/cancelled" { FileHandle.standardError.write(Data("cancelled by client\n".utf8)) }
            return []   // notifications need no answer
        }
        let params = o["params"] as? [String: Any] ?? [:]
        switch method {
        case "initialize":
            let asked = params["protocolVersion"] as? String ?? ""
            return [result(id, [
                "protocolVersion": Self.versions.contains(asked) ? asked : Self.versions[0],
                "capabilities": ["tools": ["listChanged": false]],
                "serverInfo": ["name": "darkspere-example-agent", "version": "1.0.0"],
                "instructions": "Send any text to the chat tool; 'help' lists what it understands.",
            ])]
        case "ping":
            return [result(id, [:])]
        case "tools/list":
            return [result(id, ["tools": [Self.chatTool]])]
        case "tools/call":
            guard (params["name"] as? String) == "chat" else {
                return [error(id, -32602, "unknown tool: \(params["name"] ?? "")")]
            }
            let args = params["arguments"] as? [String: Any] ?? [:]
            let text = Replies.answer(to: args["message"] as? String ?? "",
                                      history: args["history"] as? [[String: Any]] ?? [],
                                      from: args["from"] as? String ?? "", uptime: Date().timeIntervalSince(started))
            calls += 1
            return [result(id, ["content": [["type": "text", "text": text]], "structuredContent": ["reply": text], "isError": false])]
        default:
            return [error(id, -32601, "method not found: \(method)")]
        }
    }

    /// `nonisolated(unsafe)`: an immutable JSON literal (value types only), never mutated.
    nonisolated(unsafe) static let chatTool: [String: Any] = [
        "name": "chat",
        "title": "Chat",
        "description": "Answers a text message: echo, help, time, count, reverse, about.",
        "inputSchema": [
            "type": "object",
            "properties": [
                "message": ["type": "string", "description": "The user's message"],
                "from": ["type": "string", "description": "The sender's phone number"],
                "session_id": ["type": "string"],
                "history": ["type": "array", "items": ["type": "object"], "description": "Earlier messages, oldest first"],
            ],
            "required": ["message"],
        ],
        "outputSchema": ["type": "object", "properties": ["reply": ["type": "string"]], "required": ["reply"]],
    ]

    func result(_ id: Any, _ r: [String: Any]) -> String { encode(["jsonrpc": "2.0", "id": id, "result": r]) }
    func error(_ id: Any, _ code: Int, _ m: String) -> String { encode(["jsonrpc": "2.0", "id": id, "error": ["code": code, "message": m]]) }
    func encode(_ o: [String: Any]) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: o, options: [.withoutEscapingSlashes])) ?? Data("{}".utf8), as: UTF8.self)
    }
}

/// The `chat` tool's answers. Pure functions.
enum Replies {
    static let help = "I am the DarkSpere example agent. Try: help, time, count, reverse <text>, about. Anything else I echo back."

    static func answer(to message: String, history: [[String: Any]], from: String, uptime: TimeInterval) -> String {
        let text = message.trimmingCharacters(in: .whitespacesAndNewlines)
        let lower = text.lowercased()
        let userTurns = history.filter { ($0["role"] as? String) == "user" }.count
        switch lower {
        case "", "hi", "hello", "hey":
            return userTurns == 0 ? "Hello! \(help)" : "Hello again! This is message \(userTurns + 1) of our conversation."
        case "help", "?", "menu":
            return help
        case "time", "date", "what time is it", "what time is it?":
            let f = ISO8601DateFormatter()
            return "It is \(f.string(from: Date())) (UTC)."
        case "count", "history", "how many":
            return "We have exchanged \(history.count) earlier message(s); you sent \(userTurns) before this one."
        case "about":
            return "DarkSpere example agent: an MCP server over stdio, no LLM, up \(Int(uptime)) s."
        default:
            if lower.hasPrefix("reverse ") { return String(text.dropFirst("reverse ".count).reversed()) }
            return "You said: \(text)"
        }
    }
}
