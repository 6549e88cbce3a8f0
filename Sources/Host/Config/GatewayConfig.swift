import Foundation

/// The gateway's configuration, read from plugins.yaml by `ConfigLoader`.
/// Plain values, `Sendable`; built once at start-up.
public struct GatewayConfig: Sendable {
    public var server = ServerConfig()
    public var store = StoreConfig()
    public var routing = RoutingConfig()
    public var events = EventsConfig()
    /// Folders searched for a plugin given by short name, in order.
    public var pluginPath: [String] = []
    public var plugins: [PluginEntry] = []
    public var agents: [AgentEntry] = []
    /// Optional `routes:`: a local number or a leading keyword sends new sessions to an agent or pool.
    public var routes: [RouteEntry] = []
    /// `accounts:`: who is billed for which agents.
    public var accounts: [AccountEntry] = []
    /// `tiers:` by name; the defaults (free, pro, enterprise) unless the file replaces them.
    public var tiers: [String: TierConfig] = TierConfig.defaults
    /// `billing:`: admission replies, status effects and usage reporting.
    public var billing = BillingConfig()
    /// `admin:`: the admin listener; nil = none.
    public var admin: AdminConfig?
    /// `abuse:` (rate limits, access lists, known users, spam filter); nil: none of it runs.
    public var abuse: AbuseConfig?
    /// The file it was read from, for messages.
    public var sourcePath: String = "plugins.yaml"

    public init() {}
}

public struct ServerConfig: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// The URL the outside world (Twilio) uses to reach this server; channel signatures use it.
    public var publicURL = "http://127.0.0.1:8080"
    /// Larger request bodies are refused with 413.
    public var maxBodyBytes = 1 << 20
    /// A request whose handler has not answered by then gets 503.
    public var requestTimeout: Double = 30
    /// How long shutdown waits for in-flight requests.
    public var shutdownGrace: Double = 10
    /// Header names and values together larger than this (or a request head larger than
    /// this plus 8 KiB) get 431.
    public var maxHeaderBytes = 16 << 10
    /// More header fields than this get 431.
    public var maxHeaders = 100
    /// A connection without a request for this long is closed.
    public var idleTimeout: Double = 60
    /// A request whose head and body have not all arrived this long after its first byte
    /// gets 408 and the connection is closed.
    public var readTimeout: Double = 10
    /// Connections open at once per listener (lowered to fit the open-file limit); when
    /// full, the one idle the longest is closed to make room.
    public var maxConnections = 4096
    /// /readyz answers 503 when the store does not answer within this.
    public var readyTimeout: Double = 2
    /// Reverse proxies (IP addresses) whose `X-Forwarded-For` names the client: a request
    /// from one of them gets the client's address as its remote address (plugins' logs,
    /// per-address limits). Empty: the header is ignored. `public_url` stays the URL that
    /// signatures are checked against; X-Forwarded-Proto/Host are never trusted for it.
    public var trustedProxies: [String] = []
    public init() {}
}

public struct StoreConfig: Sendable {
    /// `sqlite:PATH` or `postgres://user:pass@host:port/db`.
    public var url = "sqlite:data/darkspere.sqlite"
    public init() {}
}

public struct RoutingConfig: Sendable {
    public var sessionTimeout: Double = 30 * 60
    public var historyDepth = 20
    public var inlineReplyBudget: Double = 5
    public var minHealth = 70
    public var retention: Double = 30 * 86_400
    public var agentTimeout: Double = 30
    public var noAgentReply = "All our agents are busy right now. Please try again in a few minutes."
    /// Agent turns running at once in this process (all sessions, all agents).
    public var maxConcurrent = 64
    /// How often every agent is probed.
    public var probeInterval: Double = 10
    /// How long an open circuit breaker waits before letting a trial call through.
    public var breakerCooldown: Double = 30
    /// Deferred sends give up after this many attempts.
    public var outboxMaxAttempts = 10
    /// Compliance confirmations (STOP family, START family, HELP/INFO).
    public var optOutReply = "You have been unsubscribed and will receive no further messages. Reply START to resubscribe."
    public var optInReply = "You have been resubscribed. Reply STOP to unsubscribe."
    public var helpReply = "Reply STOP to unsubscribe, START to resubscribe. Msg&data rates may apply."
    public init() {}
}

/// One `routes:` entry: messages starting a new session that match `to` (our number) or
/// whose first word is `keyword` (case-insensitive) go to `agents` (one agent or a pool).
public struct RouteEntry: Sendable {
    public var to: String?
    public var keyword: String?
    public var agents: [String] = []
    public var line = 0
}

/// One `plugins:` entry: an instance of a plugin library.
public struct PluginEntry: Sendable {
    /// The instance id: what `agents[].transport` and logs refer to.
    public var id: String
    /// A path to a shared library, or a short name looked up in `plugin_path`.
    public var library: String
    public var enabled = true
    /// The `config` block as JSON text.
    public var configJSON = "{}"
    /// Line of the entry in the YAML file (for messages); 0 if unknown.
    public var line = 0
    /// JSON-pointer-like path ("a.b[0]") -> line, for schema errors inside `config`.
    public var configLines: [String: Int] = [:]
    /// Position in `plugins:`, for key paths in messages ("plugins[2].config.token").
    public var index = 0
}

/// One `agents:` entry: an agent reached through a transport plugin instance.
public struct AgentEntry: Sendable {
    public var name: String
    /// The `id` of a plugins: entry offering ds.agent-transport/1.
    public var transport: String
    /// Sessions (conversations active within `routing.session_timeout`) this agent takes
    /// at once; nil (the default) = unlimited.
    public var maxSessions: Int?
    /// Calls to this agent in flight at once, inside `routing.max_concurrent`; nil = the
    /// router's default (`ConversationRouter.defaultMaxInFlight`).
    public var maxInFlight: Int?
    public var historyDepth: Int?
    public var configJSON = "{}"
    public var line = 0
    /// The `id` of the `accounts:` entry billed for this agent's usage; nil = unbilled.
    public var account: String?
    /// Position in `agents:`, for key paths in messages ("agents[0].config.url").
    public var index = 0
    /// JSON-pointer-like path inside `config` -> line, for schema errors.
    public var configLines: [String: Int] = [:]
}

/// The event stream to log sinks (`events:` in plugins.yaml).
public struct EventsConfig: Sendable {
    /// Put message bodies into events. Off by default: bodies are personal data.
    public var includeBodies = false
    /// Keep only the last 4 digits of phone numbers in events.
    public var redactNumbers = true
    /// Events held in memory per sink before further ones spill to its spool file.
    public var queueCapacity = 10_000
    /// Events per write to a sink.
    public var batchSize = 500
    /// How long a sink may take for one write before the host retries it.
    public var writeTimeout: Double = 10
    /// Folder of the per-sink spool files (relative to the config file).
    public var spoolDir = "data/spool"
    public init() {}
}
