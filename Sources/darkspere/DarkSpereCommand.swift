import ArgumentParser
import Foundation
import Host
import Logging

@main
struct DarkSpere: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "darkspere",
        abstract: "An SMS-to-agent gateway whose channels, agent transports, billing and log sinks are plugins.",
        discussion: """
        Examples:
          darkspere run                          serve with ./plugins.yaml
          darkspere run --config prod.yaml       serve with another config
          darkspere check                        list every problem in ./plugins.yaml (exit 1 if any)
          darkspere plugins                      list the plugin libraries found, with ids, kinds and ABI
          darkspere plugin-check libds-x.so      check a plugin library against the ABI contract (exit 1 on a break)
          darkspere sms --from +15551234567 "hi" post a signed test SMS to the running gateway, print the reply
          darkspere usage --account acme         this month's usage of an account against its tier's limits
          darkspere sessions list                sessions through the admin API (also: agents, optouts)
          darkspere send --to +15551234567 "hi"  start a conversation from our side (proactive message)
          darkspere reload                       apply an edited plugins.yaml to the running gateway (admin API, else SIGHUP)
          darkspere backup /var/backups/ds.sqlite a consistent copy of the SQLite store while it runs
          darkspere forget +15551234567          erase a number's messages and sessions (admin API)
        """,
        version: DarkSpereVersion.current,
        subcommands: [Run.self, Check.self, Plugins.self, PluginCheckCommand.self, PluginCheckCaseCommand.self, SMS.self, Usage.self, Agents.self, Sessions.self, OptOuts.self, Access.self, Users.self, Send.self, Reload.self, Forget.self, Backup.self],
        defaultSubcommand: nil
    )
}

struct ConfigOption: ParsableArguments {
    @Option(name: .shortAndLong, help: "The configuration file.")
    var config: String = "plugins.yaml"

    @Option(help: "Log level: trace, debug, info, warning, error.")
    var logLevel: String = ProcessInfo.processInfo.environment["DARKSPERE_LOG_LEVEL"] ?? "info"

    @Option(help: "Log format: text (one readable line per entry) or json (one JSON object per line, with correlation_id, plugin, agent and session fields).")
    var logFormat: String = ProcessInfo.processInfo.environment["DARKSPERE_LOG_FORMAT"] ?? "text"

    func load() throws -> GatewayConfig { try ConfigLoader().load(path: config) }

    var level: Logger.Level { Logger.Level(rawValue: logLevel) ?? .info }

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), not '\(logLevel)'")
        }
        guard LogFormat(rawValue: logFormat) != nil else {
            throw ValidationError("--log-format (or DARKSPERE_LOG_FORMAT) must be text or json, not '\(logFormat)'")
        }
    }

    /// Installs the log handler chosen by --log-format / DARKSPERE_LOG_FORMAT.
    func bootstrapLogging() { (LogFormat(rawValue: logFormat) ?? .text).bootstrap(level: level) }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start the gateway and serve until SIGTERM/SIGINT.",
                                                    discussion: "Example: darkspere run --config plugins.yaml")
    @OptionGroup var options: ConfigOption

    func run() async throws {
        options.bootstrapLogging()
        var logger = Logger(label: "darkspere")
        logger.logLevel = options.level
        let config: GatewayConfig
        do { config = try options.load() } catch {
            FileHandle.standardError.write(Data("darkspere: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let gateway = Gateway(config: config, logger: logger, runtime: HostRuntime(logLevel: options.level))
        do { try await gateway.runUntilSignalled() } catch {
            FileHandle.standardError.write(Data("darkspere: cannot start:\n\(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a configuration: YAML, keys, types, variables, plugins, their config schemas.",
        discussion: "Lists every problem and exits 1 if there is any; prints the effective config with secrets as *** otherwise.")
    @OptionGroup var options: ConfigOption

    func run() async throws {
        let report = ConfigCheck.run(path: options.config)
        print(report.text)
        if !report.ok { throw ExitCode(1) }
    }
}

struct Plugins: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the plugin libraries found: plugin id, version, kinds, ABI version, path.",
        discussion: "Searches plugin_path of the config if it exists (default: next to the executable, then /usr/local/lib/darkspere).")
    @OptionGroup var options: ConfigOption

    func run() async throws {
        print(PluginListing.table(configPath: options.config))
    }
}
