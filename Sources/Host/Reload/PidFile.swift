import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The pid file of a running gateway, so `darkspere reload` can signal it when there is no
/// admin listener: `data/darkspere-<port>.pid` next to the config file (the port of
/// `server.listen`, unique per process on a machine, so several gateways sharing a folder
/// and one PostgreSQL each have their own). Written by `darkspere run` once it is ready,
/// removed when it stops. Mode 0600.
public struct PidFile: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public init(config: GatewayConfig) {
        let dir = ((config.sourcePath as NSString).deletingLastPathComponent as NSString).appendingPathComponent("data")
        path = (dir as NSString).appendingPathComponent("darkspere-\(config.server.port).pid")
    }

    func write(logger: Logger) {
        let dir = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            FileManager.default.createFile(atPath: path, contents: Data("\(getpid())\n".utf8), attributes: [.posixPermissions: 0o600])
            logger.info("pid \(getpid()) in \(path) (darkspere reload / kill -HUP reloads the config)")
        } catch {
            logger.warning("cannot write the pid file \(path): \(error) (darkspere reload then needs --pid or the admin API)")
        }
    }

    func remove() {
        if read() == getpid() { try? FileManager.default.removeItem(atPath: path) }
    }

    /// The pid in the file, if it names a live process.
    public func read() -> Int32? {
        guard let data = FileManager.default.contents(atPath: path),
              let pid = Int32(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else { return nil }
        return kill(pid, 0) == 0 || errno == EPERM ? pid : nil
    }
}
