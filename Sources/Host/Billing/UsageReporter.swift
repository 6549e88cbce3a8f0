import Foundation
import Logging
import PluginAPI
import Synchronization

/// Reports the usage ledger to the billing provider plugin (`ds.billing/1` `record`).
///
/// Every tick it seals the ledger entries of intervals that have ended into reports (one
/// per account, kind and `billing.report_interval`, written to the store with a fixed
/// identifier), then hands due reports to the plugin. A report is marked reported only
/// when the plugin completes DS_OK (the provider accepted it); a retryable error is
/// retried with exponential backoff and jitter; a permanent refusal is recorded as
/// failed and announced as `plugin.error`. After a crash the same reports (same
/// identifiers) are sent again, and the provider's idempotency makes them count once.
/// Claims are leased, so gateway processes sharing PostgreSQL never send one report at
/// the same time. Reports of accounts without a billing customer id are settled as
/// `unbilled` without a call.
///
/// Threading: all store work and bookkeeping run on one serial dispatch queue; plugin
/// calls run as tasks and hop back to that queue.
/// Unchecked Sendable: `events` is set by the gateway before `start` and only read after; the rest
/// is immutable, atomic, a Mutex, or touched only on `queue`.
final class UsageReporter: @unchecked Sendable {
    let store: any Store
    /// The billing instance reported to; a reload may replace it (`replaceBilling`).
    private let billingBox: Mutex<BillingInstance>
    var billing: BillingInstance { billingBox.withLock { $0 } }
    let accounts: ConfiguredAccounts
    let intervalMs: Int64
    let logger: Logger
    var events: EventBus?
    /// A plugin call gives up after `callTimeoutMs`; a claim outlasts it, so no two
    /// processes send one report at once. A report claimed by a process that died waits
    /// out the lease (PostgreSQL) or is released at start-up (SQLite: one process).
    let leaseMs: Int64 = 25_000
    let callTimeoutMs: UInt32 = 20_000
    private let queue = DispatchQueue(label: "darkspere.usage-reporter")
    private let running = Atomic<Bool>(false)
    private let inFlight = Atomic<Int>(0)
    let mReported: Metric, mRetried: Metric, mFailed: Metric, mUnits: Metric

    /// Reports to `new` from the next report on (a reload changed the billing plugin);
    /// returns the instance replaced.
    func replaceBilling(_ new: BillingInstance) -> BillingInstance { billingBox.withLock { b in let old = b; b = new; return old } }

    init(store: any Store, billing: BillingInstance, accounts: ConfiguredAccounts, config: BillingConfig, metrics: MetricsRegistry, logger: Logger) {
        self.store = store; billingBox = Mutex(billing); self.accounts = accounts; self.logger = logger
        intervalMs = Int64(config.reportInterval * 1000)
        mReported = metrics.counter("darkspere_usage_reports_total", help: "Usage reports accepted by the billing provider")
        mRetried = metrics.counter("darkspere_usage_report_retries_total", help: "Usage reports retried")
        mFailed = metrics.counter("darkspere_usage_report_failed_total", help: "Usage reports refused for good by the billing provider")
        mUnits = metrics.counter("darkspere_usage_reported_units_total", help: "Usage units accepted by the billing provider")
    }

    /// The tick: often enough that a closed interval is reported soon after it ends.
    var tick: Double { max(0.05, min(Double(intervalMs) / 4000, 2)) }

    func start() {
        if store.backend == "sqlite" {
            do { try store.releaseUsageReportClaims() } catch { logger.error("usage: cannot release old claims: \(error)") }
        }
        running.store(true, ordering: .releasing)
        schedule()
    }

    func stop() { running.store(false, ordering: .releasing) }

    private func schedule() {
        guard running.load(ordering: .acquiring) else { return }
        queue.asyncAfter(deadline: .now() + tick) { [self] in
            poll()
            schedule()
        }
    }

    private func poll() {
        guard running.load(ordering: .acquiring) else { return }
        let now = nowMillis()
        do { _ = try store.sealUsageReports(intervalMs: intervalMs, graceMs: min(1000, intervalMs), nowMs: now) } catch {
            logger.error("usage: cannot seal reports: \(error)")
        }
        let room = 16 - inFlight.load(ordering: .acquiring)
        guard room > 0 else { return }
        let due: [UsageReport]
        do { due = try store.claimUsageReports(nowMs: now, limit: room, leaseMs: leaseMs) } catch {
            logger.error("usage: cannot claim reports: \(error)")
            return
        }
        for r in due { send(r) }
    }

    private func send(_ r: UsageReport) {
        guard let account = accounts.account(r.accountId), let customer = account.stripeCustomerId, !customer.isEmpty else {
            do { try store.usageReportAbandoned(id: r.id, state: "unbilled", error: "the account has no billing customer id") } catch {
                logger.error("usage: cannot settle report \(r.identifier): \(error)")
            }
            return
        }
        inFlight.add(1, ordering: .relaxed)
        let record = UsageRecord(accountId: r.accountId, customerId: customer, kind: r.kind, quantity: r.quantity,
                                 idempotencyKey: r.identifier, correlationId: "", timeMs: r.bucketMs)
        Task { [self] in
            let o = await billing.record(record, timeoutMs: callTimeoutMs)
            queue.async { [self] in
                inFlight.add(-1, ordering: .relaxed)
                finished(r, o)
            }
        }
    }

    private func finished(_ r: UsageReport, _ o: OpOutcome) {
        let attempts = r.attempts + 1
        do {
            if o.ok {
                try store.usageReported(id: r.id, nowMs: nowMillis())
                mReported.increment()
                mUnits.record(Double(r.quantity))
            } else if o.isRetryable || o.status == DS_ERR_CANCELLED {
                let delay = RetryBackoff.delay(afterAttempts: attempts, base: 1, retryAfterMs: o.retryAfterMs)
                try store.usageReportRetry(id: r.id, attempts: attempts, nextMs: nowMillis() + Int64(delay * 1000), error: "\(o.status): \(o.error)")
                mRetried.increment()
                logger.warning("usage: report \(r.identifier) not accepted (\(o.status) \(o.error)); retry in \(Int(delay * 1000)) ms")
            } else {
                logger.error("usage: report \(r.identifier) refused for good: \(o.status) \(o.error)")
                events?.emit(Event("plugin.error", fields: [
                    ("plugin", .string(billing.instanceId)), ("operation", .string("record")), ("status", .number(Double(o.status))),
                    ("error", .string(o.error)), ("account", .string(r.accountId)), ("kind", .string(r.kind)),
                    ("quantity", .number(Double(r.quantity))), ("identifier", .string(r.identifier))]))
                try store.usageReportAbandoned(id: r.id, state: "failed", error: "\(o.status): \(o.error)")
                mFailed.increment()
            }
        } catch {
            // The lease expires and the report is sent again with the same identifier.
            logger.error("usage: cannot record the result of report \(r.identifier): \(error)")
        }
    }
}
