import PluginAPI
import Foundation

/// Describes a Swift plugin library and produces its ABI descriptor.
///
/// A plugin library exports itself with one declaration:
///
///     @_cdecl("darkspere_plugin_entry")
///     public func entry(_ host: UnsafePointer<ds_host>?, _ major: UInt32, _ minor: UInt32) -> UnsafePointer<ds_plugin_descriptor>? {
///         PluginExport(id: "my-agent", name: "My agent", version: "1.0.0", agentTransport: MyTransport.self).entry(host, major, minor)
///     }
///
/// The descriptor is built once per library (the first call) and kept for the life of
/// the process. Thread safety: `entry` is called by the host once, on its main thread.
public struct PluginExport: Sendable {
    public var id: String
    public var name: String
    public var version: String
    public var description: String
    /// JSON Schema of the instance's `config` block, validated by the host before init.
    public var configSchema: String?
    let channel: (any ChannelPlugin.Type)?
    let agentTransport: (any AgentTransport.Type)?
    let billing: (any BillingProvider.Type)?
    let logSink: (any LogSink.Type)?

    public init(id: String, name: String, version: String, description: String = "", configSchema: String? = nil,
                channel: (any ChannelPlugin.Type)? = nil, agentTransport: (any AgentTransport.Type)? = nil,
                billing: (any BillingProvider.Type)? = nil, logSink: (any LogSink.Type)? = nil) {
        self.id = id; self.name = name; self.version = version; self.description = description
        self.configSchema = configSchema; self.channel = channel; self.agentTransport = agentTransport
        self.billing = billing; self.logSink = logSink
    }

    /// The body of the exported entry function.
    public func entry(_ host: UnsafePointer<ds_host>?, _ major: UInt32, _ minor: UInt32) -> UnsafePointer<ds_plugin_descriptor>? {
        guard let host, major == UInt32(DS_ABI_MAJOR) else { return nil }
        return ExportRegistry.shared.descriptor(for: self, host: host)
    }

    var interfaceIds: [String] {
        var ids: [String] = []
        if channel != nil { ids.append(DS_CHANNEL_V1) }
        if agentTransport != nil { ids.append(DS_AGENT_TRANSPORT_V1) }
        if billing != nil { ids.append(DS_BILLING_V1) }
        if logSink != nil { ids.append(DS_LOG_SINK_V1) }
        return ids
    }
}

/// What `plugin_data` of a PluginKit descriptor points to.
/// Unchecked Sendable: immutable; `host` is the host's static, read-only table.
final class ExportedPlugin: @unchecked Sendable {
    let export: PluginExport
    let host: UnsafePointer<ds_host>
    init(export: PluginExport, host: UnsafePointer<ds_host>) { self.export = export; self.host = host }
}

/// Keeps every descriptor PluginKit made (one per plugin library id) alive for the process.
/// Unchecked Sendable: `descriptors` only under `lock`.
final class ExportRegistry: @unchecked Sendable {
    static let shared = ExportRegistry()
    private let lock = NSLock()
    private var descriptors: [String: UnsafePointer<ds_plugin_descriptor>] = [:]

    func descriptor(for export: PluginExport, host: UnsafePointer<ds_host>) -> UnsafePointer<ds_plugin_descriptor> {
        lock.lock(); defer { lock.unlock() }
        if let d = descriptors[export.id] { return d }
        let ids = export.interfaceIds
        let list = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: ids.count + 1)
        for (i, id) in ids.enumerated() { list[i] = staticCString(id) }
        list[ids.count] = nil
        let d = UnsafeMutablePointer<ds_plugin_descriptor>.allocate(capacity: 1)
        d.initialize(to: ds_plugin_descriptor(
            struct_size: UInt32(MemoryLayout<ds_plugin_descriptor>.size),
            abi_major: UInt16(DS_ABI_MAJOR), abi_minor: UInt16(DS_ABI_MINOR),
            id: staticCString(export.id), name: staticCString(export.name), version: staticCString(export.version),
            description: staticCString(export.description), config_schema: staticCString(export.configSchema),
            interfaces: UnsafePointer(list), get_interface: pluginKitGetInterface,
            plugin_data: Unmanaged.passRetained(ExportedPlugin(export: export, host: host)).toOpaque(),
            agent_config_schema: nil))
        descriptors[export.id] = UnsafePointer(d)
        return UnsafePointer(d)
    }
}

let pluginKitGetInterface: @convention(c) (UnsafePointer<ds_plugin_descriptor>?, UnsafePointer<CChar>?) -> UnsafeRawPointer? = { d, id in
    guard let d, let id, let data = d.pointee.plugin_data else { return nil }
    let plugin = Unmanaged<ExportedPlugin>.fromOpaque(data).takeUnretainedValue()
    let name = String(cString: id)
    guard plugin.export.interfaceIds.contains(name) else { return nil }
    switch name {
    case DS_CHANNEL_V1: return UnsafeRawPointer(Tables.channel)
    case DS_AGENT_TRANSPORT_V1: return UnsafeRawPointer(Tables.agent)
    case DS_BILLING_V1: return UnsafeRawPointer(Tables.billing)
    case DS_LOG_SINK_V1: return UnsafeRawPointer(Tables.sink)
    default: return nil
    }
}
