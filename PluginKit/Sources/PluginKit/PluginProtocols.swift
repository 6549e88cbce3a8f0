/// What every Swift plugin instance is: made from its `config` block, given its host.
///
/// Threading: `init` and `shutdown` run on the host's main thread, never concurrently
/// with anything else on the instance. Every async operation may run concurrently with
/// the others (several sends, calls of different sessions, ...): keep shared state in
/// an actor or behind a lock.
public protocol PluginInstance: AnyObject, Sendable {
    /// Creates the instance. Throw `PluginError.config("field: why")` for bad config.
    init(host: PluginHost, config: PluginConfig) throws
    /// Called once at shutdown, after every operation finished. Default: nothing.
    func shutdown()
}

extension PluginInstance {
    public func shutdown() {}
}

/// A channel (`ds.channel/1`): registers its routes in `init` through
/// `host.route(...)`, submits what arrives with `host.submit(...)`, and sends.
public protocol ChannelPlugin: PluginInstance {
    /// Sends one message. Throw a retryable PluginError (.unavailable, .rateLimited,
    /// .timeout) to have the host retry, `.optedOut` when the recipient opted out.
    func send(_ message: OutboundMessage) async throws -> SendReceipt
}

/// An agent transport (`ds.agent-transport/1`): reaches agents configured in `agents:`.
public protocol AgentTransport: PluginInstance {
    /// Your handle on one opened agent.
    associatedtype Agent: Sendable
    /// Opens an agent from its `config` block. May block (start a process, handshake).
    func open(name: String, config: PluginConfig) throws -> Agent
    /// One turn of a conversation. Retryable errors let the host retry or fail over.
    func call(_ agent: Agent, _ request: AgentRequest) async throws -> AgentReply
    /// Health check: return if healthy, throw if not.
    func probe(_ agent: Agent) async throws
    /// Closes an agent after its calls finished. Default: nothing.
    func close(_ agent: Agent)
}

extension AgentTransport {
    public func close(_ agent: Agent) {}
}

/// A billing provider (`ds.billing/1`).
public protocol BillingProvider: PluginInstance {
    /// Whether a usage may happen. Default: allow (the host enforces tiers itself).
    func authorize(_ usage: Usage) async throws -> Authorization
    /// Records a usage; must be idempotent on `usage.idempotencyKey`.
    func record(_ usage: Usage) async throws
}

extension BillingProvider {
    public func authorize(_ usage: Usage) async throws -> Authorization { .allow }
}

/// A log sink (`ds.log-sink/1`). `write` is never called concurrently on one instance.
public protocol LogSink: PluginInstance {
    /// Writes a batch of JSON events (each with a unique "id"); dedupe on it.
    func write(_ events: [String]) async throws -> SinkResult
    /// Makes everything written so far durable. Default: nothing.
    func flush() async throws
}

extension LogSink {
    public func flush() async throws {}
}
