import Foundation
import Logging

/// How the process writes its log: `text` (swift-log's stream handler, one readable line per
/// entry; the default) or `json` (one JSON object per line, see `JSONLogHandler`).
/// Chosen with `--log-format` or `DARKSPERE_LOG_FORMAT`.
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json

    /// Installs the process's log handler (once, at start-up, before any logger is made).
    public func bootstrap(level: Logger.Level) {
        switch self {
        case .text:
            LoggingSystem.bootstrap { label in
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = level
                return h
            }
        case .json:
            LoggingSystem.bootstrap { label in
                var h = JSONLogHandler(label: label)
                h.logLevel = level
                return h
            }
        }
    }
}
