@_exported import PluginAPI

/// An error a plugin throws; PluginKit turns it into an ABI status code and message
/// at the boundary. Any other `Error` becomes `DS_ERR_FAILED` with its description.
public struct PluginError: Error, CustomStringConvertible, Sendable {
    /// One of the `DS_ERR_*` / `DS_RETRY` codes of darkspere_plugin.h.
    public var status: Int32
    public var message: String
    /// With a retryable status: the earliest retry the remote asked for (ms); 0 = no opinion.
    public var retryAfterMs: Int64
    /// A provider-specific code (e.g. Twilio 21610); 0 = none.
    public var detailCode: Int32

    public init(status: Int32, _ message: String, retryAfterMs: Int64 = 0, detailCode: Int32 = 0) {
        self.status = status
        self.message = message
        self.retryAfterMs = retryAfterMs
        self.detailCode = detailCode
    }

    public var description: String { message }
    public var isRetryable: Bool {
        status == DS_RETRY || status == DS_ERR_RATE_LIMITED || status == DS_ERR_TIMEOUT || status == DS_ERR_UNAVAILABLE
    }

    public static func failed(_ m: String, detailCode: Int32 = 0) -> PluginError { .init(status: DS_ERR_FAILED, m, detailCode: detailCode) }
    public static func config(_ m: String) -> PluginError { .init(status: DS_ERR_CONFIG, m) }
    public static func auth(_ m: String) -> PluginError { .init(status: DS_ERR_AUTH, m) }
    public static func rateLimited(_ m: String, retryAfterMs: Int64 = 0, detailCode: Int32 = 0) -> PluginError {
        .init(status: DS_ERR_RATE_LIMITED, m, retryAfterMs: retryAfterMs, detailCode: detailCode)
    }
    public static func timeout(_ m: String) -> PluginError { .init(status: DS_ERR_TIMEOUT, m) }
    public static func unavailable(_ m: String, retryAfterMs: Int64 = 0) -> PluginError {
        .init(status: DS_ERR_UNAVAILABLE, m, retryAfterMs: retryAfterMs)
    }
    public static func invalid(_ m: String) -> PluginError { .init(status: DS_ERR_INVALID, m) }
    public static func denied(_ m: String) -> PluginError { .init(status: DS_ERR_DENIED, m) }
    public static func optedOut(_ m: String, detailCode: Int32 = 0) -> PluginError { .init(status: DS_ERR_OPTED_OUT, m, detailCode: detailCode) }
    public static func retry(_ m: String, retryAfterMs: Int64 = 0) -> PluginError { .init(status: DS_RETRY, m, retryAfterMs: retryAfterMs) }
    public static func cancelled(_ m: String = "cancelled") -> PluginError { .init(status: DS_ERR_CANCELLED, m) }

    /// Maps any error to a PluginError (Swift cancellation becomes DS_ERR_CANCELLED).
    public static func from(_ error: any Error) -> PluginError {
        if let e = error as? PluginError { return e }
        if error is CancellationError { return .cancelled() }
        return .failed(String(describing: error))
    }
}
