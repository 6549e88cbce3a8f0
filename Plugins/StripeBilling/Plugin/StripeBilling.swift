import Foundation
import PluginKit

/// The Stripe billing provider (`ds.billing/1`).
///
/// Metering: `record` adds a usage to an in-memory sum per (customer, kind, interval)
/// and completes DS_OK at once: **DS_OK means "accepted into the aggregate", not
/// "reported to Stripe"**. A host timer (every `aggregation_interval_ms`) reports the
/// closed intervals as Stripe meter events with deterministic identifiers, retrying
/// 429/5xx. What was accepted but not yet reported is lost if the process dies; the
/// host's durable usage ledger (which records each usage before calling `record` and
/// replays unreported ones) is what makes reporting survive a crash, and the
/// idempotency keys and identifiers make the replay count once.
///
/// Webhooks: on `webhook_path`, verified with `webhook_secret`, subscription and
/// invoice events change the customer's account through `host.updateAccount`
/// (ABI 1.1); on a 1.0 host the webhook answers 500 and Stripe retries.
///
/// Threading: `init`/`shutdown` on the host's main thread; `record`, `authorize` and
/// the webhook route run concurrently as Swift tasks. State lives in thread-safe
/// objects (aggregator and event-id cache behind mutexes, the reporter an actor).
/// Secrets (`api_key`, `webhook_secret`) are only in `config` and `signature`; nothing logs them.
final class StripeBilling: BillingProvider, @unchecked Sendable {
    let host: PluginHost
    let config: StripeConfig
    let signature: StripeSignature?
    let aggregator: MeterAggregator
    let reporter: MeterReporter
    let events = EventIdCache()
    let order = EventOrder()
    let metrics: StripeMetrics
    private var timer: PluginHost.Timer?

    init(host: PluginHost, config raw: PluginConfig) throws {
        self.host = host
        let config: StripeConfig
        do { config = try StripeConfig.parse(json: raw.json) } catch { throw PluginError.config(error.description) }
        self.config = config
        signature = config.webhookSecret.map { StripeSignature(secret: $0, tolerance: config.toleranceS) }
        let metrics = StripeMetrics(host)
        self.metrics = metrics
        let aggregator = MeterAggregator(intervalMs: config.aggregationIntervalMs, meterEvents: config.meterEvents)
        self.aggregator = aggregator
        reporter = MeterReporter(host: host, config: config, aggregator: aggregator, metrics: metrics)

        if signature != nil {
            try host.route("POST", config.webhookPath) { [weak self] req in
                guard let self else { return HTTPResponse(status: 503, contentType: "text/plain", body: "shutting down\n") }
                return self.handleWebhook(req)
            }
        } else {
            host.log(.warn, "no webhook_secret: Stripe webhooks are not received (subscriptions will not change tiers)")
        }
        if !host.canUpdateAccounts {
            host.log(.warn, "the host (ABI \(host.abiVersion.major).\(host.abiVersion.minor)) cannot update accounts; webhooks will answer 500")
        }
        let reporter = self.reporter
        timer = host.timer(afterMs: config.aggregationIntervalMs, everyMs: config.aggregationIntervalMs) {
            Task { await reporter.flush() }
        }
        host.log(.info, "stripe billing ready: api \(config.apiBase), webhook \(signature == nil ? "off" : config.webhookPath), meters \(config.meterEvents.keys.sorted()), interval \(config.aggregationIntervalMs) ms")
    }

    func shutdown() {
        timer?.cancel()
        // Nothing summed and nothing waiting for a retry: nothing to report, do not block.
        if aggregator.pendingCount == 0 && reporter.queuedCount.load(ordering: .acquiring) == 0 { return }
        // Best effort: report what is summed so far, waiting a few seconds at most (shutdown
        // is synchronous in the ABI; the host's usage ledger covers whatever is left).
        let done = DispatchSemaphore(value: 0)
        let reporter = self.reporter
        Task {
            await reporter.flush(all: true)
            done.signal()
        }
        if done.wait(timeout: .now() + 5) == .timedOut {
            Task { await reporter.stop() }
            host.log(.warn, "shutdown: meter events still unreported; the host's usage ledger reports them after restart")
        }
    }

