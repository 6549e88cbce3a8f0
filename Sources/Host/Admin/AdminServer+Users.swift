import Foundation

/// GET/POST /api/v1/users and DELETE /api/v1/users/{number}: the known users. With
/// `abuse.known_users: true` only these numbers reach an agent. A user's account (one of
/// `accounts:`) is the one its messages count against for `abuse.per_account`. A change
/// bumps the access version (caches in every process reload). Runs on the admin pool.
extension AdminServer {
    static func userJSON(_ u: KnownUser) -> JSONValue {
        .object([("number", .string(u.number)), ("display_name", .string(u.displayName)), ("account", AdminJSON.str(u.account)),
                 ("created_at", AdminJSON.time(u.createdMs)), ("updated_at", AdminJSON.time(u.updatedMs))])
    }

    func listUsers(_ call: AdminRequest) throws -> JSONValue {
        try call.only(["number", "limit", "offset"])
        let limit = try call.int("limit", in: 1...1000, default: 100)
        let offset = try call.int("offset", in: 0...10_000_000, default: 0)
        if let n = try call.string("number", maxLength: 64) {
            return .object([("users", .array(try store.knownUser(n).map { [Self.userJSON($0)] } ?? []))])
        }
        return .object([("users", .array(try store.knownUsers(offset: offset, limit: limit).map(Self.userJSON)))])
    }

    func saveUser(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        let b = try call.body(["number": "string", "display_name": "string", "account": "string"], required: ["number"])
        let number: String
        do { number = try AccessList.normalize(kind: .number, value: b["number"]?.stringValue ?? "") } catch { throw AdminError.invalid("number", "\(error)") }
        let name = b["display_name"]?.stringValue ?? ""
        guard name.unicodeScalars.count <= 200 else { throw AdminError.invalid("display_name", "at most 200 characters") }
        let account = b["account"]?.stringValue
        if let account, !gatewayConfig.accounts.contains(where: { $0.id == account }) {
            throw AdminError.invalid("account", "no account '\(account.prefix(64))' in accounts: (known: \(gatewayConfig.accounts.map(\.id).joined(separator: ", ")))")
        }
        let (user, created) = try store.saveKnownUser(KnownUser(number: number, displayName: name, account: account), nowMs: nowMillis())
        events.emit(Event(created ? "user.added" : "user.updated", from: number, fields: [("by", .string(call.token.name))]))
        logger.info("admin: \(call.token.name) \(created ? "added" : "updated") a known user")
        guard case .object(var fields) = Self.userJSON(user) else { return Self.userJSON(user) }
        fields.append(("created", .bool(created)))
        return .object(fields)
    }

    func removeUser(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        let number = call.segments[1]
        guard (1...64).contains(number.unicodeScalars.count) else { throw AdminError.invalid("number", "1-64 characters") }
        guard try store.removeKnownUser(number) else { throw AdminError.notFound("\(number.prefix(64)) is not a known user") }
        events.emit(Event("user.removed", from: number, fields: [("by", .string(call.token.name))]))
        logger.info("admin: \(call.token.name) removed a known user")
        return .object([("removed", .bool(true)), ("number", .string(number))])
    }
}
