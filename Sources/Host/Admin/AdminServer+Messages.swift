import Foundation

/// GET /api/v1/messages: find a message by number, correlation id and time. Runs on the admin pool.
extension AdminServer {
    func findMessages(_ call: AdminRequest) throws -> JSONValue {
        try call.only(["number", "correlation_id", "since", "limit"])
        let limit = try call.int("limit", in: 1...500, default: 100)
        let number = try call.string("number", maxLength: 64)
        let corr = try call.string("correlation_id", maxLength: 512)
        if let corr, corr.first == ":" || corr.last == ":" || !corr.contains(":") {
            throw AdminError.invalid("correlation_id", "expected channel:message id as in events (e.g. twilio:SM123), got '\(corr.prefix(40))'")
        }
        let since = try call.time("since") ?? 0
        let found = try store.findMessages(number: number, correlationId: corr, sinceMs: since, limit: limit)
        return .object([("messages", .array(found.map(AdminJSON.message)))])
    }
}
