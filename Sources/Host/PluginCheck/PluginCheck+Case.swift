import Foundation
import PluginAPI
#if canImport(Glibc)
import Glibc
#endif

/// The child side of `plugin-check`: one case in one process (`darkspere plugin-check-case`),
/// so that a plugin that crashes or hangs costs only that case. It writes its results to
/// stdout as tab-separated lines the parent reads (see `CaseLine`), each written at once:
/// the parent keeps what was written before a crash.
///
/// Runs on the main thread; operations are issued from `threads` threads at once.
extension PluginCheck {
    /// Runs case `name` ("load", "create", "ops", "cancel") for `interface`; returns the exit code.
    public static func runCase(_ name: String, interface: String?, _ o: PluginCheckOptions) -> Int32 {
        CheckHost.callbackBound.store(o.callbackBoundMs, ordering: .relaxed)
        let out = CaseLine.self
        out.step("load")
        guard let lib = loadForCheck(o.path, report: name == "load") else {
            flushFindings()
            out.emit("done")
            return 0
        }
        switch name {
        case "load":
            for id in lib.interfaces where CheckInterface.minimumSize(id) != nil { out.emit("iface", id) }
            out.emit("info", "plugin '\(lib.id)' \"\(lib.name)\" \(lib.version), ABI \(lib.abiVersion), interfaces: \(lib.interfaces.joined(separator: ", "))")
        case "create", "ops", "cancel":
            // A table the load case found too small or missing a required member is not
            // called (the checker would read past it or call NULL): that case reported it.
            guard let iface = interface, let raw = rawTable(lib, iface), let min = CheckInterface.minimumSize(iface),
                  Int(raw.load(as: UInt32.self)) >= min, CheckInterface.missingMembers(iface, raw).isEmpty,
                  let fns = CheckInterface.make(iface, lib.descriptor, raw, timeoutMs: UInt32(o.opTimeoutMs)) else {
                out.emit("skip", "interface \(interface ?? "?") is not usable (see load)")
                break
            }
            let runner = CaseRunner(lib: lib, fns: fns, options: o)
            switch name {
            case "create": runner.createCase()
            case "ops": runner.opsCase(cancelling: false)
            default: runner.opsCase(cancelling: true)
            }
        default:
            out.emit("skip", "unknown case '\(name)'")
        }
        flushFindings()
        out.emit("done")
        return 0
    }

    static func flushFindings() {
        for (what, ms) in CheckHost.state.stuckCallbacks(boundMs: CheckHost.callbackBoundMs) {
            CheckHost.state.fail(.blockingCallback, "the plugin's \(what) has not returned after \(ms) ms (bound \(CheckHost.callbackBoundMs) ms): callbacks run on host threads and must not block")
        }
        // One line per kind (in order of first appearance): the first message and how many more.
        // (Callback findings of one kind are alike: "ran for 2504 ms", "ran for 2500 ms".)
        var order: [String] = []
        var byKind: [String: (kind: CheckFinding.Kind, messages: [String])] = [:]
        for f in CheckHost.state.findings {
            let key = f.kind.rawValue + "|" + String(f.message.prefix(24))
            if byKind[key] == nil { order.append(key); byKind[key] = (f.kind, []) }
            byKind[key]!.messages.append(f.message)
        }
        for key in order {
            let (kind, messages) = byKind[key]!
            let all = messages.uniqued
            CaseLine.emit("fail", kind.rawValue, all.count == 1 ? all[0] : "\(all[0]) (and \(all.count - 1) more like it)")
        }
    }

    /// The interface table, or nil (get_interface answered NULL).
    static func rawTable(_ lib: PluginLibrary, _ iface: String) -> UnsafeRawPointer? {
        guard let get = lib.descriptor.pointee.get_interface else { return nil }
        return iface.withCString { get(lib.descriptor, $0) }
    }

