import ArgumentParser
import Foundation
import Host

struct Usage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show this period's usage of each account against its tier's limits.",
        discussion: """
        Reads the store named in the config (it may be in use by a running gateway).
        Example: darkspere usage --account acme
        """)
    @OptionGroup var options: ConfigOption

    @Option(help: "Only this account (its id in accounts:).")
    var account: String?

    @Option(help: "The month, YYYY-MM (default: the current month, UTC).")
    var period: String?

    func run() async throws {
        do {
            let config = try options.load()
            if let period, period.range(of: #"^\d{4}-\d{2}$"#, options: .regularExpression) == nil {
                throw ValidationError("--period: expected YYYY-MM, got '\(period)'")
            }
            let store = try openStore(url: config.store.url, configDir: (config.sourcePath as NSString).deletingLastPathComponent, lockConnections: 1)
            defer { store.close() }
            print(try UsageSummary.text(config: config, store: store, accountId: account,
                                        period: period ?? UsagePeriod.month(Int64(Date().timeIntervalSince1970 * 1000))), terminator: "")
        } catch let e as ValidationError {
            throw e
        } catch {
            FileHandle.standardError.write(Data("darkspere usage: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
