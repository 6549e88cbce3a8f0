import PluginAPI
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A plugin library loaded into the process. Loaded once per real path, never unloaded.
/// Immutable after loading; safe to share between threads.
/// Unchecked Sendable: immutable after loading; `descriptor` points to the library's static,
/// read-only descriptor.
public final class PluginLibrary: @unchecked Sendable {
    public let path: String
    public let id: String
    public let name: String
    public let version: String
    public let summary: String
    public let abiMajor: Int
    public let abiMinor: Int
    public let interfaces: [String]
    public let configSchema: String?
    /// (1.2) The schema of `agents[].config` blocks naming a transport of this library.
    public let agentConfigSchema: String?
    let descriptor: UnsafePointer<ds_plugin_descriptor>
    /// The file's identity (device, inode) when it was loaded: a reload compares the file at
    /// `path` now with it to tell a replaced library (nil: the file could not be stat'ed).
    let identity: FileIdentity?

    init(path: String, descriptor: UnsafePointer<ds_plugin_descriptor>, identity: FileIdentity? = nil) {
        self.path = path
        self.descriptor = descriptor
        self.identity = identity
        let d = descriptor.pointee
        func s(_ p: UnsafePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }
        id = s(d.id)
        name = s(d.name)
        version = s(d.version)
        summary = s(d.description)
        abiMajor = Int(d.abi_major)
        abiMinor = Int(d.abi_minor)
        configSchema = d.config_schema.map { String(cString: $0) }
        agentConfigSchema = hasField(descriptor, \ds_plugin_descriptor.agent_config_schema) ? d.agent_config_schema.map { String(cString: $0) } : nil
        var ids: [String] = []
        if var p = d.interfaces { while let c = p.pointee { ids.append(String(cString: c)); p += 1 } }
        interfaces = ids
    }

    /// The function table of an interface the library lists, or nil.
    func table<T>(_ interfaceId: String, as: T.Type) -> UnsafePointer<T>? {
        guard interfaces.contains(interfaceId), let get = descriptor.pointee.get_interface else { return nil }
        guard let raw = interfaceId.withCString({ get(descriptor, $0) }) else { return nil }
        let table = raw.assumingMemoryBound(to: T.self)
        // Every table starts with its struct_size; refuse one too small to hold what 1.0 defines.
        let size = raw.load(as: UInt32.self)
        guard size >= UInt32(MemoryLayout<UInt32>.size) else { return nil }
        return table
    }

    public var abiVersion: String { "\(abiMajor).\(abiMinor)" }

    /// `config_json` with the schema's `default`s filled in (what create() receives).
    func withDefaults(_ json: String) -> String {
        guard let text = configSchema, let schema = try? JSONSchema(json: text) else { return json }
        return schema.applyingDefaults(json: json)
    }

    /// An `agents[].config` block with the agent schema's defaults filled in (what open() receives).
    func agentWithDefaults(_ json: String) -> String {
        guard let text = agentConfigSchema, let schema = try? JSONSchema(json: text) else { return json }
        return schema.applyingDefaults(json: json)
    }

    /// "plugin 'x' (path, plugin ABI a.b, host ABI c.d)": how messages name a plugin entry.
    func who(_ entryId: String) -> String {
        "plugin '\(entryId)' (\(path), plugin ABI \(abiVersion), host ABI \(PluginLoader.hostABI))"
    }
}

/// DS_HAS_FIELD for a struct the other side wrote: true if its leading `struct_size`
/// covers `field`.
func hasField<T, F>(_ p: UnsafePointer<T>, _ field: KeyPath<T, F>) -> Bool {
    guard let off = MemoryLayout<T>.offset(of: field) else { return false }
    return Int(UnsafeRawPointer(p).load(as: UInt32.self)) >= off + MemoryLayout<F>.size
}

