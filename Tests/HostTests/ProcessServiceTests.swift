import Foundation
import PluginAPI
import Testing
@testable import Host
#if canImport(Glibc)
import Glibc
#endif

/// The ABI 1.2 child-process service (`ds_host.process_spawn` & co.), called through the
/// real `ds_host` table as a C plugin calls it. (The MCP stdio transport runs on it too:
/// see MCPStdioTests.)
@Suite struct ProcessServiceTests {
    /// What one child did, collected from its C callback.
    final class Collector: @unchecked Sendable {
        let lock = NSLock()
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var exit: Int32?
        var events: [Int32] = []
        let done = DispatchSemaphore(value: 0)

        var out: String { lock.withLock { String(decoding: stdout, as: UTF8.self) } }
        var err: String { lock.withLock { String(decoding: stderr, as: UTF8.self) } }
        func waitExit(_ seconds: Double = 10) -> Int32? {
            guard done.wait(timeout: .now() + seconds) == .success else { return nil }
            return lock.withLock { exit }
        }
    }

    static let callback: ds_process_callback = { user, event, data, status in
        let c = Unmanaged<Collector>.fromOpaque(user!).takeUnretainedValue()
        c.lock.withLock {
            c.events.append(event)
            switch event {
            case DS_PROCESS_STDOUT: c.stdout += data.bytes
            case DS_PROCESS_STDERR: c.stderr += data.bytes
            default: c.exit = status
            }
        }
        if event == DS_PROCESS_EXIT { c.done.signal() }
    }

    let runtime = HostRuntime(logLevel: .error)
    var host: ds_host { runtime.table.pointee }

    /// Spawns through the table; returns (status, handle, error message).
    func spawn(_ h: InstanceHandle, _ argv: [String], env: [(String, String)] = [], cwd: String = "", flags: UInt32 = 0,
               _ c: Collector) -> (ds_status, OpaquePointer?, String) {
        let arena = CArena()
        let args = argv.map { arena.str($0) }
        var spec = ds_process_spec()
        spec.struct_size = UInt32(MemoryLayout<ds_process_spec>.size)
        spec.argc = args.count
        spec.env = arena.array(env.map { ds_kv(key: arena.str($0.0), value: arena.str($0.1)) })
        spec.env_count = env.count
        spec.cwd = arena.str(cwd)
        spec.flags = flags
        var out: OpaquePointer?
        var err = ds_error()
        err.struct_size = UInt32(MemoryLayout<ds_error>.size)
        let status = withExtendedLifetime(arena) {
            args.withUnsafeBufferPointer { a in
                spec.argv = a.baseAddress
                return host.process_spawn(h.pointer, &spec, Self.callback, Unmanaged.passUnretained(c).toOpaque(), &out, &err)
            }
        }
        return (status, out, errorText(&err))
    }

    func write(_ p: OpaquePointer?, _ text: String) -> ds_status {
        withDSStr(text) { host.process_write(p, $0) }
    }

    @Test func pipesAndExitStatus() throws {
        let h = runtime.makeHandle("proc-test")
        let c = Collector()
        let (status, p, _) = spawn(h, ["/bin/sh", "-c", "read x; echo \"got $x\"; echo oops >&2; exit 3"], c)
        try #require(status == DS_OK && p != nil)
        #expect(write(p, "hello\n") == DS_OK)
        host.process_close_stdin(p)
        #expect(c.waitExit() == 3)
        #expect(c.out == "got hello\n")
        #expect(c.err == "oops\n")
        #expect(c.lock.withLock { c.events.last } == DS_PROCESS_EXIT)
        #expect(c.lock.withLock { c.events.filter { $0 == DS_PROCESS_EXIT }.count } == 1)
        // The handle is stale after the exit callback: harmless.
        usleep(50_000)
        #expect(write(p, "more\n") == DS_ERR_NOT_FOUND)
        #expect(host.process_kill(p, SIGTERM) == DS_ERR_NOT_FOUND)
        host.process_close_stdin(p)
    }

    @Test func environmentCleanOrInheritedAndWorkingDirectory() throws {
        let h = runtime.makeHandle("proc-env")
        let clean = Collector()
        _ = spawn(h, ["/usr/bin/env"], env: [("DS_TEST_VAR", "v1")], flags: DS_PROCESS_CLEAN_ENV, clean)
        #expect(clean.waitExit() == 0)
        #expect(clean.out == "DS_TEST_VAR=v1\n")
        let inherited = Collector()
        _ = spawn(h, ["sh", "-c", "echo \"$DS_TEST_VAR:${PATH:+haspath}\"; pwd"], env: [("DS_TEST_VAR", "v2")], cwd: "/tmp", inherited)
        #expect(inherited.waitExit() == 0)
        #expect(inherited.out == "v2:haspath\n/tmp\n")
    }

    /// A descriptor the host opened without O_CLOEXEC never reaches the child: the child
    /// has 0, 1 and 2 and nothing else open (its glob's directory descriptor is closed
    /// again before the loop runs).
    @Test func noInheritedHostDescriptors() throws {
        let leaky = open("/dev/null", O_RDONLY)   // deliberately no O_CLOEXEC
        defer { close(leaky) }
        #expect(dup2(leaky, 57) == 57)            // and one at a high number, also without O_CLOEXEC
        defer { close(57) }
        let h = runtime.makeHandle("proc-fds")
        let c = Collector()
        _ = spawn(h, ["/bin/sh", "-c", "for f in /proc/$$/fd/*; do [ -e \"$f\" ] && echo ${f##*/}; done; echo end"], c)
        #expect(c.waitExit() == 0)
        #expect(c.out == "0\n1\n2\nend\n", "the child had: \(c.out)")
    }

    @Test func killAndSignalledExit() throws {
        let h = runtime.makeHandle("proc-kill")
        let c = Collector()
        let (status, p, _) = spawn(h, ["/bin/sleep", "30"], c)
        try #require(status == DS_OK)
        #expect(host.process_kill(p, SIGTERM) == DS_OK)
        #expect(c.waitExit() == -SIGTERM)
    }

    @Test func unknownProgramIsNotFoundWithAReason() {
        let h = runtime.makeHandle("proc-missing")
        let c = Collector()
        let (status, p, message) = spawn(h, ["no-such-program-for-darkspere"], c)
        #expect(status == DS_ERR_NOT_FOUND && p == nil)
        #expect(message.contains("'no-such-program-for-darkspere' not found"), "\(message)")
        let (s2, _, m2) = spawn(h, [], c)
        #expect(s2 == DS_ERR_INVALID && m2.contains("argv"))
    }

    /// A child the instance left running is killed once the instance is destroyed, and
    /// its callback is not called after that.
    @Test func destroyKillsWhatTheInstanceLeftRunning() throws {
        let h = runtime.makeHandle("proc-destroy")
        let c = Collector()
        let (status, _, _) = spawn(h, ["/bin/sh", "-c", "echo $$; exec sleep 30"], c)
        try #require(status == DS_OK)
        let until = Date().addingTimeInterval(5)
        while c.out.isEmpty && Date() < until { usleep(10_000) }
        let pid = try #require(Int32(c.out.trimmingCharacters(in: .whitespacesAndNewlines)))
        h.markDestroyed()
        var gone = false
        while !gone && Date() < until.addingTimeInterval(5) {
            gone = kill(pid, 0) != 0
            if !gone { usleep(10_000) }
        }
        #expect(gone, "the child \(pid) still runs after destroy")
        #expect(c.waitExit(0.5) == nil, "no callback after destroy")
    }
}