    // MARK: Metering

    func record(_ usage: Usage) async throws {
        guard usage.quantity >= 0 else { throw PluginError.invalid("quantity must not be negative, got \(usage.quantity)") }
        guard !usage.idempotencyKey.isEmpty else { throw PluginError.invalid("usage has no idempotency_key") }
        switch aggregator.add(customerId: usage.customerId, kind: usage.kind, quantity: usage.quantity,
                              idempotencyKey: usage.idempotencyKey, timeMs: usage.timeMs, nowMs: MeterReporter.nowMs()) {
        case .added: metrics.recorded.record(1)
        case .duplicate: metrics.duplicates.record(1)
        case .unbilled(let why):
            metrics.unbilled.record(1)
            host.log(.debug, "usage \(usage.idempotencyKey) of account \(usage.accountId) not reported: \(why)")
        }
    }

    /// Reports everything summed so far now, without waiting for the timer (tests, shutdown).
    func flushNow() async { await reporter.flush(all: true) }

    // MARK: Webhooks

    func refuse(_ status: Int, _ why: String, _ req: RouteRequest) -> HTTPResponse {
        metrics.webhookRejected.record(1)
        host.log(.warn, "\(config.webhookPath): \(status) \(why) (from \(req.remoteAddress))")
        return HTTPResponse(status: status, contentType: "text/plain", body: why + "\n")
    }

    func handleWebhook(_ req: RouteRequest) -> HTTPResponse {
        guard let signature else { return refuse(404, "webhooks are not configured", req) }
        do {
            try signature.verify(header: req.header("stripe-signature"), body: req.body, now: Int64(Date().timeIntervalSince1970))
        } catch {
            return refuse(400, error.reason, req)
        }
        let event: StripeEvent
        do { event = try StripeEvent(json: req.body) } catch { return refuse(400, error.description, req) }
        guard events.begin(event.id) else {
            metrics.webhookDuplicates.record(1)
            return HTTPResponse(status: 200, contentType: "application/json", body: #"{"received":true,"duplicate":true}"# + "\n")
        }
        metrics.webhooks.record(1)
        switch event.action(priceTiers: config.priceTiers, canceledTier: config.canceledTier) {
        case .ignore(let why):
            host.log(.debug, "webhook \(event.id): \(why)")
        case .update(let customer, let tier, let status):
            do {
                let fields: [EventOrder.Field] = (tier != nil ? [.tier] : []) + (status != nil ? [.status] : [])
                let outcome = try order.apply(customer: customer, fields: fields, created: event.created) {
                    try host.updateAccount(customerId: customer, tier: tier, status: status.flatMap(PluginHost.AccountStatus.init(rawValue:)))
                }
                switch outcome {
                case .applied:
                    metrics.accountUpdates.record(1)
                    host.log(.info, "\(event.type) \(event.id): customer \(customer) -> tier \(tier ?? "unchanged"), status \(status ?? "unchanged")")
                case .stale(let newer):
                    host.log(.info, "\(event.type) \(event.id) (created \(event.created)) is older than an event already applied (created \(newer)); nothing changed")
                case .notFound:
                    host.log(.warn, "\(event.type) \(event.id): no account has stripe_customer_id \(customer); nothing changed")
                }
            } catch let e as PluginError where e.status == DS_ERR_INVALID {
                // A price mapped to a tier the host does not know: a config error, retrying will not help.
                host.log(.error, "\(event.type) \(event.id): \(e.message); check price_tiers")
            } catch {
                events.abandon(event.id)
                host.log(.error, "\(event.type) \(event.id): \(error); Stripe will retry")
                return HTTPResponse(status: 500, contentType: "text/plain", body: "account update failed\n")
            }
        }
        return HTTPResponse(status: 200, contentType: "application/json", body: #"{"received":true}"# + "\n")
    }
}
