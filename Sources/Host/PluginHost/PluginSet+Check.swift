import PluginAPI

/// What `darkspere check` asks of a plugin beyond loading it and validating its config
/// against its schema: its schemas' unknown keywords and (ABI 1.2) its own
/// `validate_config` / `validate_agent_config`. Nothing is created or opened.
/// Called on the main thread.
extension PluginSet {
    /// Problems of one `plugins:` entry whose library loaded and whose config passed its schema.
    func checkProblems(_ entry: PluginEntry, _ lib: PluginLibrary) -> [String] {
        let who = lib.who(entry.id)
        var problems = Self.unknownKeywords(lib.configSchema, "config_schema", who: who)
            + Self.unknownKeywords(lib.agentConfigSchema, "agent_config_schema", who: who)
        let config = lib.withDefaults(entry.configJSON)
        let at = "plugins[\(entry.index)]"
        for iface in lib.interfaces {
            let result: (ds_status, String)?
            switch iface {
            case DS_CHANNEL_V1: result = lib.table(iface, as: ds_channel_v1.self).flatMap { Self.validate($0, \.validate_config, lib, config) }
            case DS_AGENT_TRANSPORT_V1: result = lib.table(iface, as: ds_agent_transport_v1.self).flatMap { Self.validate($0, \.validate_config, lib, config) }
            case DS_BILLING_V1: result = lib.table(iface, as: ds_billing_v1.self).flatMap { Self.validate($0, \.validate_config, lib, config) }
            case DS_LOG_SINK_V1: result = lib.table(iface, as: ds_log_sink_v1.self).flatMap { Self.validate($0, \.validate_config, lib, config) }
            default: result = nil
            }
            if let (status, message) = result, status != DS_OK {
                problems += Self.lines(message, status).map { "\(who): line \(entry.line): \(at): \($0)" }
            }
        }
        return problems
    }

    /// Problems of one `agents:` entry whose transport library is `lib`: the agent schema,
    /// then the transport's validate_agent_config.
    func checkAgentProblems(_ a: AgentEntry, _ lib: PluginLibrary) -> [String] {
        let who = "agent '\(a.name)' of \(lib.who(a.transport))"
        do {
            let schema = try Self.schemaProblems(lib.agentConfigSchema, "agent_config_schema", json: a.configJSON, who: who,
                                                 at: "agents[\(a.index)].config", lines: a.configLines, line: a.line)
            if !schema.isEmpty { return schema }
        } catch { return ["\(error)"] }
        guard let t = lib.table(DS_AGENT_TRANSPORT_V1, as: ds_agent_transport_v1.self),
              hasField(t, \.validate_agent_config), let validate = t.pointee.validate_agent_config else { return [] }
        var err = ds_error()
        err.struct_size = UInt32(MemoryLayout<ds_error>.size)
        let status = withDSStr(a.name) { n in withDSStr(lib.agentWithDefaults(a.configJSON)) { c in validate(lib.descriptor, n, c, &err) } }
        guard status != DS_OK else { return [] }
        return Self.lines(errorText(&err), status).map { "\(who): line \(a.line): agents[\(a.index)]: \($0)" }
    }

    /// Calls a table's 1.2 `validate_config` if the table is large enough to have one and
    /// it is not NULL; nil when there is nothing to call.
    private static func validate<T>(_ table: UnsafePointer<T>,
                                    _ field: KeyPath<T, (@convention(c) (UnsafePointer<ds_plugin_descriptor>?, ds_str, UnsafeMutablePointer<ds_error>?) -> ds_status)?>,
                                    _ lib: PluginLibrary, _ config: String) -> (ds_status, String)? {
        guard hasField(table, field), let fn = table.pointee[keyPath: field] else { return nil }
        var err = ds_error()
        err.struct_size = UInt32(MemoryLayout<ds_error>.size)
        let status = withDSStr(config) { fn(lib.descriptor, $0, &err) }
        return (status, errorText(&err))
    }

    /// A plugin's message split into one problem per line ("config.x: ..."), or a generic
    /// one naming the status when the plugin gave none.
    private static func lines(_ message: String, _ status: ds_status) -> [String] {
        let parts = message.split(separator: "\n").map { String($0) }.filter { !$0.isEmpty }
        return parts.isEmpty ? ["the plugin's validate_config refused it without a message [status \(status)]"] : parts
    }

    static func unknownKeywords(_ schemaText: String?, _ name: String, who: String) -> [String] {
        guard let schemaText, let schema = try? JSONSchema(json: schemaText) else { return [] }
        return schema.unknownKeywords.map { "\(who): its \(name) uses '\($0)', a keyword this host does not support (a typo?); see the header's config_schema comment for the subset" }
    }
}
