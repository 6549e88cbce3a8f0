import Foundation
import PluginAPI
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process a plugin started through `ds_host.process_spawn` (ABI 1.2).
///
/// Started with posix_spawn: the child gets pipes as its stdin/stdout/stderr and no other
/// descriptor of the host (every host-side pipe end is O_CLOEXEC, and descriptors from 3
/// up are closed in the child with posix_spawn_file_actions_addclosefrom_np where glibc
/// has it), default signal dispositions and an empty signal mask.
///
/// Ownership: registered in `table` from spawn until its DS_PROCESS_EXIT callback has
/// returned; the `ds_process *` is its id there, so a stale handle finds nothing. One
/// thread per child reads its output, calls the plugin's callback in order and reaps it;
/// the pid is signalled only under `lock` while not yet reaped, so a recycled pid is never
/// hit. Writes to stdin are serialised by `writeLock`. Thread safety: any method, any thread.
/// Unchecked Sendable: `reaped` only under `lock`, `stdinFD` only under `writeLock`; `id` is set
/// once, before the handle is given to the plugin; the rest is immutable (callback and `user` are
/// the plugin's, any thread by the ABI).
final class PluginProcess: @unchecked Sendable {
    static let table = HandleTable<PluginProcess>()
    /// Children by owning instance index, for killing what a destroyed instance left running.
    private static let byOwner = Mutex<[UInt16: Set<UInt64>]>([:])
    private static let ignoreSIGPIPE: Void = { _ = Glibc.signal(SIGPIPE, SIG_IGN) }()

    let pid: pid_t
    let owner: InstanceHandle
    private(set) var id: UInt64 = 0
    private let callback: ds_process_callback
    private let user: UnsafeSendable
    private let lock = NSLock()
    private var reaped = false
    private let writeLock = NSLock()
    private var stdinFD: Int32
    private let stdoutFD: Int32
    private let stderrFD: Int32

    private init(pid: pid_t, owner: InstanceHandle, callback: @escaping ds_process_callback, user: UnsafeMutableRawPointer?,
                 stdin: Int32, stdout: Int32, stderr: Int32) {
        self.pid = pid; self.owner = owner; self.callback = callback; self.user = UnsafeSendable(user)
        stdinFD = stdin; stdoutFD = stdout; stderrFD = stderr
    }

    /// Why a spawn failed: the status and the message for the plugin's ds_error.
    struct SpawnError: Error { var status: ds_status; var message: String }

