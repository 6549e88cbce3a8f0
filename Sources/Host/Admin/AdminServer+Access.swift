import Foundation

/// GET/POST /api/v1/access-rules and DELETE /api/v1/access-rules/{id}: the allow and
/// block lists (by number, prefix or country calling code) that the router's abuse step
/// checks before any agent call. A change bumps the access version in the same
/// transaction, so every gateway process on the store applies it from its next message.
/// Runs on the admin pool.
extension AdminServer {
    static func ruleJSON(_ r: AccessRule) -> JSONValue {
        .object([("id", .number(Double(r.id))), ("list", .string(r.list.rawValue)), ("kind", .string(r.kind.rawValue)),
                 ("value", .string(r.kind == .country ? "+" + r.value : r.value)), ("note", .string(r.note)),
                 ("created_by", .string(r.createdBy)), ("created_at", AdminJSON.time(r.createdMs))])
    }

    func listAccessRules(_ call: AdminRequest) throws -> JSONValue {
        try call.only(["list"])
        let list = try call.oneOf("list", AccessRule.List.allCases.map(\.rawValue)).flatMap(AccessRule.List.init(rawValue:))
        let (version, rules) = try store.accessRules()
        return .object([("version", .number(Double(version))),
                        ("rules", .array(rules.filter { list == nil || $0.list == list }.map(Self.ruleJSON)))])
    }

    func addAccessRule(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        let b = try call.body(["list": "string", "kind": "string", "value": "string", "note": "string"], required: ["list", "kind", "value"])
        guard let list = AccessRule.List(rawValue: b["list"]?.stringValue ?? "") else { throw AdminError.invalid("list", "expected block or allow") }
        guard let kind = AccessRule.Kind(rawValue: b["kind"]?.stringValue ?? "") else { throw AdminError.invalid("kind", "expected number, prefix or country") }
        let raw = b["value"]?.stringValue ?? ""
        guard (1...64).contains(raw.unicodeScalars.count) else { throw AdminError.invalid("value", "1-64 characters") }
        let value: String
        do { value = try AccessList.normalize(kind: kind, value: b["value"]?.stringValue ?? "") } catch { throw AdminError.invalid("value", "\(error)") }
        let note = b["note"]?.stringValue ?? ""
        guard note.unicodeScalars.count <= 500 else { throw AdminError.invalid("note", "at most 500 characters") }
        let (rule, created) = try store.addAccessRule(AccessRule(list: list, kind: kind, value: value, note: note,
                                                                 createdBy: call.token.name, createdMs: nowMillis()))
        if created {
            events.emit(Event("access.rule_added", fields: [("list", .string(list.rawValue)), ("rule", .string(AccessList.describe(rule))),
                                                            ("id", .number(Double(rule.id))), ("by", .string(call.token.name))]))
            logger.info("admin: \(call.token.name) added \(list.rawValue) rule \(rule.id) (\(kind.rawValue))")
        }
        guard case .object(var fields) = Self.ruleJSON(rule) else { return Self.ruleJSON(rule) }
        fields.append(("created", .bool(created)))
        return .object(fields)
    }

    func removeAccessRule(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        guard let id = Int64(call.segments[1]), id > 0 else { throw AdminError.invalid("id", "expected a rule id (GET /api/v1/access-rules lists them)") }
        guard let rule = try store.removeAccessRule(id: id) else { throw AdminError.notFound("no access rule \(id)") }
        events.emit(Event("access.rule_removed", fields: [("list", .string(rule.list.rawValue)), ("rule", .string(AccessList.describe(rule))),
                                                          ("id", .number(Double(rule.id))), ("by", .string(call.token.name))]))
        logger.info("admin: \(call.token.name) removed \(rule.list.rawValue) rule \(rule.id)")
        return .object([("removed", .bool(true)), ("rule", Self.ruleJSON(rule))])
    }
}
