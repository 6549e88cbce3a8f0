import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One gateway process's claim on a SQLite store: an exclusive `flock` on `PATH-gateway.lock`
/// next to the database, from the store's opening to its `close` (the kernel drops it if the
/// process dies). The file holds the owner's pid, for the error a second process gets.
///
/// SQLite serves one gateway process per file: the conversation lock and the history cache
/// are in-process, so a second gateway on the same file would split conversations and give
/// agents stale histories. Commands that only read or maintain the store (`darkspere usage`,
/// backups) do not take it.
///
/// A separate file, not the database: closing any descriptor of the database would drop
/// SQLite's POSIX locks (see `PrivateFiles`). Opened close-on-exec, so no child process
/// (a stdio agent) keeps the claim alive after the gateway.
///
/// Threading: `release` from any thread; the second call does nothing.
final class SQLiteOwnerLock: Sendable {
    let path: String
    private let fd: Atomic<Int32>

    init(databasePath: String) throws {
        path = databasePath + "-gateway.lock"
        try PrivateFiles.makeDirectory((path as NSString).deletingLastPathComponent)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            var buf = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buf, 31, 0)
            let owner = n > 0 ? String(decoding: buf[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "unknown"
            close(fd)
            if e == EWOULDBLOCK {
                throw StoreError("another gateway process (pid \(owner)) serves this SQLite file; SQLite serves one gateway process per file: stop that one first, or use PostgreSQL to run several")
            }
            throw StoreError("cannot lock \(path): \(String(cString: strerror(e)))")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        self.fd = Atomic(fd)
    }

    func release() {
        let fd = self.fd.exchange(-1, ordering: .acquiringAndReleasing)
        if fd >= 0 { close(fd) }
    }

    deinit { release() }
}
