import Foundation

/// The compliance ledger: numbers that opted out, per channel.
///
/// Threading: like `Store`, synchronous, may block, safe from any thread.
public protocol ComplianceStore: AnyObject, Sendable {
    func setOptOut(channel: String, remote: String, keyword: String, nowMs: Int64) throws
    func clearOptOut(channel: String, remote: String) throws
    func isOptedOut(channel: String, remote: String) throws -> Bool
}
