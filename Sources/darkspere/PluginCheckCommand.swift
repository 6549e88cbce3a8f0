import ArgumentParser
import Foundation
import Host
import Logging

/// Options shared by `plugin-check` and its hidden per-case subcommand.
struct PluginCheckArguments: ParsableArguments {
    @Argument(help: "The plugin library to check (a .so file).")
    var path: String

    @Option(help: "The `config` block to create instances with (JSON or YAML file). Default: the plugin's own example (its config_schema's examples[0], or the schema's examples/defaults).")
    var config: String?

    @Option(help: "For agent transports: the `agents[].config` block to open an agent with (JSON or YAML file). Default: from agent_config_schema like --config.")
    var agentConfig: String?

    @Option(help: "Threads issuing operations at once.")
    var threads = 4

    @Option(help: "Operations issued by each thread.")
    var opsPerThread = 8

    @Option(help: "An accepted operation not completed within this many ms is reported as never_completed.")
    var opTimeoutMs: UInt64 = 10_000

    @Option(help: "A cancelled operation completed more than this many ms after cancel() is reported as completed_after_cancel.")
    var cancelBoundMs: UInt64 = 2_000

    @Option(help: "A callback (HTTP, timer, submit, route handler, cancel) running longer than this many ms is reported as blocking_callback.")
    var callbackBoundMs: UInt64 = 1_000

    @Option(help: ArgumentHelp("Each case runs in its own process: one still running after this many seconds is killed and reported as hang. Must be longer than --op-timeout-ms.",
                               valueName: "seconds"))
    var caseTimeout: Double = 120

    func options(readFiles: Bool = true) throws -> PluginCheckOptions {
        var o = PluginCheckOptions(path: path)
        guard caseTimeout.isFinite, caseTimeout > 0, caseTimeout <= 86_400 else {
            throw ValidationError("--case-timeout must be a number of seconds above 0 (at most 86400), got \(caseTimeout)")
        }
        o.caseTimeoutMs = UInt64((caseTimeout * 1000).rounded())
        guard o.caseTimeoutMs > opTimeoutMs else {
            throw ValidationError("--case-timeout (\(o.caseTimeoutMs) ms) must be longer than --op-timeout-ms (\(opTimeoutMs) ms): a case waits that long for its operations")
        }
        do {
            o.configJSON = try config.map { try PluginCheckConfigFile.read($0) }
            o.agentConfigJSON = try agentConfig.map { try PluginCheckConfigFile.read($0) }
        } catch {
            throw ValidationError("\(error)")
        }
        o.threads = threads; o.opsPerThread = opsPerThread; o.opTimeoutMs = opTimeoutMs
        o.cancelBoundMs = cancelBoundMs; o.callbackBoundMs = callbackBoundMs
        return o
    }
}

struct PluginCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin-check",
        abstract: "Check a plugin library against the ABI contract (a conformance validator for plugin authors).",
        discussion: """
        Loads the library as the host would; checks its descriptor and every interface table; creates
        instances with the plugin's example config and with invalid ones; runs operations from several
        threads, cancelling some; and reports every contract break by name (completed_twice,
        never_completed, completed_after_cancel, status_outside_table, struct_size_too_small,
        blocking_callback, crash, hang, exited, ...). Each case runs in its own process, so a crash
        (signal), a hang (still running after --case-timeout seconds: killed) or a plugin calling
        exit() is reported as that case's failure, not fatal to the check.
        HTTP requests the plugin makes are answered 503 by the checker: nothing reaches the network.
        Exit status: 0 every case passed (or was skipped), 1 a contract break, 2 the check could not run.

        Examples:
          darkspere plugin-check .build/debug/libds-c-echo-agent.so
          darkspere plugin-check libds-mine.so --config mine.yaml --agent-config agent.json
          darkspere plugin-check libds-mine.so --op-timeout-ms 2000 --case-timeout 10
        """)

    @OptionGroup var arguments: PluginCheckArguments

    @Flag(help: "Print each case's steps and the plugin's log lines.")
    var verbose = false

    func run() throws {
        var o = try arguments.options()
        o.verbose = verbose
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let code = PluginCheck.run(o, executable: exe)
        if code != 0 { throw ExitCode(code) }
    }
}

/// One case of `plugin-check`, in its own process. Not for direct use.
struct PluginCheckCaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plugin-check-case", abstract: "(internal) one case of plugin-check.",
                                                    shouldDisplay: false)

    @Argument var name: String
    @OptionGroup var arguments: PluginCheckArguments
    @Option var interface: String?

    func run() throws {
        // stdout carries the case's result lines: the plugin's log lines go to stderr.
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let code = PluginCheck.runCase(name, interface: interface, try arguments.options())
        if code != 0 { throw ExitCode(code) }
    }
}
