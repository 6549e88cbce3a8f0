import PluginKit

/// The channel's Prometheus metrics (the host adds plugin="<instance id>").
/// Registered once in init; recording is lock-free and thread-safe.
struct TelegramMetrics: Sendable {
    let host: PluginHost
    let inbound: PluginHost.Metric?
    let sentParts: PluginHost.Metric?

    init(_ host: PluginHost) {
        self.host = host
        inbound = host.metric(.counter, "darkspere_telegram_inbound_total", help: "Updates with a message submitted to the router")
        sentParts = host.metric(.counter, "darkspere_telegram_sent_messages_total", help: "Messages accepted by sendMessage (parts)")
    }

    func rejected(_ status: Int) {
        host.metric(.counter, "darkspere_telegram_webhook_rejected_total", help: "Webhook requests refused", labels: [("code", String(status))])?.record(1)
    }
    func apiError(_ method: String, _ reason: String) {
        host.metric(.counter, "darkspere_telegram_api_errors_total", help: "Bot API calls that failed",
                    labels: [("method", method), ("reason", reason)])?.record(1)
    }
}
