import PluginAPI
import Foundation

/// Child processes for plugins: the `ds_host.process_*` service, added in ABI 1.2.
extension PluginHost {
    /// Whether the host offers the process service (ABI >= 1.2 with process_kill in its table).
    public var canSpawn: Bool {
        guard let offset = MemoryLayout<ds_host>.offset(of: \ds_host.process_kill) else { return false }
        return Int(table.pointee.struct_size) >= offset + MemoryLayout<UnsafeRawPointer?>.size
    }

    /// What a child process did, delivered in order on one host thread per child.
    public enum ProcessEvent: Sendable {
        /// Bytes from its stdout (any chunking).
        case stdout([UInt8])
        /// Bytes from its stderr (any chunking).
        case stderr([UInt8])
        /// It ended: its exit code, or -N when signal N killed it. The last event.
        case exit(Int32)
    }

    /// A running child started with `spawn`. Every method may be called from any thread;
    /// after the `.exit` event they do nothing (write returns false).
    /// Unchecked Sendable: immutable; the host's process handle may be used from any thread (ABI).
    public final class ChildProcess: @unchecked Sendable {
        let table: UnsafePointer<ds_host>
        let pointer: OpaquePointer
        init(table: UnsafePointer<ds_host>, pointer: OpaquePointer) { self.table = table; self.pointer = pointer }

        /// Writes all of `bytes` to its stdin; blocks while the pipe is full. False if stdin
        /// is closed or the child is gone. Do not call from a host callback with much data.
        @discardableResult
        public func write(_ bytes: [UInt8]) -> Bool {
            bytes.withUnsafeBufferPointer { b in
                b.withMemoryRebound(to: CChar.self) { c in
                    table.pointee.process_write(pointer, ds_str(ptr: c.baseAddress, len: c.count)) == DS_OK
                }
            }
        }

        /// Closes its stdin (it reads EOF).
        public func closeStdin() { table.pointee.process_close_stdin(pointer) }

        /// Sends a POSIX signal (SIGTERM, SIGKILL, ...). False once the child was reaped.
        @discardableResult
        public func kill(_ signal: Int32) -> Bool { table.pointee.process_kill(pointer, signal) == DS_OK }
    }

    /// Starts `argv[0]` (a path, or a name looked up in PATH) with `argv`, the host's
    /// environment plus `env` (only `env` with `cleanEnv`), in `cwd` (nil: the host's), with
    /// pipes for stdin/stdout/stderr and no other inherited descriptor. `onEvent` receives
    /// its output and, last, its exit, on a host thread: do not block in it for long.
    /// Throws PluginError: DS_ERR_NOT_FOUND (no such program), DS_ERR_UNSUPPORTED (a host
    /// older than ABI 1.2), or what the host said.
    public func spawn(_ argv: [String], env: [(String, String)] = [], cleanEnv: Bool = false, cwd: String? = nil,
                      _ onEvent: @escaping @Sendable (ProcessEvent) -> Void) throws -> ChildProcess {
        guard canSpawn else {
            throw PluginError(status: DS_ERR_UNSUPPORTED, "the host (ABI \(abiVersion.major).\(abiVersion.minor)) offers no process service; it needs ABI 1.2")
        }
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        let args = argv.map { arena.str($0) }
        var spec = ds_process_spec()
        spec.struct_size = UInt32(MemoryLayout<ds_process_spec>.size)
        spec.argc = args.count
        spec.env = arena.kvs(env)
        spec.env_count = env.count
        spec.cwd = arena.str(cwd ?? "")
        spec.flags = cleanEnv ? DS_PROCESS_CLEAN_ENV : 0
        let box = Unmanaged.passRetained(ProcessBox(onEvent)).toOpaque()
        var out: OpaquePointer?
        var err = ds_error()
        err.struct_size = UInt32(MemoryLayout<ds_error>.size)
        let status = args.withUnsafeBufferPointer { a -> ds_status in
            spec.argv = a.baseAddress
            return table.pointee.process_spawn(handle, &spec, pluginKitProcessCallback, box, &out, &err)
        }
        guard status == DS_OK, let out else {
            Unmanaged<ProcessBox>.fromOpaque(box).release()
            throw PluginError(status: status == DS_OK ? DS_ERR_FAILED : status, errorMessage(&err))
        }
        return ChildProcess(table: table, pointer: out)
    }
}

/// A child's event handler, retained once for the host's `user` pointer until `.exit`.
final class ProcessBox: Sendable {
    let onEvent: @Sendable (PluginHost.ProcessEvent) -> Void
    init(_ f: @escaping @Sendable (PluginHost.ProcessEvent) -> Void) { onEvent = f }
}

let pluginKitProcessCallback: ds_process_callback = { user, event, data, exitStatus in
    guard let user else { return }
    switch event {
    case DS_PROCESS_EXIT:
        let box = Unmanaged<ProcessBox>.fromOpaque(user).takeRetainedValue()
        box.onEvent(.exit(exitStatus))
    case DS_PROCESS_STDERR:
        Unmanaged<ProcessBox>.fromOpaque(user).takeUnretainedValue().onEvent(.stderr(data.bytes))
    default:
        Unmanaged<ProcessBox>.fromOpaque(user).takeUnretainedValue().onEvent(.stdout(data.bytes))
    }
}
