import Foundation

/// `admin:` in plugins.yaml: the admin listener (JSON API, event stream, later the console).
/// Absent: no admin listener. Plain values, built once at start-up.
public struct AdminConfig: Sendable {
    public var host = "127.0.0.1"
    public var port = 8081
    /// Bearer tokens accepted by the admin API (from the environment, like every secret).
    public var tokens: [AdminToken] = []
    /// Also serve GET /metrics on the admin listener (with a token).
    public var metrics = false
    /// `takeover.notice`: sent to the user when an operator takes the session over ("" = nothing).
    public var takeoverNotice = ""
    /// `takeover.waiting_reply`: sent to the user when an agent asks for a human.
    public var waitingReply = "Connecting you with a person. Please hold on."
    public var line = 0
    public init() {}
}

/// Who may do what on the admin API.
public enum AdminRole: String, Sendable, CaseIterable {
    /// Reads only: every GET.
    case viewer
    /// Reads and changes (POST/PATCH/DELETE).
    case `operator`
}

/// One `admin.tokens` entry. `description` never shows the token.
public struct AdminToken: Sendable, CustomStringConvertible {
    public var name: String
    public var token: String
    public var role: AdminRole
    public init(name: String, token: String, role: AdminRole) { self.name = name; self.token = token; self.role = role }
    public var description: String { "\(name) (\(role.rawValue))" }
}
