import Foundation

/// A read-only look-up in the opt-out ledger for commands that run beside a gateway
/// (`darkspere sms`): one short-lived connection, no migrations, never creates a database.
/// Thread-safe (nothing shared).
public enum OptOutLookup {
    /// Whether `remote` has opted out on `channel` (a plugin instance id); nil when the
    /// store cannot be read (in memory, missing, unreachable).
    public static func isOptedOut(storeURL: String, configDir: String, channel: String, remote: String) -> Bool? {
        do {
            let c: any SQLConnection
            if storeURL.hasPrefix("sqlite:") {
                var path = String(storeURL.dropFirst("sqlite:".count))
                guard path != ":memory:" else { return nil }
                if !path.hasPrefix("/") { path = (configDir as NSString).appendingPathComponent(path) }
                guard FileManager.default.fileExists(atPath: path) else { return nil }
                c = try SQLiteConnection(path: path)
            } else if storeURL.hasPrefix("postgres://") || storeURL.hasPrefix("postgresql://") {
                c = try PostgresConnection(url: storeURL)
            } else { return nil }
            return try c.one("SELECT 1 FROM opt_outs WHERE channel = ? AND remote = ?", [.text(channel), .text(remote)]) != nil
        } catch { return nil }
    }
}
