import PluginKit

/// The library's one exported symbol: describes the `stripe` plugin (a `ds.billing/1`)
/// with the JSON Schema of its config. Called once by the host, on its main thread.
@_cdecl("darkspere_plugin_entry")
public func darkspere_plugin_entry(_ host: UnsafePointer<ds_host>?, _ major: UInt32, _ minor: UInt32) -> UnsafePointer<ds_plugin_descriptor>? {
    PluginExport(id: "stripe", name: "Stripe Billing", version: "1.0.0",
                 description: "Usage metering to Stripe Billing meter events; subscription and invoice webhooks move account tiers",
                 configSchema: StripeConfig.schema,
                 billing: StripeBilling.self).entry(host, major, minor)
}