/// Why a plugin could not be loaded or started. The message names the file, the
/// plugin id and both ABI versions, so an operator can act on it alone.
public struct PluginLoadError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// Finds and loads plugin libraries (dlopen RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE).
/// Thread safety: any thread; the cache is locked. It keys a library by its real path and
/// remembers the file's identity (device, inode) at load time: loading the same path again
/// returns the cached library while the file is the same, and loads the new file (never
/// unloading the old one) once it was replaced by rename (a reload picks up a new build).
/// The cache is the process's, shared by every loader (a reload's check builds a loader of its
/// own, tests run many gateways in one process): the header promises that a library's entry
/// runs once per process, and a second call raced with the plugin's own threads reading the
/// `ds_host` pointer the entry stores (ThreadSanitizer, ReloadTests).
/// Unchecked Sendable: the cache is a static Mutex; `hostTable` is the process's static,
/// read-only host table.
public final class PluginLoader: @unchecked Sendable {
    public static let hostABI = "\(DS_ABI_MAJOR).\(DS_ABI_MINOR)"
    private typealias Cache = [String: PluginLibrary]
    /// Libraries loaded in this process by real path. Held while loading (dlopen and the entry
    /// run at most once at a time).
    private static let cache = Mutex<Cache>([:])
    let hostTable: UnsafePointer<ds_host>

    init(hostTable: UnsafePointer<ds_host>) { self.hostTable = hostTable }

