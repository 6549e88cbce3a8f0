import Foundation
import Digests
import PluginKit

/// One meter event for Stripe: fixed once made, so every attempt carries the same
/// `identifier` and Stripe counts it once.
struct MeterReport: Sendable, Equatable {
    let identifier: String
    let eventName: String
    let customerId: String
    let kind: String
    let value: Int64
    /// Unix seconds.
    let timestamp: Int64

    /// Stripe allows identifiers of at most 100 characters: longer ones are shortened
    /// deterministically (prefix + SHA-256 HMAC of the whole under an empty key).
    static func fit(_ id: String) -> String {
        guard id.utf8.count > 100 else { return id }
        let digest = Digest.hex(Digest.hmac(.sha256, key: [], message: Array(id.utf8)))
        return String(id.prefix(35)) + ":" + digest
    }
}

/// Sends meter events to Stripe (`POST {api_base}/v1/billing/meter_events`) through the
/// host's HTTP client.
///
/// 429, 5xx and no answer at all are retried up to `max_attempts` with exponential backoff
/// that honours `Retry-After`; if they still fail, `send` throws a retryable error and the
/// host tries the same report (same identifier) again later. Other 4xx answers are
/// permanent (DS_ERR_INVALID). The API key is only put in the Authorization header and
/// never logged.
///
/// Threading: stateless apart from immutable config; `send` may run concurrently.
struct MeterReporter: Sendable {
    let host: PluginHost
    let config: StripeConfig
    let metrics: StripeMetrics

    var url: String { config.apiBase + "/v1/billing/meter_events" }

    /// Returns when Stripe accepted the event; throws when it did not.
    func send(_ r: MeterReport) async throws {
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
        var last = PluginError.unavailable("not sent")
        for attempt in 1...config.maxAttempts {
            var retryAfterMs: Int64 = 0
            do {
                let resp = try await host.http(request)
                if (200..<300).contains(resp.status) {
                    metrics.reported.record(1)
                    metrics.units.record(Double(r.value))
                    return
                }
                if resp.status == 429 || resp.status >= 500 {
                    retryAfterMs = Self.retryAfterMs(resp.header("Retry-After"))
                    last = resp.status == 429 ? .rateLimited("Stripe answered 429", retryAfterMs: retryAfterMs)
                                              : .unavailable("Stripe answered HTTP \(resp.status)", retryAfterMs: retryAfterMs)
                } else {
                    metrics.failed.record(1)
                    let why = "meter event \(r.identifier) refused by Stripe: HTTP \(resp.status) \(Self.errorMessage(resp.body))"
                    host.log(.error, why)
                    throw PluginError.invalid(why)
                }
            } catch let e as PluginError where e.status == DS_ERR_INVALID {
                throw e
            } catch {
                last = .unavailable("meter event \(r.identifier): \(error)")
            }
            metrics.retries.record(1)
            if attempt == config.maxAttempts || Task.isCancelled { break }
            let backoff = min(30_000, 250 * (Int64(1) << Int64(attempt - 1)))
            let wait = min(60_000, max(backoff, retryAfterMs))
            host.log(.debug, "meter event \(r.identifier): \(last.message); retry in \(wait) ms")
            try? await Task.sleep(nanoseconds: UInt64(wait) * 1_000_000)
        }
        host.log(.warn, "meter event \(r.identifier) not accepted after \(config.maxAttempts) attempt(s) (\(last.message)); the host retries it later")
        throw last
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
