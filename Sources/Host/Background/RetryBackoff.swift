import Foundation

/// The host's retry delay for durable work (outbox sends, usage reports): exponential
/// from `base` seconds, capped at 5 minutes, with jitter in [0.5, 1.5) of the step, and
/// never sooner than the plugin's `retry_after_ms`. Pure; thread-safe.
enum RetryBackoff {
    /// Seconds to wait before attempt `attempts + 1`, after `attempts` failed ones (≥ 1).
    static func delay(afterAttempts attempts: Int, base: Double, retryAfterMs: Int64) -> Double {
        let step = min(base * pow(2, Double(min(max(attempts, 1), 30) - 1)), 300)
        let delay = step * Double.random(in: 0.5..<1.5)
        return retryAfterMs > 0 ? max(delay, Double(retryAfterMs) / 1000) : delay
    }
}
