import Foundation
import ChannelSupport
import Digests

/// Signed links to the gateway's file route, so that an agent can fetch an inbound photo
/// without the bot token (Telegram's download URL contains it) and nobody can use the
/// route to read arbitrary files of the bot: `sig` = the first 32 hex digits of
/// HMAC-SHA256(bot token, "file:" + file_id). A value type; thread-safe.
public struct TelegramFileLink: Sendable {
    let key: [UInt8]
    public init(botToken: String) { key = Array(botToken.utf8) }

    public func signature(fileId: String) -> String {
        String(Digest.hex(Digest.hmac(.sha256, key: key, message: Array("file:\(fileId)".utf8))).prefix(32))
    }

    /// Whether `sig` is the signature of `fileId` (constant time).
    public func verify(fileId: String, sig: String) -> Bool {
        Digest.constantTimeEqual(Array(signature(fileId: fileId).utf8), Array(sig.utf8))
    }

    /// `base + path + "?id=…&sig=…"` (base may be empty: a path-only link).
    public func url(base: String, path: String, fileId: String) -> String {
        "\(base)\(path)?id=\(QueryString.encode(fileId))&sig=\(signature(fileId: fileId))"
    }
}
