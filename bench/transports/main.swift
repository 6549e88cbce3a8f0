// transport-bench: calls/s and p50/p99 latency of each agent transport (through the
// plugin ABI, as the router calls it) next to a direct call to the same local agent.
// Usage: swift build -c release && .build/release/transport-bench [calls] [concurrency]
import Foundation
import Host
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

let args = CommandLine.arguments
if args.count > 1, let n = Int(args[1]) { Config.n = n }
if args.count > 2, let c = Int(args[2]) { Config.concurrency = c }

let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()
let fixtures = repoRoot + "/Tests/TransportTests/Fixtures"
let buildDir = ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? args[0]).split(separator: "/").dropLast().joined(separator: "/")
let binDir = "/" + buildDir

func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

func python(_ script: String, _ a: [String], port: Int) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "\(fixtures)/\(script)"] + a
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    let client = HTTPClient()
    defer { client.shutdown() }
    for _ in 0..<200 {
        if FileManager.default.fileExists(atPath: "/proc/\(p.processIdentifier)") {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
            close(fd)
            if ok { return p }
        }
        usleep(100_000)
    }
    throw NSError(domain: "bench", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(script) did not start"])
}

let httpPort = freePort(), mcpPort = freePort()
let httpAgent = try python("agent_http_server.py", ["\(httpPort)"], port: httpPort)
let mcpServer = try python("mcp_test_server.py", ["http", "\(mcpPort)", "json"], port: mcpPort)
defer { kill(httpAgent.processIdentifier, SIGKILL); kill(mcpServer.processIdentifier, SIGKILL) }

let yaml = """
plugin_path: [\(binDir)]
plugins:
  - {id: mcp, library: mcp}
  - {id: http, library: http-agent}
  - {id: oa, library: openai}
agents:
  - {name: mcp-stdio, transport: mcp, config: {command: darkspere-example-agent}}
  - {name: mcp-http, transport: mcp, config: {url: "http://127.0.0.1:\(mcpPort)/mcp", protocol: handshake}}
  - {name: mcp-http-2026, transport: mcp, config: {url: "http://127.0.0.1:\(mcpPort)/mcp", protocol: "2026-07-28"}}
  - {name: http, transport: http, config: {url: "http://127.0.0.1:\(httpPort)/chat"}}
  - {name: openai, transport: oa, config: {url: "http://127.0.0.1:\(httpPort)/v1", model: m, api_key: bench}}
"""
let runtime = HostRuntime(logLevel: .warning)
let set = try PluginSet.start(try ConfigLoader().load(yaml: yaml), runtime: runtime)
let client = runtime.httpClient

func viaGateway(_ name: String) -> @Sendable () async -> Bool {
    let a = set.agents.first { $0.name == name }!
    return {
        var c = AgentCall()
        c.sessionId = "bench"; c.from = "+15550001111"; c.to = "+15550002222"; c.channel = "bench"; c.text = "hello"
        c.timeoutMs = 10_000
        return await a.transport.call(a, c).ok
    }
}

// Direct baselines: the same request bodies, straight to the agent.
let envelope = Array(#"{"type":"chat.request","message_id":"m","timestamp":"2026-01-01T00:00:00Z","session_id":"bench","phone_number":"+15550001111","message":"hello","context":{"conversation_history":[],"session_state":{}},"metadata":{"platform":"sms","channel":"bench"}}"#.utf8)
let completion = Array(#"{"model":"m","messages":[{"role":"user","content":"hello"}]}"#.utf8)
let stdio = try DirectStdio(executable: binDir + "/darkspere-example-agent")
defer { stdio.stop() }
_ = await stdio.send("initialize", ["protocolVersion": "2025-11-25", "capabilities": [String: Any](), "clientInfo": ["name": "bench", "version": "1"]])
let initBody = Array(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#.utf8)
let mcpURL = "http://127.0.0.1:\(mcpPort)/mcp"
let initResp = await directPost(client, mcpURL, initBody)
let sid = initResp?.headers.first { $0.0.lowercased() == "mcp-session-id" }?.1 ?? ""
let sessionHeaders = [("Mcp-Session-Id", sid), ("MCP-Protocol-Version", "2025-11-25")]
_ = await directPost(client, mcpURL, Array(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.utf8), headers: sessionHeaders)
/// Each in-flight request needs its own JSON-RPC id within the session.
final class Counter: Sendable { let v = Mutex(100); func next() -> Int { v.withLock { $0 += 1; return $0 } } }
let ids = Counter()
func toolCall() -> [UInt8] {
    Array(#"{"jsonrpc":"2.0","id":\#(ids.next()),"method":"tools/call","params":{"name":"chat","arguments":{"message":"hello","session_id":"bench","to":"+15550002222","channel":"bench","history":[]}}}"#.utf8)
}

func modernCall() -> [UInt8] {
    Array(#"{"jsonrpc":"2.0","id":\#(ids.next()),"method":"tools/call","params":{"name":"chat","arguments":{"message":"hello","session_id":"bench","to":"+15550002222","channel":"bench","history":[]},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"}}}}"#.utf8)
}
let modernHeaders = [("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", "tools/call"), ("Mcp-Name", "chat")]

let n = Config.n, conc = Config.concurrency
var rows: [Row] = []
rows.append(await measure("MCP stdio (example agent): direct JSON-RPC", n: n, concurrency: conc) {
    await stdio.send("tools/call", ["name": "chat", "arguments": ["message": "hello", "from": "+15550001111", "session_id": "bench", "history": [Any]()]])
})
rows.append(await measure("MCP stdio (example agent): via gateway `mcp`", n: n, concurrency: conc, viaGateway("mcp-stdio")))
rows.append(await measure("MCP Streamable HTTP (Python SDK, JSON): via gateway `mcp`", n: n / 4, concurrency: conc, viaGateway("mcp-http")))
rows.append(await measure("MCP Streamable HTTP (Python SDK, JSON): direct POST", n: n / 4, concurrency: conc) {
    (await directPost(client, mcpURL, toolCall(), headers: sessionHeaders))?.status == 200
})
rows.append(await measure("MCP Streamable HTTP 2026-07-28 (Python SDK, JSON): via gateway `mcp`", n: n / 4, concurrency: conc, viaGateway("mcp-http-2026")))
rows.append(await measure("MCP Streamable HTTP 2026-07-28 (Python SDK, JSON): direct POST", n: n / 4, concurrency: conc) {
    (await directPost(client, mcpURL, modernCall(), headers: modernHeaders))?.status == 200
})
rows.append(await measure("HTTP JSON (Python agent): direct POST", n: n, concurrency: conc) {
    (await directPost(client, "http://127.0.0.1:\(httpPort)/chat", envelope))?.status == 200
})
rows.append(await measure("HTTP JSON (Python agent): via gateway `http-agent`", n: n, concurrency: conc, viaGateway("http")))
rows.append(await measure("OpenAI-compatible (Python agent): direct POST", n: n, concurrency: conc) {
    (await directPost(client, "http://127.0.0.1:\(httpPort)/v1/chat/completions", completion))?.status == 200
})
rows.append(await measure("OpenAI-compatible (Python agent): via gateway `openai`", n: n, concurrency: conc, viaGateway("openai")))

print("transport-bench: \(n) calls per path (\(n / 4) for MCP HTTP), latency sequential, throughput with \(conc) in flight")
printTable(rows)
set.shutdown()
runtime.shutdown()
