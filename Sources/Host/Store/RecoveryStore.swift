import Foundation

/// What the recovery sweep reads: inbound messages whose turn died after the message was
/// stored (a crash or a store error between "stored" and "answered").
///
/// Threading: like `Store`, synchronous, may block, safe from any thread.
public protocol RecoveryStore: AnyObject, Sendable {
    /// Inbound messages stored at or after `fromMs` and before `toMs` that were never
    /// answered (status `received`, no reply on their dedupe key), oldest first.
    func unansweredMessages(fromMs: Int64, toMs: Int64, limit: Int) throws -> [Inbound]
}

extension SQLStore: RecoveryStore {
    public func unansweredMessages(fromMs: Int64, toMs: Int64, limit: Int) throws -> [Inbound] {
        try withConnection { c in
            try c.query("""
                SELECT m.channel, m.channel_message_id, m.remote, m.local, m.body, m.media FROM messages m
                JOIN dedupe_keys d ON d.channel = m.channel AND d.channel_message_id = m.channel_message_id
                WHERE m.direction = 'in' AND m.status = 'received' AND d.reply IS NULL AND m.created_ms >= ? AND m.created_ms < ?
                ORDER BY m.id LIMIT ?
                """, [.int(fromMs), .int(toMs), .int(Int64(limit))])
            .map { Inbound(channel: $0[0].text ?? "", channelMessageId: $0[1].text ?? "", from: $0[2].text ?? "", to: $0[3].text ?? "", text: $0[4].text ?? "",
                              media: MediaJSON.decode($0[5].text)) }
        }
    }
}
