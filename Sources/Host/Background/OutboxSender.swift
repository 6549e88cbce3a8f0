import Foundation
import Logging
import PluginAPI
import Synchronization

/// Sends the outbox's deferred replies through their channel's `send`: claims due rows
/// (a lease, so two processes never send one row at once), retries retryable errors with
/// exponential backoff and jitter (honouring retry_after_ms), gives up after
/// `routing.outbox_max_attempts`, never sends to an opted-out number (except the deferred
/// confirmation of that opt-out). Resumes after a
/// restart because the rows are durable; the row's message key is the channel's
/// idempotency key on every attempt.
///
/// Threading: polls on its own dispatch queue every `interval`, and at once after `kick()`.
/// Unchecked Sendable: `lastBacklog` is touched only on `queue`; `events` is set by the gateway
/// before `start` and only read after; the rest is immutable, atomic or behind a Mutex.
public final class OutboxSender: @unchecked Sendable {
    /// Only the outbox and the opt-out ledger of the store.
    let store: any OutboxStore & ComplianceStore
    /// Channel instances by id; a reload swaps in the new set (`setChannels`).
    private let channelsBox: Mutex<[String: ChannelInstance]>
    var channels: [String: ChannelInstance] { channelsBox.withLock { $0 } }
    let maxAttempts: Int
    let logger: Logger
    let interval: Double
    let baseDelay: Double
    /// A send gives up (retryable timeout) after this long...
    let sendTimeoutMs: Int64 = 10_000
    /// ...and a claimed row stays invisible to other senders a little longer. A process
    /// that dies mid-send delays its claimed rows by at most this much after restart.
    let leaseMs: Int64 = 15_000
    private let queue = DispatchQueue(label: "darkspere.outbox")
    private let running = Atomic<Bool>(false)
    private let polling = Atomic<Bool>(false)
    private let inFlight = Atomic<Int>(0)
    let mSent: Metric, mRetried: Metric, mFailed: Metric
    /// Backlog gauges, refreshed every `backlogInterval` seconds by the poll loop.
    let mPending: Metric, mOldestAge: Metric
    let backlogInterval: Double = 2
    private var lastBacklog: DispatchTime = .init(uptimeNanoseconds: 0)

    public init(store: any OutboxStore & ComplianceStore, channels: [ChannelInstance], maxAttempts: Int, metrics: MetricsRegistry, logger: Logger,
                interval: Double = 0.25, baseDelay: Double = 0.5) {
        self.store = store
        channelsBox = Mutex(Dictionary(channels.map { ($0.instanceId, $0) }, uniquingKeysWith: { a, _ in a }))
        self.maxAttempts = maxAttempts
        self.logger = logger
        self.interval = interval
        self.baseDelay = baseDelay
        mSent = metrics.counter("darkspere_outbox_sent_total", help: "Deferred replies sent")
        mRetried = metrics.counter("darkspere_outbox_retries_total", help: "Deferred sends retried")
        mFailed = metrics.counter("darkspere_outbox_failed_total", help: "Deferred sends given up")
        mPending = metrics.gauge("darkspere_outbox_pending", help: "Deferred replies waiting in the outbox (all processes on the store)")
        mOldestAge = metrics.gauge("darkspere_outbox_oldest_pending_age_seconds", help: "Age of the oldest deferred reply still waiting (0: none)")
    }

    public func start() {
        running.store(true, ordering: .releasing)
        tick()
    }

    public func stop() { running.store(false, ordering: .releasing) }

    /// Polls now (a reply was just queued).
    public func kick() { queue.async { [self] in poll() } }

    private func tick() {
        guard running.load(ordering: .acquiring) else { return }
        queue.asyncAfter(deadline: .now() + interval) { [self] in
            poll()
            tick()
        }
    }

    private func poll() {
        guard running.load(ordering: .acquiring) else { return }
        refreshBacklog()
        guard inFlight.load(ordering: .acquiring) < 64 else { return }
        let items: [OutboxItem]
        do { items = try store.claimOutbox(nowMs: nowMillis(), limit: 32, leaseMs: leaseMs) } catch {
            logger.error("outbox: cannot claim: \(error)")
            return
        }
        for item in items { send(item) }
    }

