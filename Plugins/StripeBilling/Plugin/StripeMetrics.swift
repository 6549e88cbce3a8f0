import PluginKit

/// The plugin's metrics on the host's GET /metrics (the host adds plugin="<id>").
/// Registered once in init; recording is lock-free from any thread.
struct StripeMetrics: Sendable {
    let recorded: PluginHost.Metric?
    let duplicates: PluginHost.Metric?
    let unbilled: PluginHost.Metric?
    let reported: PluginHost.Metric?
    let units: PluginHost.Metric?
    let retries: PluginHost.Metric?
    let failed: PluginHost.Metric?
    let webhooks: PluginHost.Metric?
    let webhookRejected: PluginHost.Metric?
    let webhookDuplicates: PluginHost.Metric?
    let accountUpdates: PluginHost.Metric?

    init(_ host: PluginHost) {
        recorded = host.metric(.counter, "ds_stripe_usage_recorded_total", help: "usage reports received from the host and sent to Stripe")
        duplicates = host.metric(.counter, "ds_stripe_usage_duplicates_total", help: "usage reports ignored: idempotency key already accepted")
        unbilled = host.metric(.counter, "ds_stripe_usage_unbilled_total", help: "usage reports with no customer id or no meter for their kind")
        reported = host.metric(.counter, "ds_stripe_meter_events_total", help: "meter events Stripe accepted")
        units = host.metric(.counter, "ds_stripe_meter_units_total", help: "usage units Stripe accepted")
        retries = host.metric(.counter, "ds_stripe_meter_retries_total", help: "meter event attempts that failed retryably")
        failed = host.metric(.counter, "ds_stripe_meter_failed_total", help: "meter events Stripe refused permanently")
        webhooks = host.metric(.counter, "ds_stripe_webhooks_total", help: "verified webhooks handled")
        webhookRejected = host.metric(.counter, "ds_stripe_webhooks_rejected_total", help: "webhooks refused (signature, body)")
        webhookDuplicates = host.metric(.counter, "ds_stripe_webhooks_duplicate_total", help: "webhook retries ignored by event id")
        accountUpdates = host.metric(.counter, "ds_stripe_account_updates_total", help: "account tier/status changes applied")
    }
}

extension Optional where Wrapped == PluginHost.Metric {
    func record(_ v: Double) { self?.record(v) }
}
