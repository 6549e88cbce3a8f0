import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// SIGHUP → reload, for `darkspere run`.
///
/// A plain `sigaction` handler writes one byte to a pipe (write is async-signal-safe); a
/// thread of its own reads the pipe and starts a reload per byte (reloads queue, one at a
/// time). Plugins may want SIGHUP too (the file sink reopens its file on it, through a
/// dispatch signal source, which installs libdispatch's handler): the handler found when
/// ours is installed is kept and called after ours, and `reassert` (after start-up and
/// after each reload, when new instances may have installed theirs) puts ours back in
/// front. The reader thread unblocks SIGHUP, so at least one thread always takes it.
/// One per process.
/// Unchecked Sendable: immutable (`thread`); the static state is written only by `install` before
/// the reader thread starts and by the signal handler, which only writes to the pipe.
final class ReloadSignal: @unchecked Sendable {
    // Written by `init` and `reassert` (the one instance, from the gateway, one call at a
    // time) before the handler can run with them; the async-signal handler only reads them
    // (it may take no lock).
    nonisolated(unsafe) private static var writeFD: Int32 = -1
    /// The handler we chain to, in memory of its own: as a `static var` of type `sigaction`,
    /// the compiler emitted a 148-byte global while its copies write all 152 bytes of the
    /// struct (AddressSanitizer: global-buffer-overflow in `reassert`, every `darkspere run`).
    /// Allocated once, before the handler is installed; never freed (one per process).
    nonisolated(unsafe) private static let previous: UnsafeMutablePointer<sigaction> = {
        let p = UnsafeMutablePointer<sigaction>.allocate(capacity: 1)
        p.initialize(to: sigaction())
        return p
    }()
    nonisolated(unsafe) private static var installed = false
    private let thread: Thread

    init(onSignal: @escaping @Sendable () -> Void) {
        var fds: [Int32] = [-1, -1]
        _ = pipe(&fds)
        Self.writeFD = fds[1]
        let fd = fds[0]
        thread = Thread {
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGHUP)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            var byte: UInt8 = 0
            while true {
                let n = read(fd, &byte, 1)
                if n == 1 { onSignal(); continue }
                if n < 0 && errno == EINTR { continue }
                close(fd)
                return   // write end closed: stopped
            }
        }
        thread.name = "darkspere-sighup"
        thread.start()
        Self.reassert()
    }

    private static let handler: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = { sig, info, ctx in
        var b: UInt8 = 1
        _ = write(ReloadSignal.writeFD, &b, 1)
        // Then whoever else wanted SIGHUP before us.
        let p = ReloadSignal.previous.pointee
        if p.sa_flags & SA_SIGINFO != 0 {
            p.__sigaction_handler.sa_sigaction?(sig, info, ctx)
        } else if let h = p.__sigaction_handler.sa_handler {
            let raw = unsafeBitCast(h, to: Int.self)
            if raw != 0 && raw != 1 { h(sig) }   // not SIG_DFL (0) or SIG_IGN (1)
        }
    }

    /// Installs our handler in front again if something replaced it (keeping that one to chain to).
    static func reassert() {
        var current = sigaction()
        sigaction(SIGHUP, nil, &current)
        if installed, current.sa_flags & SA_SIGINFO != 0,
           let h = current.__sigaction_handler.sa_sigaction, unsafeBitCast(h, to: Int.self) == unsafeBitCast(handler, to: Int.self) {
            return
        }
        var ours = sigaction()
        ours.__sigaction_handler.sa_sigaction = handler
        sigemptyset(&ours.sa_mask)
        ours.sa_flags = SA_RESTART | SA_SIGINFO
        sigaction(SIGHUP, &ours, previous)
        installed = true
    }

    func stop() {
        sigaction(SIGHUP, Self.previous, nil)
        Self.installed = false
        let w = Self.writeFD
        Self.writeFD = -1
        if w >= 0 { close(w) }
    }
}
