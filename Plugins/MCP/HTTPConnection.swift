import Foundation
import PluginKit

/// MCP over Streamable HTTP, through the host's HTTP client (`host.http`).
///
/// Every message is a POST to `url` with `Accept: application/json, text/event-stream`;
/// the answer is either one JSON message or an SSE stream carrying it. The
/// `Mcp-Session-Id` the server assigns at `initialize` is sent on every later request,
/// with `MCP-Protocol-Version`. A 404 on a request that carried a session id means the
/// server forgot the session: the id is dropped, `generation` changes and
/// `MCPSessionLost` is thrown so the client initialises again. `close` sends DELETE.
///
/// Threading: any method from any task, concurrently; mutable state behind `lock`.
/// Configured headers (e.g. Authorization) are sent but never logged.
/// Unchecked Sendable: every `var` only under `lock`; the rest is immutable.
final class HTTPConnection: MCPConnection, @unchecked Sendable {
    let host: PluginHost
    let agentName: String
    let url: String
    let extraHeaders: [(String, String)]

    private let lock = NSLock()
    private var sessionId: String?
    private var protocolVersion: String?
    private var perRequest = false
    private var nextId = 0
    private var gen = 1

    init(host: PluginHost, agentName: String, url: String, headers: [(String, String)]) {
        self.host = host; self.agentName = agentName; self.url = url; self.extraHeaders = headers
    }

    var generation: Int { lock.withLock { gen } }
    func setProtocol(version: String?, perRequest p: Bool) { lock.withLock { protocolVersion = version; perRequest = p } }
    /// The session id the server gave us, if any (tests read it).
    var currentSessionId: String? { lock.withLock { sessionId } }

    private func headers(json: Bool, method: String? = nil, name: String? = nil) -> (headers: [(String, String)], session: String?) {
        var h: [(String, String)] = [("Accept", "application/json, text/event-stream")]
        if json { h.append(("Content-Type", "application/json")) }
        let (sid, v, modern) = lock.withLock { (sessionId, protocolVersion, perRequest) }
        if let sid { h.append(("Mcp-Session-Id", sid)) }
        if let v { h.append(("MCP-Protocol-Version", v)) }
        if modern, let method {
            h.append(("Mcp-Method", method))
            if let name { h.append(("Mcp-Name", name)) }
        }
        return (h + extraHeaders, sid)
    }

    func request(_ method: String, _ params: [String: Any]?, timeoutMs: UInt32) async throws -> JSONObject {
        let id: Int = lock.withLock { nextId += 1; return nextId }
        let (h, sid) = headers(json: true, method: method, name: method == "tools/call" ? params?["name"] as? String : nil)
        let body = [UInt8](JSONRPC.request(id: id, method: method, params: params))
        let response: HTTPResponse
        do {
            response = try await withTaskCancellationHandler {
                try await host.http(HTTPRequest(method: "POST", url: url, headers: h, body: body, timeoutMs: timeoutMs))
            } onCancel: {
                Task { [self] in await self.post(JSONRPC.cancelled(id: id, reason: "cancelled")) }
            }
        } catch let e as PluginError {
            if e.status == DS_ERR_TIMEOUT {
                await post(JSONRPC.cancelled(id: id, reason: "timeout"))
                throw PluginError.timeout("MCP \(method): no answer within \(timeoutMs) ms")
            }
            throw PluginError(status: e.status, "MCP \(method): \(e.message)")
        }
        if Task.isCancelled { throw PluginError.cancelled() }
        if method == "initialize", let s = response.header("Mcp-Session-Id"), !s.isEmpty {
            lock.withLock { sessionId = s }
        }
        if response.status == 404 && sid != nil {
            lock.withLock {
                if sessionId == sid { sessionId = nil; gen += 1 }
            }
            host.log(.info, "agent '\(agentName)': MCP session expired (404); initialising again")
            throw MCPSessionLost()
        }
        try Self.check(response, method: method)
        let messages: [[String: Any]]
        if (response.header("Content-Type") ?? "").lowercased().hasPrefix("text/event-stream") {
            messages = SSEParser.dataPayloads(response.body).flatMap { JSONRPC.decode(Data($0.utf8)) }
        } else {
            messages = JSONRPC.decode(Data(response.body))
        }
        guard let answer = messages.first(where: { JSONRPC.isResponse($0) && JSONRPC.id(of: $0) == id }) else {
            throw PluginError.unavailable("MCP \(method): the server's answer (HTTP \(response.status)) held no response to request \(id)")
        }
        return try JSONRPC.result(of: answer, method: method).get()
    }

    /// Maps an HTTP status that is not a success to a classified error.
    static func check(_ r: HTTPResponse, method: String) throws {
        switch r.status {
        case 200..<300: return
        case 429:
            let after = r.header("Retry-After").flatMap { Int64($0) }.map { $0 * 1000 } ?? 0
            throw PluginError.rateLimited("MCP \(method): HTTP 429", retryAfterMs: after)
        case 500...: throw PluginError.unavailable("MCP \(method): HTTP \(r.status)")
        case 401, 403: throw PluginError.auth("MCP \(method): HTTP \(r.status) (check the configured headers)")
        case 408: throw PluginError.timeout("MCP \(method): HTTP 408")
        default:
            throw PluginError.failed("MCP \(method): HTTP \(r.status): \(String(r.text.prefix(200)))")
        }
    }

    /// POSTs a notification or response; logs (never throws) on failure.
    private func post(_ message: Data) async {
        let (h, _) = headers(json: true)
        do {
            let r = try await host.http(HTTPRequest(method: "POST", url: url, headers: h, body: [UInt8](message), timeoutMs: 5_000))
            if r.status >= 300 { host.log(.debug, "agent '\(agentName)': notification got HTTP \(r.status)") }
        } catch {
            host.log(.warn, "agent '\(agentName)': notification not delivered: \(error)")
        }
    }

    func notify(_ method: String, _ params: [String: Any]?) async {
        await post(JSONRPC.notification(method: method, params: params))
    }

    /// Sends DELETE for the session (waits up to 3 s; the host's client thread answers).
    func close() {
        guard let sid = lock.withLock({ let s = sessionId; sessionId = nil; return s }) else { return }
        var h = extraHeaders
        h.append(("Mcp-Session-Id", sid))
        if let v = lock.withLock({ protocolVersion }) { h.append(("MCP-Protocol-Version", v)) }
        let done = DispatchSemaphore(value: 0)
        let req = HTTPRequest(method: "DELETE", url: url, headers: h, timeoutMs: 3_000)
        Task(executorPreference: OpenExecutor.shared) { [host] in
            _ = try? await host.http(req)
            done.signal()
        }
        _ = done.wait(timeout: .now() + 3.5)
    }
}
