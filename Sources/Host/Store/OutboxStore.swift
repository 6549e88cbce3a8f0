import Foundation

/// A deferred send waiting in (or claimed from) the outbox.
public struct OutboxItem: Sendable, Equatable {
    public var id: Int64
    /// Stable across retries and restarts: the channel's idempotency key.
    public var messageKey: String
    public var channel: String
    public var to: String
    public var from: String
    public var text: String
    public var correlationId: String
    public var attempts: Int
    /// Attachments to send with it (`MediaJSON` text); nil = none.
    public var media: String? = nil
    /// Extras for the channel (ds_outbound_message.metadata: {"agent", "template"}); nil = none.
    public var metadata: String? = nil

    /// The message key prefix of a deferred opt-out confirmation: the one message the
    /// outbox sends to a number that opted out (the confirmation carriers require).
    public static let optOutConfirmationPrefix = "optout-confirmation:"
}

/// Deferred sends: the outbox rows the router writes with late replies and the
/// `OutboxSender` claims, sends and settles, and the delivery reports on them.
///
/// Threading: like `Store`, synchronous, may block, safe from any thread.
public protocol OutboxStore: AnyObject, Sendable {
    func enqueueOutbox(_ item: OutboxItem, nowMs: Int64) throws
    /// Claims up to `limit` due rows for `leaseMs` (other processes skip them meanwhile).
    func claimOutbox(nowMs: Int64, limit: Int, leaseMs: Int64) throws -> [OutboxItem]
    func outboxSent(id: Int64, providerId: String, nowMs: Int64) throws
    func outboxRetry(id: Int64, attempts: Int, nextMs: Int64, error: String) throws
    func outboxFailed(id: Int64, error: String, nowMs: Int64) throws
    func pendingOutboxCount() throws -> Int
    /// The pending rows and the creation time of the oldest (nil when there is none): the backlog gauges.
    func outboxBacklog() throws -> (pending: Int, oldestCreatedMs: Int64?)
    /// Records a channel's delivery report for a sent outbox row; false if no row has that provider id.
    func recordDelivery(channel: String, providerId: String, status: String, errorCode: Int32) throws -> Bool
}
