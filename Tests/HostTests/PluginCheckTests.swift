import Foundation
import Testing
import TestPeers
@testable import Host

/// `darkspere plugin-check`, run as its own process the way an adapter author runs it:
/// every bundled and example plugin passes; each deliberately broken fixture fails for its
/// own reason, named in the report.
@Suite(.serialized) struct PluginCheckTests {
    /// Runs plugin-check on a library with config blocks written to files; returns (exit status, report).
    func check(_ library: String, config: String? = nil, agentConfig: String? = nil, extra: [String] = [],
               env: [String: String] = [:]) throws -> (Int32, String) {
        let dir = TestSupport.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var args = ["plugin-check", library] + extra
        if let config {
            try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
            args += ["--config", dir + "/config.json"]
        }
        if let agentConfig {
            try agentConfig.write(toFile: dir + "/agent.yaml", atomically: true, encoding: .utf8)
            args += ["--agent-config", dir + "/agent.yaml"]
        }
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        let (rc, out, err) = try TestSupport.run(TestSupport.darkspere, args, cwd: dir, env: environment)
        return (rc, out + err)
    }

    /// A bundled or example plugin and the config blocks it needs (nil: its own example).
    struct Bundled: CustomTestStringConvertible, Sendable {
        var product: String
        var config: String? = nil
        var agentConfig: String? = nil
        var testDescription: String { product }
    }

