import Foundation
import Yams

/// `admin:` of plugins.yaml, read with the same strictness as the rest.
extension Reader {
    static let adminKeys = ["listen", "tokens", "metrics", "takeover"]

    /// admin:
    ///   listen: 127.0.0.1:8081            default
    ///   metrics: false                    also serve /metrics here
    ///   tokens:
    ///     - { name: alice, token: "${ADMIN_TOKEN}", role: operator }   viewer | operator
    ///   takeover:
    ///     notice: "A person has joined the conversation."               default: none
    ///     waiting_reply: "Connecting you with a person. Please hold on."
    mutating func readAdmin(_ node: Node) -> AdminConfig? {
        var a = AdminConfig()
        a.line = node.mark?.line ?? 0
        if case .scalar(let s) = node, s.string.isEmpty || s.string == "~" || s.string == "null" { return a }
        guard let m = mapping(node, "admin") else { return nil }
        for (key, v) in m {
            let p = "admin.\(key)"
            switch key {
            case "listen":
                guard let text = string(v, p) else { continue }
                if let (h, port) = Self.hostPort(text) { a.host = h; a.port = port } else { problem(p, v, "expected host:port, got '\(text)'") }
            case "metrics": if let b = bool(v, p) { a.metrics = b }
            case "tokens": a.tokens = readAdminTokens(v)
            case "takeover":
                guard let t = mapping(v, p) else { continue }
                for (k, tv) in t {
                    switch k {
                    case "notice": if let s = string(tv, "\(p).\(k)") { a.takeoverNotice = s }
                    case "waiting_reply": if let s = string(tv, "\(p).\(k)") { a.waitingReply = s }
                    default: unknown(k, "\(p).", tv, ["notice", "waiting_reply"])
                    }
                }
            default: unknown(key, "admin.", v, Self.adminKeys)
            }
        }
        return a
    }

    private mutating func readAdminTokens(_ node: Node) -> [AdminToken] {
        guard let list = sequence(node, "admin.tokens") else { return [] }
        var out: [AdminToken] = []
        var names: Set<String> = [], secrets: Set<String> = []
        for (i, item) in list.enumerated() {
            let base = "admin.tokens[\(i)]"
            guard let m = mapping(item, base) else { continue }
            var name: String?, token: String?, role: AdminRole?
            for (key, v) in m {
                let p = "\(base).\(key)"
                switch key {
                case "name": name = string(v, p)
                case "token": token = string(v, p)
                case "role":
                    guard let s = string(v, p) else { continue }
                    role = AdminRole(rawValue: s)
                    if role == nil { problem(p, v, "expected viewer or operator, got '\(s)'") }
                default: unknown(key, "\(base).", v, ["name", "token", "role"])
                }
            }
            guard let name, !name.isEmpty else { problem("\(base).name", item, "missing (every token needs a name)"); continue }
            guard let token else { problem("\(base).token", item, "missing (set it from the environment: token: ${ADMIN_TOKEN})"); continue }
            guard let role else { if m.contains(where: { $0.0 == "role" }) { continue }; problem("\(base).role", item, "missing (viewer or operator)"); continue }
            // Never echo the token itself in a message.
            if token.count < 16 || token.contains(where: \.isWhitespace) {
                problem("\(base).token", item, "must be at least 16 characters without spaces (generate one: openssl rand -hex 24)")
                continue
            }
            if !names.insert(name).inserted { problem("\(base).name", item, "duplicate token name '\(name)'") }
            if !secrets.insert(token).inserted { problem("\(base).token", item, "the same token is given twice") }
            out.append(AdminToken(name: name, token: token, role: role))
        }
        return out
    }
}
