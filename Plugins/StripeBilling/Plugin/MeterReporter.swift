import Foundation
import PluginKit
import Synchronization

/// Sends meter reports to Stripe (`POST {api_base}/v1/billing/meter_events`) through
/// the host's HTTP client, one at a time, in order.
///
/// 429 and 5xx (and no response at all) are retried with exponential backoff that
/// honours `Retry-After`; a report that still fails stays queued for the next flush
/// with the same identifier, so Stripe never counts it twice. Other 4xx answers are
/// permanent: the report is dropped and logged (never with the API key).
///
/// Threading: an actor, so flushes never overlap; called from the host's timer.
actor MeterReporter {
    let host: PluginHost
    let config: StripeConfig
    let aggregator: MeterAggregator
    let metrics: StripeMetrics
    /// Reports made but not yet accepted by Stripe, oldest first.
    private(set) var queue: [MeterReport] = []
    private var stopping = false
    private var flushing = false
    /// `queue.count`, readable from any thread without entering the actor.
    nonisolated let queuedCount = Atomic<Int>(0)

    init(host: PluginHost, config: StripeConfig, aggregator: MeterAggregator, metrics: StripeMetrics) {
        self.host = host; self.config = config; self.aggregator = aggregator; self.metrics = metrics
    }

    var url: String { config.apiBase + "/v1/billing/meter_events" }

    /// Drains closed intervals (all intervals when `all`) and sends everything queued.
    ///
    /// Actors are reentrant across `await`, so a `flushing` flag keeps flushes from
    /// overlapping: a timer tick during a flush returns at once (the running flush or the
    /// next tick takes the new sums); a final flush (`all`) waits for the running one.
    func flush(all: Bool = false) async {
        if flushing {
            guard all else { return }
            while flushing {
                if Task.isCancelled { return }
                try? await Task.sleep(nanoseconds: 20_000_000)
            }
        }
        flushing = true
        defer { flushing = false }
        queue += aggregator.drain(nowMs: Self.nowMs(), all: all)
        while let report = queue.first, !stopping {
            guard await send(report) else { break }   // still failing: keep it and the rest for the next flush
            queue.removeFirst()
        }
        metrics.queued.record(Double(queue.count))
        queuedCount.store(queue.count, ordering: .releasing)
    }

    /// Stops retrying (shutdown); the current attempt finishes.
    func stop() { stopping = true }

    /// True when Stripe accepted the report or refused it for good (dropped); false to try again later.
    private func send(_ r: MeterReport) async -> Bool {
        let body = FormBody.encode([
            ("event_name", r.eventName),
            ("payload[stripe_customer_id]", r.customerId),
            ("payload[value]", String(r.value)),
            ("identifier", r.identifier),
            ("timestamp", String(r.timestamp)),
        ])
        let request = HTTPRequest(method: "POST", url: url, headers: [
            ("Authorization", "Bearer " + config.apiKey),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ], body: Array(body.utf8), timeoutMs: config.requestTimeoutMs)
        for attempt in 1...config.maxAttempts {
            var retryAfterMs: Int64 = 0
            var why: String
            do {
                let resp = try await host.http(request)
                if (200..<300).contains(resp.status) {
                    metrics.reported.record(1)
                    metrics.units.record(Double(r.value))
                    return true
                }
                if resp.status == 429 || resp.status >= 500 {
                    retryAfterMs = Self.retryAfterMs(resp.header("Retry-After"))
                    why = "HTTP \(resp.status)"
                } else {
                    metrics.failed.record(1)
                    host.log(.error, "meter event \(r.identifier) refused by Stripe, dropped: HTTP \(resp.status) \(Self.errorMessage(resp.body))")
                    return true
                }
            } catch {
                why = "\(error)"
            }
            metrics.retries.record(1)
            if attempt == config.maxAttempts || stopping {
                host.log(.warn, "meter event \(r.identifier) not accepted after \(attempt) attempt(s) (\(why)); kept for the next flush")
                return false
            }
            let backoff = min(30_000, 250 * (Int64(1) << Int64(attempt - 1)))
            let wait = min(60_000, max(backoff, retryAfterMs))
            host.log(.debug, "meter event \(r.identifier): \(why); retry in \(wait) ms")
            try? await Task.sleep(nanoseconds: UInt64(wait) * 1_000_000)
        }
        return false
    }

    /// `Retry-After` in seconds (the form Stripe uses) → milliseconds; 0 when absent or unparseable.
    static func retryAfterMs(_ value: String?) -> Int64 {
        guard let v = value?.trimmingCharacters(in: .whitespaces), let s = Double(v), s >= 0 else { return 0 }
        return Int64(s * 1000)
    }

    /// Stripe's `error.message`, for logs (it never contains the key).
    static func errorMessage(_ body: [UInt8]) -> String {
        if let o = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
           let e = o["error"] as? [String: Any], let m = e["message"] as? String { return m }
        return String(decoding: body.prefix(200), as: UTF8.self)
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

/// application/x-www-form-urlencoded, as Stripe expects it. Pure; thread-safe.
enum FormBody {
    static let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)

    static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "&")
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            if unreserved.contains(b) { out.append(Character(Unicode.Scalar(b))) }
            else { out += String(format: "%%%02X", b) }
        }
        return out
    }
}
