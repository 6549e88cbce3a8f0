import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Files that hold message bodies — the SQLite database with its WAL and shared-memory
/// files, the event spools — are private to the gateway's user: mode 0600, in directories
/// the gateway creates with mode 0700, whatever the umask (SQLite gives the WAL and
/// shared-memory files the database file's mode).
///
/// Never opens an existing file: closing any descriptor of a file drops every POSIX lock
/// the process holds on it (SQLite's connections rely on theirs). Thread-safe.
enum PrivateFiles {
    /// Creates the missing folders of `dir` with mode 0700; existing ones are left alone.
    static func makeDirectory(_ dir: String) throws {
        guard !dir.isEmpty else { return }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) { return }
        try makeDirectory((dir as NSString).deletingLastPathComponent)
        if mkdir(dir, 0o700) != 0 && errno != EEXIST {
            throw StoreError("cannot create the folder \(dir): \(String(cString: strerror(errno)))")
        }
        _ = chmod(dir, 0o700)
    }

    /// Makes `path` exist, private: created empty with mode 0600 when missing (its folder
    /// with `makeDirectory`), tightened to 0600 when it exists with wider rights.
    static func prepare(_ path: String) throws {
        try makeDirectory((path as NSString).deletingLastPathComponent)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 {
            // A new file: no lock of this process can be on it yet, so closing is safe.
            _ = fchmod(fd, 0o600)
            close(fd)
        } else if errno == EEXIST {
            tighten(path)
        } else {
            throw StoreError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Removes group and other rights from `path` if it exists (by path: no descriptor).
    static func tighten(_ path: String) {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & 0o077 != 0 else { return }
        _ = chmod(path, st.st_mode & 0o700)
    }
}