    /// Loads the library the way PluginLoader does (same dlopen flags, symbol and
    /// arguments), reporting each problem as a finding when `report` is set (the "load"
    /// case). Returns nil if nothing else can run.
    static func loadForCheck(_ path: String, report: Bool) -> PluginLibrary? {
        func fail(_ k: CheckFinding.Kind, _ m: String) { if report { CheckHost.state.fail(k, m) } }
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard let handle = dlopen(real, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            fail(.load, "dlopen failed: \(dlerror().map { String(cString: $0) } ?? "unknown error")")
            return nil
        }
        guard let sym = dlsym(handle, DS_ENTRY_SYMBOL) else {
            fail(.load, "the library does not export \(DS_ENTRY_SYMBOL)")
            return nil
        }
        let abiSymbol = dlsym(handle, DS_ABI_SYMBOL).map { $0.load(as: UInt32.self) }
        let entry = unsafeBitCast(sym, to: ds_plugin_entry_fn.self)
        CaseLine.step("darkspere_plugin_entry(host, \(DS_ABI_MAJOR), \(DS_ABI_MINOR))")
        guard let d = entry(CheckHost.table, UInt32(DS_ABI_MAJOR), UInt32(DS_ABI_MINOR)) else {
            let theirs = abiSymbol.map { "\($0 >> 16).\($0 & 0xffff)" } ?? "unknown (no \(DS_ABI_SYMBOL))"
            fail(.load, "its entry returned NULL for host ABI \(PluginLoader.hostABI) (plugin ABI \(theirs))")
            return nil
        }
        let minimum = MemoryLayout<ds_plugin_descriptor>.offset(of: \.plugin_data)! + MemoryLayout<UnsafeRawPointer>.size
        let size = Int(d.pointee.struct_size)
        if size < minimum {
            fail(.structSizeTooSmall, "the descriptor's struct_size is \(size), smaller than the ABI 1.0 layout (\(minimum) bytes): set .struct_size = sizeof(ds_plugin_descriptor)")
            let usable = MemoryLayout<ds_plugin_descriptor>.offset(of: \.get_interface)! + MemoryLayout<UnsafeRawPointer>.size
            if size < usable { return nil }
        }
        let lib = PluginLibrary(path: real, descriptor: d)
        guard report else { return lib }
        if lib.abiMajor != Int(DS_ABI_MAJOR) {
            fail(.abiVersion, "the descriptor says ABI \(lib.abiVersion) but its entry accepted host ABI \(PluginLoader.hostABI): a plugin must return NULL for another major")
        }
        if let abiSymbol, abiSymbol != (UInt32(lib.abiMajor) << 16 | UInt32(lib.abiMinor)) {
            fail(.abiVersion, "\(DS_ABI_SYMBOL) says \(abiSymbol >> 16).\(abiSymbol & 0xffff) but the descriptor says \(lib.abiVersion)")
        }
        if lib.abiMinor > Int(DS_ABI_MINOR) {
            CaseLine.emit("note", "built for ABI \(lib.abiVersion), newer than this checker's \(PluginLoader.hostABI): it must test DS_HAS_FIELD before using newer host members")
        }
        if lib.id.isEmpty || lib.id.utf8.contains(where: { !(($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d) }) {
            fail(.descriptor, "the descriptor's id '\(lib.id)' must be [a-z0-9-]+")
        }
        if d.pointee.name == nil || lib.name.isEmpty { fail(.descriptor, "the descriptor's name is missing") }
        if d.pointee.version == nil || lib.version.isEmpty { fail(.descriptor, "the descriptor's version is missing") }
        if lib.interfaces.isEmpty { fail(.descriptor, "the descriptor lists no interfaces") }
        if d.pointee.get_interface == nil { fail(.missingFunction, "the descriptor's get_interface is NULL") }
        for id in lib.interfaces {
            guard let min = CheckInterface.minimumSize(id) else {
                CaseLine.emit("note", "interface '\(id)' is not one this host serves; it is ignored")
                continue
            }
            guard let raw = rawTable(lib, id) else {
                fail(.getInterface, "get_interface(\"\(id)\") returned NULL although the descriptor lists it")
                continue
            }
            let tsize = Int(raw.load(as: UInt32.self))
            if tsize < min {
                fail(.structSizeTooSmall, "the \(id) table's struct_size is \(tsize), smaller than the ABI 1.0 layout (\(min) bytes)")
                continue
            }
            let missing = CheckInterface.missingMembers(id, raw)
            if !missing.isEmpty { fail(.missingFunction, "the \(id) table has NULL \(missing.joined(separator: ", ")) (the header allows NULL only for cancel and validate_config)") }
        }
        if d.pointee.get_interface != nil, rawTable(lib, "ds.plugin-check-unknown/1") != nil {
            fail(.getInterface, "get_interface(\"ds.plugin-check-unknown/1\") returned a table: it must return NULL for an id it does not offer")
        }
        for (text, name) in [(lib.configSchema, "config_schema"), (lib.agentConfigSchema, "agent_config_schema")] {
            guard let text else { continue }
            guard let schema = try? JSONSchema(json: text) else { fail(.schema, "its \(name) is not a JSON object"); continue }
            for k in schema.unknownKeywords { fail(.schema, "its \(name) uses '\(k)', a keyword the host does not support (a typo?)") }
        }
        return lib
    }
}

/// The lines a case writes for the parent: `kind \t field...`, one write each.
enum CaseLine {
    static func emit(_ fields: String...) {
        let line = fields.map { $0.replacingOccurrences(of: "\t", with: " ").replacingOccurrences(of: "\n", with: " ") }.joined(separator: "\t") + "\n"
        FileHandle.standardOutput.write(Data(line.utf8))
    }
    static func step(_ what: String) { emit("step", what) }
}
