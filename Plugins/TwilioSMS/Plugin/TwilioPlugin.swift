import PluginKit
import TwilioCore

/// The library's one exported symbol: describes the `twilio` plugin (a `ds.channel/1`)
/// with the JSON Schema of its config. Called once by the host, on its main thread.
@_cdecl("darkspere_plugin_entry")
public func darkspere_plugin_entry(_ host: UnsafePointer<ds_host>?, _ major: UInt32, _ minor: UInt32) -> UnsafePointer<ds_plugin_descriptor>? {
    PluginExport(id: "twilio", name: "Twilio SMS", version: "1.0.0",
                 description: "SMS/MMS through Twilio: signed webhooks, TwiML replies, REST sends, delivery status",
                 configSchema: TwilioConfig.schema,
                 channel: TwilioChannel.self).entry(host, major, minor)
}