    /// Starts the child described by `spec`; sets `*out` before the reader thread starts.
    static func spawn(owner: InstanceHandle, spec: UnsafePointer<ds_process_spec>, callback: @escaping ds_process_callback,
                      user: UnsafeMutableRawPointer?, out: UnsafeMutablePointer<OpaquePointer?>?) throws(SpawnError) {
        _ = ignoreSIGPIPE
        let s = spec.pointee
        guard s.struct_size >= UInt32(MemoryLayout<ds_process_spec>.size) else {
            throw SpawnError(status: DS_ERR_INVALID, message: "ds_process_spec.struct_size is \(s.struct_size), smaller than \(MemoryLayout<ds_process_spec>.size)")
        }
        guard s.argc >= 1, let argvIn = s.argv else { throw SpawnError(status: DS_ERR_INVALID, message: "argv is empty") }
        let argv = (0..<s.argc).map { argvIn[$0].string }
        guard !argv[0].isEmpty, !argv.contains(where: { $0.utf8.contains(0) }) else {
            throw SpawnError(status: DS_ERR_INVALID, message: "argv[0] is empty or an argument contains a NUL byte")
        }
        var env: [String: String] = (s.flags & DS_PROCESS_CLEAN_ENV) != 0 ? [:] : ProcessInfo.processInfo.environment
        if let e = s.env { for i in 0..<s.env_count { env[e[i].key.string] = e[i].value.string } }
        let cwd = s.cwd.string
        let program = argv[0]
        if program.contains("/") {
            guard access(program, X_OK) == 0 else { throw SpawnError(status: DS_ERR_NOT_FOUND, message: "'\(program)' is not an executable file") }
        } else if Self.lookUp(program) == nil {
            throw SpawnError(status: DS_ERR_NOT_FOUND, message: "'\(program)' not found in PATH")
        }

        // Host ends O_CLOEXEC (never inherited by any child); child ends dup2'ed to 0, 1, 2.
        var inP: [Int32] = [-1, -1], outP: [Int32] = [-1, -1], errP: [Int32] = [-1, -1]
        func closeAll() { for fd in inP + outP + errP where fd >= 0 { close(fd) } }
        guard SpawnExtras.cloexecPipe(&inP), SpawnExtras.cloexecPipe(&outP), SpawnExtras.cloexecPipe(&errP) else {
            let why = String(cString: strerror(errno))
            closeAll()
            throw SpawnError(status: DS_ERR_UNAVAILABLE, message: "cannot make pipes: \(why)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inP[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outP[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errP[1], 2)
        if let closefrom = SpawnExtras.addClosefrom { _ = closefrom(&actions, 3) }
        if !cwd.isEmpty {
            guard let chdir = SpawnExtras.addChdir else {
                closeAll()
                throw SpawnError(status: DS_ERR_UNSUPPORTED, message: "this system cannot set a child's working directory (glibc < 2.29)")
            }
            _ = cwd.withCString { chdir(&actions, $0) }
        }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t(), defaults = sigset_t()
        sigemptyset(&empty)
        sigemptyset(&defaults)
        for sig in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in cArgv { free(p) }; for p in cEnv { free(p) } }
        var pid: pid_t = 0
        let rc = program.contains("/") ? posix_spawn(&pid, program, &actions, &attr, cArgv, cEnv)
                                       : posix_spawnp(&pid, program, &actions, &attr, cArgv, cEnv)
        close(inP[0]); close(outP[1]); close(errP[1])
        guard rc == 0 else {
            close(inP[1]); close(outP[0]); close(errP[0])
            throw SpawnError(status: rc == ENOENT ? DS_ERR_NOT_FOUND : DS_ERR_UNAVAILABLE,
                             message: "cannot start '\(program)': \(String(cString: strerror(rc)))")
        }
        let p = PluginProcess(pid: pid, owner: owner, callback: callback, user: user, stdin: inP[1], stdout: outP[0], stderr: errP[0])
        p.id = table.insert(p, owner: owner.index)
        byOwner.withLock { $0[owner.index, default: []].insert(p.id) }
        out?.pointee = HandleTable<PluginProcess>.pointer(p.id)
        let t = Thread { p.serve() }
        t.name = "ds-process-\(pid)"
        t.start()
    }

    /// The first executable `name` in PATH, or nil.
    static func lookUp(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// Writes all of `bytes` to stdin; see `ds_host.process_write`.
    func write(_ bytes: UnsafeRawBufferPointer) -> ds_status {
        writeLock.lock(); defer { writeLock.unlock() }
        guard stdinFD >= 0 else { return DS_ERR_UNAVAILABLE }
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(stdinFD, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return DS_ERR_UNAVAILABLE }
            off += n
        }
        return DS_OK
    }

    func closeStdin() {
        writeLock.lock(); defer { writeLock.unlock() }
        if stdinFD >= 0 { close(stdinFD); stdinFD = -1 }
    }

    /// Signals the child unless it was reaped.
    func sendSignal(_ sig: Int32) -> ds_status {
        lock.lock(); defer { lock.unlock() }
        guard !reaped else { return DS_ERR_NOT_FOUND }
        return kill(pid, sig) == 0 ? DS_OK : DS_ERR_INVALID
    }

    /// Reaps the child if it has exited (non-blocking); its wait status, or nil.
    private func reapIfExited() -> Int32? {
        lock.lock(); defer { lock.unlock() }
        var status: Int32 = 0
        var r: pid_t
        repeat { r = waitpid(pid, &status, WNOHANG) } while r < 0 && errno == EINTR
        guard r == pid || r < 0 else { return nil }
        reaped = true
        return r == pid ? status : 0
    }

    /// The reader thread: output to the callback until both pipes are closed (or the
    /// child has exited and nothing more is readable), then reaps it and reports the exit.
    private func serve() {
        var fds = [stdoutFD, stderrFD]
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var exitStatus: Int32? = nil
        func deliver(_ event: Int32, _ n: Int) {
            guard !owner.isDestroyed else { return }
            buffer.withUnsafeBufferPointer { b in
                b.withMemoryRebound(to: CChar.self) { callback(user.value, event, ds_str(ptr: $0.baseAddress, len: n), 0) }
            }
        }
        while fds.contains(where: { $0 >= 0 }) {
            var polls = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let r = poll(&polls, nfds_t(polls.count), exitStatus == nil ? 200 : 0)
            if r < 0 && errno == EINTR { continue }
            if r == 0 {
                // Nothing to read: once the child has exited, what is left is a grandchild
                // holding the pipe open; stop reading rather than wait for it.
                if exitStatus != nil { break }
                exitStatus = reapIfExited()
                continue
            }
            for (i, p) in polls.enumerated() where p.fd >= 0 && p.revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(p.fd, $0.baseAddress, $0.count) }
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if n <= 0 { close(p.fd); fds[i] = -1; continue }
                deliver(i == 0 ? DS_PROCESS_STDOUT : DS_PROCESS_STDERR, n)
            }
        }
        for fd in fds where fd >= 0 { close(fd) }
        while exitStatus == nil {
            // Block until the child has exited, leaving it a zombie (WNOWAIT) so that its pid
            // cannot be reused before `reapIfExited` reaps it under the lock `sendSignal` takes.
            var info = siginfo_t()
            var r: Int32
            repeat { r = waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) } while r < 0 && errno == EINTR
            exitStatus = reapIfExited()
            if exitStatus == nil && r < 0 { exitStatus = 0 }   // not our child any more (ECHILD): nothing to wait for
        }
        let status = exitStatus!
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : -(status & 0x7f)
        closeStdin()
        if !owner.isDestroyed { callback(user.value, DS_PROCESS_EXIT, ds_str(ptr: nil, len: 0), code) }
        _ = Self.table.take(id)
        _ = Self.byOwner.withLock { $0[owner.index]?.remove(id) }
    }

    /// Kills (SIGKILL) every child of `owner` still running: called once its destroy() returned.
    static func killAll(owner: InstanceHandle) {
        let ids = byOwner.withLock { $0.removeValue(forKey: owner.index) ?? [] }
        for id in ids { _ = table.get(id)?.sendSignal(SIGKILL) }
    }
}

/// glibc's posix_spawn extensions, found at run time (older C libraries lack them).
enum SpawnExtras {
    typealias AddClosefrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    static let addClosefrom: AddClosefrom? = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np").map { unsafeBitCast($0, to: AddClosefrom.self) }
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    static let pipe2: Pipe2? = dlsym(dlopen(nil, RTLD_NOW), "pipe2").map { unsafeBitCast($0, to: Pipe2.self) }

    /// A pipe whose both ends are O_CLOEXEC: atomically with pipe2, else pipe + fcntl.
    static func cloexecPipe(_ fds: inout [Int32]) -> Bool {
        if let pipe2 { return fds.withUnsafeMutableBufferPointer { pipe2($0.baseAddress!, O_CLOEXEC) } == 0 }
        guard fds.withUnsafeMutableBufferPointer({ pipe($0.baseAddress!) }) == 0 else { return false }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return true
    }

    static let addChdir: AddChdir? = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addchdir_np").map { unsafeBitCast($0, to: AddChdir.self) }
}
