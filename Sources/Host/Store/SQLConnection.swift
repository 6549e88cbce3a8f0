import Foundation

/// A value bound to or read from a SQL statement. PostgreSQL answers in text form, so
/// readers convert (`int`, `text`) rather than switch on the case.
public enum SQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)

    public var int: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d): return Int64(d)
        case .text(let s): return Int64(s)
        case .null: return nil
        }
    }
    public var double: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .text(let s): return Double(s)
        case .null: return nil
        }
    }
    public var text: String? {
        switch self {
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .text(let s): return s
        case .null: return nil
        }
    }
    var isNull: Bool { if case .null = self { return true } else { return false } }
}

/// The two SQL dialects the store speaks.
public enum SQLDialect: Sendable { case sqlite, postgres }

/// An error from a database, with the statement that failed (no parameters: they may hold message text).
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public var message: String
    /// PostgreSQL's SQLSTATE of the failed statement (nil: not from PostgreSQL, or none).
    public var sqlState: String?
    public init(_ message: String, sqlState: String? = nil) { self.message = message; self.sqlState = sqlState }
    public var description: String { message }

    /// A deadlock (40P01) or serialization failure (40001): the server aborted the statement
    /// to break a conflict with another transaction, and the same work run again succeeds.
    public var isTransient: Bool { sqlState == "40P01" || sqlState == "40001" }
}

/// One open database connection. Not thread-safe: one user at a time (the store's pools
/// hand a connection to exactly one caller between `acquire` and `release`).
///
/// Statements are written with `?` placeholders; the PostgreSQL connection rewrites them
/// to `$1, $2, ...` (no statement of the store has a `?` inside a literal).
public protocol SQLConnection: AnyObject {
    var dialect: SQLDialect { get }
    /// Whether a transaction is open on the connection. After an error it may not be: SQLite
    /// ends the transaction itself on some (a full disk, an I/O error), and PostgreSQL's
    /// `BEGIN` may still be deferred. Unknown (a broken connection) counts as open.
    var inTransaction: Bool { get }
    /// Runs one statement and returns its rows.
    @discardableResult
    func query(_ sql: String, _ params: [SQLValue]) throws -> [[SQLValue]]
    /// Runs one or more statements without parameters.
    func execute(_ sql: String) throws
    /// Runs one statement whose rows are not needed. The connection may defer it until
    /// the next `query`, `execute` or `flush` (PostgreSQL sends the deferred statements
    /// together, in order, in one round trip); its error is then thrown there.
    func send(_ sql: String, _ params: [SQLValue]) throws
    /// Runs the deferred statements now; throws the first one's error.
    func flush() throws
    /// Drops deferred statements that were not sent (after an error, before a rollback).
    func discardDeferred()
}

extension SQLConnection {
    /// Default: nothing is deferred.
    public func send(_ sql: String, _ params: [SQLValue]) throws { try query(sql, params) }
    public func flush() throws {}
    public func discardDeferred() {}
}

extension SQLConnection {
    /// Runs `body` inside a transaction; commits if it returns, rolls back if it throws.
    /// `immediate` (SQLite) takes the write lock up front so two writers cannot deadlock.
    public func transaction<R>(immediate: Bool = true, _ body: () throws -> R) throws -> R {
        try execute(dialect == .sqlite && immediate ? "BEGIN IMMEDIATE" : "BEGIN")
        do {
            let r = try body()
            try execute("COMMIT")
            return r
        } catch {
            if inTransaction { try? execute("ROLLBACK") }
            throw error
        }
    }

    public func one(_ sql: String, _ params: [SQLValue]) throws -> [SQLValue]? { try query(sql, params).first }
}
