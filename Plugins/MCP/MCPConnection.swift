import Foundation
import PluginKit

/// One JSON-RPC link to an MCP server: a child process (stdio) or an HTTP endpoint.
///
/// Implementation requirements: every method may be called from any task, concurrently;
/// `request` enforces its own deadline and, when it gives up (deadline or task
/// cancellation), sends `notifications/cancelled` for that request and throws
/// `PluginError.timeout` / `.cancelled`. Errors are classified: lost connection, 5xx →
/// `.unavailable`; 429 → `.rateLimited`; JSON-RPC errors → permanent `.failed`.
protocol MCPConnection: AnyObject, Sendable {
    /// Sends a request and returns its `result`.
    func request(_ method: String, _ params: [String: Any]?, timeoutMs: UInt32) async throws -> JSONObject
    /// Sends a notification (no answer expected). Failures are logged, not thrown.
    func notify(_ method: String, _ params: [String: Any]?) async
    /// Changes whenever the server side was replaced (process restarted, HTTP session
    /// lost): the client must run the handshake again.
    var generation: Int { get }
    /// The negotiated protocol version (sent as `MCP-Protocol-Version` over HTTP), and
    /// whether it is a per-request-envelope revision (2026-07-28: no session; over
    /// HTTP every request also carries `Mcp-Method` and, for tools/call, `Mcp-Name`).
    func setProtocol(version: String?, perRequest: Bool)
    /// Stops the child / deletes the HTTP session. Pending requests fail.
    func close()
}
