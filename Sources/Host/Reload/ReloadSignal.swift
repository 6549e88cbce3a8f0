import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// SIGHUP → reload, for `darkspere run`.
///
/// A plain `sigaction` handler writes one byte to a pipe (write is async-signal-safe); a
/// thread of its own reads the pipe and starts a reload per byte (reloads queue, one at a
/// time). Unlike a dispatch signal source this does not depend on which threads block the
/// signal (plugins and libraries create threads of their own at any time, a reload too):
/// the reader thread unblocks SIGHUP, so at least one thread always takes it.
/// One per process; `stop` restores the default disposition and ends the thread.
final class ReloadSignal: @unchecked Sendable {
    nonisolated(unsafe) private static var writeFD: Int32 = -1
    private let readFD: Int32
    private let thread: Thread

    init(onSignal: @escaping @Sendable () -> Void) {
        var fds: [Int32] = [-1, -1]
        _ = pipe(&fds)
        readFD = fds[0]
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
                return   // write end closed: stopped
            }
        }
        thread.name = "darkspere-sighup"
        thread.start()
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            var b: UInt8 = 1
            _ = write(ReloadSignal.writeFD, &b, 1)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGHUP, &action, nil)
    }

    func stop() {
        signal(SIGHUP, SIG_DFL)
        let w = Self.writeFD
        Self.writeFD = -1
        if w >= 0 { close(w) }
    }
}