    /// The default search folders: next to the executable, then /usr/local/lib/darkspere.
    public static func defaultSearchPath() -> [String] {
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent().path
        let selfExe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")).map {
            URL(fileURLWithPath: $0).deletingLastPathComponent().path
        }
        var dirs: [String] = []
        for d in [selfExe, exe, "/usr/local/lib/darkspere"].compactMap({ $0 }) where !dirs.contains(d) { dirs.append(d) }
        return dirs
    }

    /// Candidate file names for a short name: libds-NAME.so, libNAME.so, NAME.so.
    static func fileNames(for shortName: String) -> [String] {
        ["libds-\(shortName).so", "lib\(shortName).so", "\(shortName).so"]
    }

    /// Resolves `library:` (a path, or a short name looked up in the search path).
    public func resolve(_ library: String, searchPath: [String], configDir: String) throws -> String {
        if library.contains("/") {
            let p = library.hasPrefix("/") ? library : (configDir as NSString).appendingPathComponent(library)
            guard FileManager.default.fileExists(atPath: p) else {
                throw PluginLoadError(message: "library file \(p) does not exist (host ABI \(Self.hostABI))")
            }
            return p
        }
        for dir in searchPath {
            for f in Self.fileNames(for: library) {
                let p = (dir as NSString).appendingPathComponent(f)
                if FileManager.default.fileExists(atPath: p) { return p }
            }
        }
        throw PluginLoadError(message: "no library for short name '\(library)' (looked for \(Self.fileNames(for: library).joined(separator: ", ")) in \(searchPath.joined(separator: ", "))) (host ABI \(Self.hostABI))")
    }

    /// Loads a library (once per real path) and validates its descriptor.
    public func load(path: String, expectedBy entryId: String? = nil) throws -> PluginLibrary {
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        return try Self.cache.withLock { loaded in try load(real: real, expectedBy: entryId, loaded: &loaded) }
    }

    private func load(real: String, expectedBy entryId: String?, loaded: inout Cache) throws -> PluginLibrary {
        let identity = FileIdentity(path: real)
        if let cached = loaded[real], cached.identity == identity { return cached }
        let who = entryId.map { "plugin '\($0)'" } ?? "library"
        // The dynamic loader reuses a loaded object by name: a file replaced at the same path
        // is opened through a name unique to its identity (a symlink), so it is mapped anew.
        var openName = real
        if loaded[real] != nil, let identity {
            openName = try FileIdentity.uniqueName(for: real, identity)
        }
        guard let handle = dlopen(openName, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            let why = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw PluginLoadError(message: "\(who): cannot load \(real): \(why) (host ABI \(Self.hostABI))")
        }
        guard let sym = dlsym(handle, DS_ENTRY_SYMBOL) else {
            throw PluginLoadError(message: "\(who): \(real) does not export \(DS_ENTRY_SYMBOL); it is not a DarkSpere plugin (host ABI \(Self.hostABI), plugin ABI unknown)")
        }
        let entry = unsafeBitCast(sym, to: ds_plugin_entry_fn.self)
        guard let d = entry(hostTable, UInt32(DS_ABI_MAJOR), UInt32(DS_ABI_MINOR)) else {
            // 1.2: the optional DS_ABI_SYMBOL names the plugin's version.
            if let abi = dlsym(handle, DS_ABI_SYMBOL) {
                let packed = abi.load(as: UInt32.self)
                throw PluginLoadError(message: "\(who) (\(real)) was built for ABI \(packed >> 16).\(packed & 0xffff), but this host speaks ABI \(Self.hostABI): its entry returned NULL (the major versions must match)")
            }
            throw PluginLoadError(message: "\(who): \(real) refused host ABI \(Self.hostABI) (its entry returned NULL; plugin ABI unknown: it exports no \(DS_ABI_SYMBOL))")
        }
        guard d.pointee.struct_size >= UInt32(MemoryLayout<ds_plugin_descriptor>.offset(of: \ds_plugin_descriptor.get_interface)! + MemoryLayout<UnsafeRawPointer>.size) else {
            throw PluginLoadError(message: "\(who): \(real) returned a descriptor too small (\(d.pointee.struct_size) bytes) (host ABI \(Self.hostABI))")
        }
        let lib = PluginLibrary(path: real, descriptor: d, identity: identity)
        let pid = lib.id.isEmpty ? (entryId ?? "?") : lib.id
        guard lib.abiMajor == Int(DS_ABI_MAJOR) else {
            throw PluginLoadError(message: "plugin '\(pid)' (\(real)) was built for ABI \(lib.abiVersion), but this host speaks ABI \(Self.hostABI): the major versions must match")
        }
        guard !lib.id.isEmpty else {
            throw PluginLoadError(message: "\(who): \(real) has an empty plugin id (plugin ABI \(lib.abiVersion), host ABI \(Self.hostABI))")
        }
        loaded[real] = lib
        return lib
    }

    /// Every plugin library found in the given folders (files named libds-*.so), loaded,
    /// or the reason it could not be.
    public func discover(in dirs: [String]) -> [(path: String, result: Result<PluginLibrary, PluginLoadError>)] {
        var out: [(String, Result<PluginLibrary, PluginLoadError>)] = []
        var seen: Set<String> = []
        for dir in dirs {
            guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for f in files.sorted() where f.hasPrefix("libds-") && f.hasSuffix(".so") {
                let p = (dir as NSString).appendingPathComponent(f)
                let real = URL(fileURLWithPath: p).resolvingSymlinksInPath().path
                guard seen.insert(real).inserted else { continue }
                do { out.append((real, .success(try load(path: real)))) } catch let e as PluginLoadError { out.append((real, .failure(e))) } catch {}
            }
        }
        return out
    }
}

/// A file's identity: device and inode. A file replaced by rename has a new one; a file
/// rewritten in place keeps it (and must not be: see REPLACING in darkspere_plugin.h).
struct FileIdentity: Equatable, Sendable, CustomStringConvertible {
    var device: UInt64
    var inode: UInt64

    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        device = UInt64(st.st_dev); inode = UInt64(st.st_ino)
    }

    var description: String { "\(device):\(inode)" }

    /// A symlink to `real` named after its identity, in a folder private to this process:
    /// opening it maps the new file although an older one of the same path is loaded.
    static func uniqueName(for real: String, _ id: FileIdentity) throws -> String {
        let dir = NSTemporaryDirectory() + "darkspere-libs-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let link = "\(dir)/\(id.device)-\(id.inode)-\((real as NSString).lastPathComponent)"
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == nil {
            do { try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real) } catch {
                throw PluginLoadError(message: "cannot load the new \(real): cannot make \(link): \(error)")
            }
        }
        return link
    }
}
