import Foundation

/// An admin API error: answered as `{"error": {"code", "message"}}` with `status`.
/// Bad input is a 4xx with a message that says what to change; nothing was changed.
public struct AdminError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String
    public var headers: [(String, String)] = []

    public init(_ status: Int, _ code: String, _ message: String, headers: [(String, String)] = []) {
        self.status = status; self.code = code; self.message = message; self.headers = headers
    }
    public var description: String { "\(status) \(code): \(message)" }

    public var json: JSONValue { .object([("error", .object([("code", .string(code)), ("message", .string(message))]))]) }

    static func badRequest(_ message: String) -> AdminError { AdminError(400, "bad_request", message) }
    static func invalid(_ field: String, _ message: String) -> AdminError { AdminError(400, "invalid_value", "\(field): \(message)") }
    static func notFound(_ message: String) -> AdminError { AdminError(404, "not_found", message) }
    static let unauthorized = AdminError(401, "unauthorized", "send Authorization: Bearer <token> with a token from admin.tokens",
                                         headers: [("WWW-Authenticate", "Bearer realm=\"darkspere-admin\"")])
    static func forbidden(_ name: String) -> AdminError {
        AdminError(403, "forbidden", "token '\(name)' has role viewer: changing anything needs an operator token")
    }
    static func unavailable(_ what: String) -> AdminError { AdminError(503, "unavailable", "\(what) is not available right now; try again") }
}
