/// A JSON value as the channel plugins read it from request bodies (Telegram updates, web
/// chat messages). Parsed by a hand-written reader (`JSON.parse`, JSON+Parse.swift) instead of
/// Foundation's JSONSerialization, whose NSDictionary/NSNumber bridging was most of the
/// channels' per-request CPU; written back by `JSONWriter`.
///
/// Numbers written without a fraction or an exponent that fit in 64 bits stay exact
/// integers (`.integer`: Telegram's chat and update ids); any other number is a Double.
/// Objects keep their members in document order; a lookup by key takes the last member of
/// that name (as JSONSerialization did). A value type: thread-safe.
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([Member])

    /// One `"key": value` member of an object.
    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: JSON
        public init(_ key: String, _ value: JSON) {
            self.key = key
            self.value = value
        }
    }

    /// The value of the last member named `key` if this is an object, else nil.
    public subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [JSON]? { if case .array(let a) = self { return a }; return nil }
    public var members: [Member]? { if case .object(let o) = self { return o }; return nil }
    public var isObject: Bool { if case .object = self { return true }; return false }

    /// An integer: `.integer`, or a `.number` without a fraction within ±9e15 (exact in a
    /// Double; "5.0" is 5). Booleans, strings and other numbers: nil.
    public var int64: Int64? {
        switch self {
        case .integer(let i): return i
        case .number(let d) where d == d.rounded() && abs(d) < 9.0e15: return Int64(d)
        default: return nil
        }
    }
}