    /// Sends through these channel instances from now on (a reload); sends in flight finish
    /// on the instance they started on.
    func setChannels(_ list: [ChannelInstance]) {
        let d = Dictionary(list.map { ($0.instanceId, $0) }, uniquingKeysWith: { a, _ in a })
        channelsBox.withLock { $0 = d }
    }

    /// On the outbox queue: the backlog gauges, at most every `backlogInterval` seconds.
    private func refreshBacklog() {
        let now = DispatchTime.now()
        guard now.uptimeNanoseconds &- lastBacklog.uptimeNanoseconds >= UInt64(backlogInterval * 1e9) else { return }
        lastBacklog = now
        guard let b = try? store.outboxBacklog() else { return }
        mPending.record(Double(b.pending))
        mOldestAge.record(b.oldestCreatedMs.map { max(0, Double(nowMillis() - $0) / 1000) } ?? 0)
    }

    /// Where `plugin.error` events go (set by the gateway); nil emits nothing.
    var events: EventBus?

    private func send(_ item: OutboxItem) {
        guard let channel = channelsBox.withLock({ $0[item.channel] }) else {
            try? store.outboxFailed(id: item.id, error: "no channel '\(item.channel)' is configured", nowMs: nowMillis())
            mFailed.increment()
            return
        }
        if !item.messageKey.hasPrefix(OutboxItem.optOutConfirmationPrefix),
           (try? store.isOptedOut(channel: item.channel, remote: item.to)) == true {
            try? store.outboxFailed(id: item.id, error: "recipient opted out", nowMs: nowMillis())
            mFailed.increment()
            return
        }
        inFlight.add(1, ordering: .relaxed)
        Task { [self] in
            let o = await channel.send(messageId: item.messageKey, correlationId: item.correlationId, to: item.to, from: item.from, text: item.text,
                                       media: MediaJSON.decode(item.media), metadata: item.metadata ?? "", timeoutMs: UInt32(sendTimeoutMs))
            queue.async { [self] in
                inFlight.add(-1, ordering: .relaxed)
                finished(item, o)
            }
        }
    }

    private func finished(_ item: OutboxItem, _ o: OpOutcome) {
        let attempts = item.attempts + 1
        do {
            if o.ok {
                try store.outboxSent(id: item.id, providerId: o.text, nowMs: nowMillis())
                mSent.increment()
            } else if o.status == DS_ERR_OPTED_OUT {
                // The provider says the recipient opted out (Twilio 21610): record it in the ledger.
                try store.setOptOut(channel: item.channel, remote: item.to, keyword: "provider:\(o.detailCode)", nowMs: nowMillis())
                try store.outboxFailed(id: item.id, error: "recipient opted out (provider code \(o.detailCode))", nowMs: nowMillis())
                mFailed.increment()
            } else if o.isRetryable && attempts < maxAttempts {
                let delay = RetryBackoff.delay(afterAttempts: attempts, base: baseDelay, retryAfterMs: o.retryAfterMs)
                try store.outboxRetry(id: item.id, attempts: attempts, nextMs: nowMillis() + Int64(delay * 1000), error: o.error)
                mRetried.increment()
            } else {
                logger.error("outbox: giving up on \(item.messageKey) after \(attempts) attempt(s): \(o.status) \(o.error)")
                events?.emit(Event("plugin.error", channel: item.channel, fields: [
                    ("plugin", .string(item.channel)), ("operation", .string("send")), ("status", .number(Double(o.status))),
                    ("error", .string(o.error)), ("detail_code", .number(Double(o.detailCode))), ("attempts", .number(Double(attempts))),
                    ("message_key", .string(item.messageKey))]))
                // The message itself was refused (e.g. WhatsApp outside its window without a template).
                events?.emit(Event("message.rejected", correlationId: item.correlationId, channel: item.channel, from: item.from, to: item.to,
                                   fields: [("reason", .string(o.isRetryable ? "send_retries_exhausted" : "refused_by_channel")),
                                            ("error", .string(o.error)), ("status", .number(Double(o.status))),
                                            ("detail_code", .number(Double(o.detailCode))), ("message_key", .string(item.messageKey))]))
                try store.outboxFailed(id: item.id, error: "\(o.status): \(o.error)", nowMs: nowMillis())
                mFailed.increment()
            }
        } catch {
            // The lease expires and the row is tried again.
            logger.error("outbox: cannot record the result of \(item.messageKey): \(error)")
        }
    }
}
