import PluginKit
import TwilioCore

/// The channel's Prometheus metrics (the host adds plugin="<instance id>").
/// Registered once in init; recording is lock-free and thread-safe.
struct TwilioMetrics: Sendable {
    let inbound, sentMessages, sentSegments: Counter
    let host: PluginHost

    /// A counter that may be missing (invalid name): recording on it does nothing.
    struct Counter: Sendable {
        let metric: PluginHost.Metric?
        func record(_ v: Double) { metric?.record(v) }
    }

    init(_ host: PluginHost) {
        self.host = host
        func c(_ name: String, _ help: String) -> Counter { Counter(metric: host.metric(.counter, name, help: help)) }
        inbound = c("darkspere_twilio_inbound_total", "Signed, well-formed inbound webhooks")
        sentMessages = c("darkspere_twilio_sent_messages_total", "Messages accepted by Twilio (parts)")
        sentSegments = c("darkspere_twilio_sent_segments_total", "SMS segments of accepted messages")
    }

    func rejected(_ status: Int) {
        host.metric(.counter, "darkspere_twilio_webhook_rejected_total", help: "Webhooks refused", labels: [("code", String(status))])?.record(1)
    }
    func status(_ s: String) {
        host.metric(.counter, "darkspere_twilio_status_callbacks_total", help: "Delivery status callbacks", labels: [("status", s)])?.record(1)
    }
    func sendFailed(_ reason: String) {
        host.metric(.counter, "darkspere_twilio_send_failures_total", help: "Sends Twilio did not accept", labels: [("reason", reason)])?.record(1)
    }
    func sent(parts: Int, segments: Int) {
        sentMessages.record(Double(parts))
        sentSegments.record(Double(segments))
    }
}