    static let bundled: [Bundled] = [
        Bundled(product: "ds-c-echo-agent"),
        Bundled(product: "ds-swift-echo-agent"),
        Bundled(product: "ds-file-sink", config: #"{"path":"events.jsonl"}"#),
        Bundled(product: "ds-postgres-sink", config: #"{"url":"postgres://plugin-check@127.0.0.1:1/none"}"#),
        Bundled(product: "ds-twilio", config: #"{"account_sid":"AC0123456789abcdef0123456789abcdef","auth_token":"plugin-check-token","from":"+15550001111","api_base":"http://127.0.0.1:9"}"#),
        Bundled(product: "ds-stripe", config: #"{"api_key":"sk_test_plugincheck","api_base":"http://127.0.0.1:9","max_attempts":1,"webhook_secret":"whsec_plugincheck"}"#),
        Bundled(product: "ds-telegram", config: #"{"bot_token":"123:plugin-check","mode":"polling","api_base":"http://127.0.0.1:9","state_dir":"telegram-state"}"#),
        Bundled(product: "ds-webchat", config: #"{"secret":"plugin-check-secret-0123456789abcdef"}"#),
        Bundled(product: "ds-http-agent", agentConfig: "url: http://127.0.0.1:9/chat\n"),
        Bundled(product: "ds-openai", agentConfig: "url: http://127.0.0.1:9/v1\nmodel: plugin-check\napi_key: sk-plugin-check\n"),
        Bundled(product: "ds-mcp", agentConfig: "command: \(TestSupport.buildDir)/darkspere-example-agent\n"),
    ]

    @Test(arguments: bundled)
    func bundledPluginPasses(_ p: Bundled) throws {
        let (rc, out) = try check(TestSupport.library(p.product), config: p.config, agentConfig: p.agentConfig)
        #expect(rc == 0, "\(out)")
        #expect(out.contains("PASSED"), "\(out)")
        #expect(!out.contains("SKIP  create"), "the create case must run: \(out)")
    }

    /// Each mode of the check-breaker fixture breaks one rule; plugin-check names it:
    /// (mode, finding, the case that reports it).
    static let brokenModes: [(String, String, String)] = [
        ("twice", "completed_twice", "ops ds.agent-transport/1"),
        ("never", "never_completed", "ops ds.agent-transport/1"),
        ("ignore-cancel", "completed_after_cancel", "cancel ds.agent-transport/1"),
        ("bad-status", "status_outside_table", "ops ds.agent-transport/1"),
        ("small-table", "struct_size_too_small", "load"),
        ("small-descriptor", "struct_size_too_small", "load"),
        ("blocking-callback", "blocking_callback", "ops ds.agent-transport/1"),
        ("crash", "crash", "ops ds.agent-transport/1"),
        ("exit", "exited", "ops ds.agent-transport/1"),
        ("abi-version", "abi_version", "load"),
        ("bad-id", "descriptor", "load"),
        ("missing-probe", "missing_function", "load"),
        ("any-interface", "get_interface", "load"),
        ("bad-schema", "schema", "load"),
        ("refuse-config", "example_config_refused", "create ds.agent-transport/1"),
        ("refuse-config", "refused_without_reason", "create ds.agent-transport/1"),
        ("respond", "wrong_function", "ops ds.agent-transport/1"),
        ("unknown-op", "unknown_op", "ops ds.agent-transport/1"),
        ("timer", "timer_after_destroy", "create ds.agent-transport/1"),
        ("after-destroy", "service_after_destroy", "create ds.agent-transport/1"),
        ("bad-handle", "invalid_handle", "ops ds.agent-transport/1"),
        ("bad-url", "invalid_argument", "ops ds.agent-transport/1"),
    ]

    @Test(arguments: brokenModes)
    func brokenFixtureFailsForItsReason(_ mode: String, _ kind: String, _ inCase: String) throws {
        let (rc, out) = try check(TestSupport.library("fixture-check-breaker"),
                                  extra: ["--op-timeout-ms", "4000", "--threads", "2", "--ops-per-thread", "4"],
                                  env: ["DS_CHECK_BREAKER": mode])
        #expect(rc == 1, "\(out)")
        #expect(out.contains("FAIL  \(inCase)"), "\(out)")
        #expect(out.contains("      \(kind): "), "\(out)")
        #expect(out.contains("FAILED"), "\(out)")
        // The checker itself never crashes on a broken plugin (e.g. never calls a NULL member).
        #expect(kind == "crash" || !out.contains("crash: "), "\(out)")
    }

    /// Every failure plugin-check names has a fixture (a check-breaker mode above, or the
    /// contract-breaker fixture) that makes it report that name.
    @Test func everyFailureKindHasABrokenFixture() {
        // The modes above; hang (its own test, with a short --case-timeout); load (not a
        // plugin); completed_and_refused and completed_after_destroy (the contract-breaker fixture).
        let covered = Set(Self.brokenModes.map(\.1)).union(["hang", "load", "completed_and_refused", "completed_after_destroy"])
        let missing = Set(CheckFinding.Kind.allCases.map(\.rawValue)).subtracting(covered)
        #expect(missing.isEmpty, "no broken fixture reports: \(missing.sorted())")
    }

    @Test func theControlModePasses() throws {
        let (rc, out) = try check(TestSupport.library("fixture-check-breaker"), env: ["DS_CHECK_BREAKER": "ok"])
        #expect(rc == 0, "\(out)")
        #expect(out.contains("PASS  cancel ds.agent-transport/1"), "\(out)")
    }

    @Test func crashNamesTheSignalAndTheStep() throws {
        let (_, out) = try check(TestSupport.library("fixture-check-breaker"), env: ["DS_CHECK_BREAKER": "crash"])
        #expect(out.contains("signal 11"), "\(out)")
        #expect(out.contains("operations (call, probe) from"), "\(out)")
    }

    /// A plugin that calls exit() is named with the status and the step, and its last log line is shown.
    @Test func exitNamesTheStatusAndTheStep() throws {
        let (rc, out) = try check(TestSupport.library("fixture-check-breaker"), env: ["DS_CHECK_BREAKER": "exit"])
        #expect(rc == 1, "\(out)")
        #expect(out.contains("exited: the process ended with status 3 during: "), "\(out)")
        #expect(out.contains("operations (call, probe) from"), "\(out)")
        #expect(out.contains("a plugin must never exit the host"), "\(out)")
        #expect(out.contains("| check-breaker: giving up, exit(3)"), "\(out)")
        #expect(out.contains("PASS  create ds.agent-transport/1"), "only the cases that call call() fail: \(out)")
    }

    /// A call that never returns: each case that makes it is killed after --case-timeout
    /// (2 s here, so the whole check takes seconds, not the default 120 s per case).
    @Test func hangIsKilledAfterTheCaseTimeout() throws {
        // Under ThreadSanitizer (and a loaded machine) the cases that pass need more than 2 s.
        let limit = TestPeers.sanitizer == nil ? 2 : 20
        let started = Date()
        let (rc, out) = try check(TestSupport.library("fixture-check-breaker"),
                                  extra: ["--case-timeout", "\(limit)", "--op-timeout-ms", "500"], env: ["DS_CHECK_BREAKER": "hang"])
        let took = Date().timeIntervalSince(started)
        #expect(rc == 1, "\(out)")
        #expect(out.contains("FAIL  ops ds.agent-transport/1"), "\(out)")
        #expect(out.contains("FAIL  cancel ds.agent-transport/1"), "\(out)")
        #expect(out.contains("hang: the case did not finish within \(limit) s (--case-timeout) and was killed: a call into the plugin did not return"), "\(out)")
        #expect(out.contains("      last step: 32 operations (call, probe) from 4 thread(s)"), "the step it hung in: \(out)")
        #expect(out.contains("PASS  create ds.agent-transport/1"), "\(out)")
        #expect(out.contains("FAILED: 2 of 4 cases broke the contract (hang)"), "\(out)")
        #expect(took < Double(15 * limit), "two hanging cases of \(limit) s each took \(took) s")
    }

    /// --case-timeout is documented in --help, and refused when it leaves no time for the operations.
    @Test func caseTimeoutIsDocumentedAndChecked() throws {
        let (_, help, _) = try TestSupport.run(TestSupport.darkspere, ["plugin-check", "--help"])
        #expect(help.contains("--case-timeout <seconds>"), "\(help)")
        #expect(help.contains("hang"), "\(help)")
        let lib = TestSupport.library("fixture-check-breaker")
        let (rc, out) = try check(lib, extra: ["--case-timeout", "5"])   // op timeout 10 s by default
        #expect(rc != 0 && rc != 1, "\(out)")
        #expect(out.contains("--case-timeout (5000 ms) must be longer than --op-timeout-ms (10000 ms)"), "\(out)")
        let (rc2, out2) = try check(lib, extra: ["--case-timeout", "0"])
        #expect(rc2 != 0 && rc2 != 1 && out2.contains("--case-timeout must be a number of seconds above 0"), "\(out2)")
    }

    /// The contract-breaker fixture of the host's own tests: refused-after-complete and
    /// completion after destroy (agent modes), and a route answered twice (channel).
    @Test func contractBreakerFixtureFails() throws {
        let lib = TestSupport.library("fixture-contract-breaker")
        let (rc1, refuse) = try check(lib, agentConfig: "mode: refuse-after\n")
        #expect(rc1 == 1)
        #expect(refuse.contains("completed_and_refused: "), "\(refuse)")
        #expect(refuse.contains("completed_twice: "), "probe() completes twice in every mode: \(refuse)")
        #expect(refuse.contains("FAIL  ops ds.channel/1") && refuse.contains("route POST /breaker/twice"), "\(refuse)")
        let (rc2, destroy) = try check(lib, agentConfig: "mode: after-destroy\n", extra: ["--op-timeout-ms", "1000"])
        #expect(rc2 == 1)
        #expect(destroy.contains("completed_after_destroy: "), "\(destroy)")
    }

    @Test func missingExampleConfigIsSkippedWithTheReason() throws {
        let (rc, out) = try check(TestSupport.library("ds-twilio"))
        #expect(rc == 0, "\(out)")
        #expect(out.contains("SKIP  create ds.channel/1: no example config: its config_schema gives no example"), "\(out)")
        #expect(out.contains("--config FILE"), "\(out)")
    }

    @Test func notAPluginIsALoadFailure() throws {
        let (rc, out) = try check(TestSupport.library("fixture-no-entry"))
        #expect(rc == 1)
        #expect(out.contains("FAIL  load") && out.contains("load: the library does not export darkspere_plugin_entry"), "\(out)")
        let (rc2, _) = try check("/nonexistent/libds-nothing.so")
        #expect(rc2 == 2)
    }
}
