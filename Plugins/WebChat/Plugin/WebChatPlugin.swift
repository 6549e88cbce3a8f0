import PluginKit
import WebChatCore

/// The library's one exported symbol: describes the `webchat` plugin (a `ds.channel/1`)
/// with the JSON Schema of its config. Called once by the host, on its main thread.
@_cdecl("darkspere_plugin_entry")
public func darkspere_plugin_entry(_ host: UnsafePointer<ds_host>?, _ major: UInt32, _ minor: UInt32) -> UnsafePointer<ds_plugin_descriptor>? {
    PluginExport(id: "webchat", name: "Web chat", version: "1.0.0",
                 description: "A chat box for web sites: signed visitor tokens, long-polled replies, an embeddable widget",
                 configSchema: WebChatConfig.schema,
                 channel: WebChatChannel.self).entry(host, major, minor)
}
