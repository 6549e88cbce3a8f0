import ArgumentParser
import Foundation
import Host

/// `darkspere backup PATH`: a consistent copy of the SQLite store while the gateway runs
/// (SQLite's online backup API); for PostgreSQL, how to use pg_dump.
struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the SQLite store to PATH while the gateway runs (consistent; private file).",
        discussion: """
        The copy is one snapshot of the database, taken through SQLite's backup API: the
        gateway keeps writing meanwhile. It is written next to PATH and renamed into place.
        For a PostgreSQL store this prints the pg_dump command to use instead.
        Example: darkspere backup /var/backups/darkspere-$(date +%F).sqlite
        """)
    @OptionGroup var options: ConfigOption
    @Argument(help: "Where the copy goes (an existing file is replaced).") var path: String

    func run() async throws {
        let config: GatewayConfig
        do { config = try options.load() } catch {
            FileHandle.standardError.write(Data("darkspere: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let configDir = (config.sourcePath as NSString).deletingLastPathComponent
        switch StoreBackup.plan(url: config.store.url, configDir: configDir) {
        case .sqlite(let source):
            do {
                let r = try StoreBackup.sqlite(from: source, to: path)
                print("backed up \(source) to \(path): \(r.pages) pages, \(r.bytes) bytes")
            } catch {
                FileHandle.standardError.write(Data("darkspere: backup failed: \(error)\n".utf8))
                throw ExitCode(1)
            }
        case .postgres(let advice), .unsupported(let advice):
            FileHandle.standardError.write(Data((advice + "\n").utf8))
            throw ExitCode(2)
        }
    }
}
