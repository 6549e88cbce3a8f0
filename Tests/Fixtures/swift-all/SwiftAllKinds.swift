import Foundation
import PluginKit

// Test fixture: one Swift library offering all four interfaces through PluginKit,
// so tests can drive every ABI operation and its error mapping.

/// Channel: registers POST {path} that submits the form-less body as a message from
/// the `from` query parameter, and GET {path}/slow?ms=N that answers after N ms.
final class FixtureChannel: ChannelPlugin {
    struct Config: Decodable { var path: String?; var fail_sends_to: String? }
    let host: PluginHost
    let failTo: String?
    let sent = SentLog()

    init(host: PluginHost, config: PluginConfig) throws {
        self.host = host
        let c = try config.decode(Config.self)
        failTo = c.fail_sends_to
        let path = c.path ?? "/fixture/in"
        try host.route("POST", path) { req in
            let q = Dictionary(uniqueKeysWithValues: req.query.split(separator: "&").compactMap { p -> (String, String)? in
                let kv = p.split(separator: "=", maxSplits: 1).map(String.init)
                return kv.count == 2 ? (kv[0], kv[1].removingPercentEncoding ?? kv[1]) : nil
            })
            do {
                let r = try await host.submit(InboundMessage(channelMessageId: q["id"] ?? UUID().uuidString,
                                                             from: q["from"] ?? "+15550000001", to: q["to"] ?? "+15550000002",
                                                             text: String(decoding: req.body, as: UTF8.self)))
                switch r {
                case .reply(let text): return HTTPResponse(status: 200, contentType: "text/plain", body: text)
                case .deferred: return HTTPResponse(status: 202, contentType: "text/plain", body: "deferred")
                }
            } catch {
                return HTTPResponse(status: 400, contentType: "text/plain", body: "\(error)")
            }
        }
        try host.route("GET", path + "/slow") { req in
            let ms = UInt64(req.query.split(separator: "=").last.flatMap { UInt64($0) } ?? 100)
            try? await Task.sleep(nanoseconds: ms * 1_000_000)
            return HTTPResponse(status: 200, contentType: "text/plain", body: "slow done after \(ms) ms")
        }
        try host.route("GET", path + "/env") { req in
            HTTPResponse(status: 200, contentType: "text/plain", body: host.env(req.query) ?? "<unset>")
        }
        try host.route("GET", path + "/fetch") { req in
            // Fetches a URL through the host's HTTP client and returns status + body.
            do {
                let r = try await host.http(HTTPRequest(method: "GET", url: req.query.removingPercentEncoding ?? req.query, timeoutMs: 2000))
                return HTTPResponse(status: 200, contentType: "text/plain", body: "\(r.status) \(r.text)")
            } catch {
                let e = PluginError.from(error)
                return HTTPResponse(status: 502, contentType: "text/plain", body: "error \(e.status): \(e.message)")
            }
        }
        let m = host.metric(.counter, "fixture_routes_total", help: "fixture metric")
        m?.record(1)
    }

    func send(_ message: OutboundMessage) async throws -> SendReceipt {
        if message.to == failTo { throw PluginError.rateLimited("slow down", retryAfterMs: 1500, detailCode: 20429) }
        await sent.add(message.text)
        return SendReceipt(providerMessageId: "SM-\(message.messageId)", segments: 2)
    }
}

actor SentLog {
    var texts: [String] = []
    func add(_ t: String) { texts.append(t) }
}

/// Agent transport: replies "<name>: <text> [h=N] [state=S]"; config `open_delay_ms`
/// slows open (start-up tests); agent config `fail: true` makes calls fail.
final class FixtureTransport: AgentTransport {
    struct Config: Decodable { var open_delay_ms: Int? }
    struct AgentConfig: Decodable { var fail: Bool? }
    struct Agent: Sendable { let name: String; let fail: Bool }
    let openDelay: Int

    init(host: PluginHost, config: PluginConfig) throws {
        openDelay = try config.decode(Config.self).open_delay_ms ?? 0
    }
    func open(name: String, config: PluginConfig) throws -> Agent {
        if openDelay > 0 { usleep(UInt32(openDelay) * 1000) }
        return Agent(name: name, fail: try config.decode(AgentConfig.self).fail ?? false)
    }
    func call(_ agent: Agent, _ r: AgentRequest) async throws -> AgentReply {
        if agent.fail { throw PluginError.unavailable("agent down") }
        if r.text == "sleep" { try await Task.sleep(nanoseconds: 10_000_000_000) }
        return AgentReply(text: "\(agent.name): \(r.text) [h=\(r.history.count)] [state=\(r.sessionState)]", sessionState: #"{"turns":1}"#)
    }
    func probe(_ agent: Agent) async throws { if agent.fail { throw PluginError.unavailable("agent down") } }
}

/// Billing: denies usage of kind "blocked"; records are counted.
final class FixtureBilling: BillingProvider {
    init(host: PluginHost, config: PluginConfig) throws {}
    func authorize(_ usage: Usage) async throws -> Authorization {
        usage.kind == "blocked" ? .deny(reason: "tier exhausted") : .allow
    }
    func record(_ usage: Usage) async throws {
        if usage.quantity < 0 { throw PluginError.invalid("negative quantity") }
    }
}

/// Log sink: asks for a retry when a batch contains "retry"; hangs while the file
/// `hang_file` exists; appends what it accepted to `record_file`.
final class FixtureSink: LogSink, Sendable {
    struct Config: Decodable { var hang_file: String?; var record_file: String? }
    let hangFile: String?
    let record: FileHandle?
    init(host: PluginHost, config: PluginConfig) throws {
        let c = try config.decode(Config.self)
        hangFile = c.hang_file
        if let r = c.record_file {
            FileManager.default.createFile(atPath: r, contents: nil)
            record = FileHandle(forWritingAtPath: r)
        } else { record = nil }
    }
    func write(_ events: [String]) async throws -> SinkResult {
        if let hangFile { while FileManager.default.fileExists(atPath: hangFile) { try await Task.sleep(nanoseconds: 20_000_000) } }
        if events.contains(where: { $0.contains("retry") }) { return .retry(reason: "backend down") }
        if let record { try record.write(contentsOf: Data(events.map { $0 + "\n" }.joined().utf8)) }
        return .written
    }
}

@_cdecl("darkspere_plugin_entry")
public func darkspere_plugin_entry(_ host: UnsafePointer<ds_host>?, _ major: UInt32, _ minor: UInt32) -> UnsafePointer<ds_plugin_descriptor>? {
    PluginExport(id: "swift-all", name: "Swift fixture (all kinds)", version: "0.0.1",
                 configSchema: #"{"type":"object","properties":{"path":{"type":"string","pattern":"^/"},"fail_sends_to":{"type":"string"},"open_delay_ms":{"type":"integer","minimum":0},"hang_file":{"type":"string"},"record_file":{"type":"string"}},"additionalProperties":false}"#,
                 channel: FixtureChannel.self, agentTransport: FixtureTransport.self,
                 billing: FixtureBilling.self, logSink: FixtureSink.self).entry(host, major, minor)
}
