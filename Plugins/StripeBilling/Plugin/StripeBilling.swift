import Foundation
import PluginKit

/// The Stripe billing provider (`ds.billing/1`).
///
/// Metering: the host sums its durable usage ledger per account, kind and
/// `billing.report_interval` and calls `record` once per sum with a fixed idempotency
/// key. `record` sends that sum as one Stripe meter event whose `identifier` is the key
/// (shortened deterministically past 100 characters) and completes DS_OK only once
/// Stripe accepted it; 429/5xx are retried with backoff, then handed back to the host as
/// retryable. A key accepted before is not sent again while this process remembers it;
/// after a restart, Stripe's own identifier deduplication makes a resent report count
/// once. Usage of a kind without a `meter_events` entry, or of a customer-less account,
/// completes DS_OK without a call (nothing to bill).
///
/// Webhooks: on `webhook_path`, verified with `webhook_secret`, subscription and
/// invoice events change the customer's account through `host.updateAccount`
/// (ABI 1.1); on a 1.0 host the webhook answers 500 and Stripe retries.
///
/// Threading: `init`/`shutdown` on the host's main thread; `record`, `authorize` and
/// the webhook route run concurrently as Swift tasks. State lives in thread-safe
/// objects (accepted-key and event-id caches behind mutexes).
/// Secrets (`api_key`, `webhook_secret`) are only in `config` and `signature`; nothing logs them.
final class StripeBilling: BillingProvider, Sendable {
    let host: PluginHost
    let config: StripeConfig
    let signature: StripeSignature?
    let reporter: MeterReporter
    /// Idempotency keys Stripe accepted (bounded).
    let accepted = EventIdCache(capacity: 100_000)
    let events = EventIdCache()
    let order = EventOrder()
    let metrics: StripeMetrics

    init(host: PluginHost, config raw: PluginConfig) throws {
        self.host = host
        let config: StripeConfig
        do { config = try StripeConfig.parse(json: raw.json) } catch { throw PluginError.config(error.description) }
        self.config = config
        signature = config.webhookSecret.map { StripeSignature(secret: $0, tolerance: config.toleranceS) }
        let metrics = StripeMetrics(host)
        self.metrics = metrics
        reporter = MeterReporter(host: host, config: config, metrics: metrics)

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
        host.log(.info, "stripe billing ready: api \(config.apiBase), webhook \(signature == nil ? "off" : config.webhookPath), meters \(config.meterEvents.keys.sorted())")
    }

    func shutdown() {}

    // MARK: Metering

    func record(_ usage: Usage) async throws {
        guard usage.quantity >= 0 else { throw PluginError.invalid("quantity must not be negative, got \(usage.quantity)") }
        guard !usage.idempotencyKey.isEmpty else { throw PluginError.invalid("usage has no idempotency_key") }
        guard !usage.customerId.isEmpty, let event = config.meterEvents[usage.kind] else {
            metrics.unbilled.record(1)
            host.log(.debug, "usage \(usage.idempotencyKey) of account \(usage.accountId) not reported: " +
                     (usage.customerId.isEmpty ? "the account has no billing customer id" : "no meter_events entry for usage kind '\(usage.kind)'"))
            return
        }
        // Marked before sending so a concurrent duplicate waits for nothing and counts nothing.
        guard accepted.begin(usage.idempotencyKey) else {
            metrics.duplicates.record(1)
            return
        }
        metrics.recorded.record(1)
        let seconds = (usage.timeMs > 0 ? usage.timeMs : Int64(Date().timeIntervalSince1970 * 1000)) / 1000
        let report = MeterReport(identifier: MeterReport.fit(usage.idempotencyKey), eventName: event, customerId: usage.customerId,
                                 kind: usage.kind, value: usage.quantity, timestamp: seconds)
        do { try await reporter.send(report) } catch {
            accepted.abandon(usage.idempotencyKey)
            throw error
        }
    }

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
