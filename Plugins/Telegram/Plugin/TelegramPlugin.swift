import PluginKit
import TelegramCore

/// The library's one exported symbol: describes the `telegram` plugin (a `ds.channel/1`)
/// with the JSON Schema of its config. Called once by the host, on its main thread.
@_cdecl("darkspere_plugin_entry")
public func darkspere_plugin_entry(_ host: UnsafePointer<ds_host>?, _ major: UInt32, _ minor: UInt32) -> UnsafePointer<ds_plugin_descriptor>? {
    PluginExport(id: "telegram", name: "Telegram", version: "1.0.0",
                 description: "Telegram bots: Bot API webhook (secret token) or long polling, replies, typing, photos in",
                 configSchema: TelegramConfig.schema,
                 channel: TelegramChannel.self).entry(host, major, minor)
}
