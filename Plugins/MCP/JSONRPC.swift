import Foundation
import PluginKit

/// A JSON object decoded with JSONSerialization, boxed so it can cross tasks.
/// Immutable once made; safe to share between threads.
/// Unchecked Sendable: `[String: Any]` from JSONSerialization holds only value types and immutable
/// Foundation objects, and is never mutated after decoding.
struct JSONObject: @unchecked Sendable {
    let dict: [String: Any]
    init(_ dict: [String: Any]) { self.dict = dict }
    subscript(key: String) -> Any? { dict[key] }
}

/// Thrown by a connection whose server forgot our session (Streamable HTTP 404):
/// the client initialises again and repeats the request once.
struct MCPSessionLost: Error {}

/// JSON-RPC 2.0 message helpers shared by both MCP connections. Stateless.
enum JSONRPC {
    static func encode(_ object: [String: Any]) -> Data {
        // .withoutEscapingSlashes keeps URLs readable; sortedKeys is not needed.
        (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data("{}".utf8)
    }

    static func request(id: Int, method: String, params: [String: Any]?) -> Data {
        var m: [String: Any] = ["jsonrpc": "2.0", "id": id, "method": method]
        if let params { m["params"] = params }
        return encode(m)
    }

    static func notification(method: String, params: [String: Any]?) -> Data {
        var m: [String: Any] = ["jsonrpc": "2.0", "method": method]
        if let params { m["params"] = params }
        return encode(m)
    }

    /// `notifications/cancelled` for a request we gave up on.
    static func cancelled(id: Int, reason: String) -> Data {
        notification(method: "notifications/cancelled", params: ["requestId": id, "reason": reason])
    }

    /// Parses one message (object) or a batch (array of objects).
    static func decode(_ data: Data) -> [[String: Any]] {
        guard let v = try? JSONSerialization.jsonObject(with: data) else { return [] }
        if let o = v as? [String: Any] { return [o] }
        return (v as? [[String: Any]]) ?? []
    }

    /// The numeric id of a message, if any (servers echo our integer ids).
    static func id(of m: [String: Any]) -> Int? {
        if let i = m["id"] as? Int { return i }
        if let s = m["id"] as? String { return Int(s) }
        return nil
    }

    static func isResponse(_ m: [String: Any]) -> Bool { m["method"] == nil && (m["result"] != nil || m["error"] != nil) }

    /// The `result` of a response, or the PluginError its `error` maps to.
    static func result(of m: [String: Any], method: String) -> Result<JSONObject, PluginError> {
        if let e = m["error"] as? [String: Any] {
            let code = e["code"] as? Int ?? 0
            let msg = (e["message"] as? String) ?? "unknown error"
            return .failure(PluginError.failed("MCP \(method) failed: \(msg) (JSON-RPC error \(code))", detailCode: Int32(clamping: code)))
        }
        return .success(JSONObject(m["result"] as? [String: Any] ?? [:]))
    }
}
