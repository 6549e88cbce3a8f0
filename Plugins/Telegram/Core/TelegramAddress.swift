/// Addresses of the Telegram channel: `telegram:<chat id>` for a chat (negative for
/// groups), `telegram:<bot id>` for our side. Pure functions: thread-safe.
public enum TelegramAddress {
    public static let scheme = "telegram:"

    public static func format(_ chatId: Int64) -> String { scheme + String(chatId) }

    /// The chat id of `telegram:<id>`, or nil if `address` is not one.
    public static func chatId(_ address: String) -> Int64? {
        guard address.hasPrefix(scheme) else { return nil }
        return Int64(address.dropFirst(scheme.count))
    }
}
