import Foundation
import Testing
@testable import Host

/// scripts/install.sh into a temporary prefix (--no-system): the layout, the modes, a config
/// kept on a second install, the systemd unit accepted by `systemd-analyze verify`, and the
/// installed gateway run from there answering `darkspere sms` (the installed CLI).
@Suite(.serialized) struct InstallTests {
    static let script = TestEnv.repoRoot + "/scripts/install.sh"

    struct Layout {
        let root: String
        var prefix: String { root + "/usr" }
        var etc: String { root + "/etc" }
        var state: String { root + "/var/lib" }
        var units: String { root + "/units" }
        var args: String {
            "--prefix \(prefix) --sysconfdir \(etc) --statedir \(state) --unitdir \(units) --build-dir \(TestEnv.buildDir) --no-system"
        }
    }

    static func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? NSNumber)?.intValue ?? -1
    }

    @Test func installIntoATemporaryPrefixAndRunFromThere() async throws {
        let l = Layout(root: TestEnv.tempDir("install"))
        let (rc, out) = sh("bash \(Self.script) \(l.args)")
        try #require(rc == 0, "install.sh: \(out)")
        let fm = FileManager.default
        #expect(fm.isExecutableFile(atPath: l.prefix + "/bin/darkspere"))
        #expect(fm.isExecutableFile(atPath: l.prefix + "/bin/darkspere-example-agent"))
        #expect(fm.fileExists(atPath: l.prefix + "/bin/DarkSpere_Host.resources/openapi.json"))
        let libs = try fm.contentsOfDirectory(atPath: l.prefix + "/lib/darkspere").sorted()
        for lib in ["libds-twilio.so", "libds-mcp.so", "libds-file-sink.so", "libds-stripe.so", "libPluginKit.so"] {
            #expect(libs.contains(lib), "\(lib) not in \(libs)")
        }
        #expect(libs.filter { $0.contains("PluginKit") } == ["libPluginKit.so"])
        #expect(!libs.contains { $0.contains("fixture") || $0.contains("bench") || $0.contains(".tmp") }, "\(libs)")
        #expect(Self.mode(l.etc + "/darkspere/darkspere.env") == 0o640)
        #expect(Self.mode(l.state + "/darkspere") == 0o700)
        let unit = try String(contentsOfFile: l.units + "/darkspere.service", encoding: .utf8)
        for line in ["ExecStart=\(l.prefix)/bin/darkspere run --config \(l.etc)/darkspere/plugins.yaml", "NoNewPrivileges=yes",
                     "ProtectSystem=strict", "ReadWritePaths=\(l.state)/darkspere", "PrivateTmp=yes", "Restart=on-failure", "User=darkspere"] {
            #expect(unit.contains(line + "\n") || unit.contains(line + " "), "unit lacks \(line)")
        }
        #expect(unit.range(of: "@[A-Z]+@", options: .regularExpression) == nil, "an unfilled placeholder in the unit")
        let config = try String(contentsOfFile: l.etc + "/darkspere/plugins.yaml", encoding: .utf8)
        #expect(config.contains("plugin_path: [\(l.prefix)/lib/darkspere]"))
        #expect(config.contains("sqlite:\(l.state)/darkspere/darkspere.sqlite"))

        // systemd accepts the unit (offline; warnings about the missing user are not errors).
        let (vrc, vout) = sh("SYSTEMD_LOG_LEVEL=err systemd-analyze verify \(l.units)/darkspere.service")
        #expect(vrc == 0, "systemd-analyze verify: \(vout)")
        // And rates its sandboxing well (0 = fully locked down, 10 = none; a plain unit scores 9.6).
        let (secRC, secOut) = sh("systemd-analyze security --offline=yes \(l.units)/darkspere.service")
        let exposure = secOut.split(separator: "\n").first { $0.contains("Overall exposure level for darkspere.service:") }
            .flatMap { $0.split(separator: ":").last?.split(separator: " ").first }.flatMap { Double($0) }
        #expect(secRC == 0 && exposure != nil && exposure! <= 2.5, "systemd-analyze security: \(secOut.suffix(1500))")

        // A second install keeps an edited config and writes the new default beside it.
        try (config + "\n# edited by the operator\n").write(toFile: l.etc + "/darkspere/plugins.yaml", atomically: true, encoding: .utf8)
        let (rc2, out2) = sh("bash \(Self.script) \(l.args)")
        #expect(rc2 == 0, "\(out2)")
        #expect(out2.contains("kept \(l.etc)/darkspere/plugins.yaml"))
        #expect(try String(contentsOfFile: l.etc + "/darkspere/plugins.yaml", encoding: .utf8).contains("# edited by the operator"))
        #expect(fm.fileExists(atPath: l.etc + "/darkspere/plugins.yaml.new"))
        #expect(!fm.fileExists(atPath: l.etc + "/darkspere/darkspere.env.new"), "an unchanged env file gets no .new")

        // Run the installed gateway from its data folder, as the unit does, and text it.
        let port = TestEnv.freePort()
        var env = ProcessInfo.processInfo.environment
        env["DARKSPERE_LISTEN"] = "127.0.0.1:\(port)"
        env["DARKSPERE_PUBLIC_URL"] = "http://127.0.0.1:\(port)"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: l.prefix + "/bin/darkspere")
        p.arguments = ["run", "--config", l.etc + "/darkspere/plugins.yaml", "--log-level", "error"]
        p.currentDirectoryURL = URL(fileURLWithPath: l.state + "/darkspere")
        p.environment = env
        let log = l.root + "/gateway.log"
        _ = fm.createFile(atPath: log, contents: nil)
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = logHandle
        p.standardError = logHandle
        try p.run()
        defer { if p.isRunning { p.terminate(); p.waitUntilExit() } }
        var ready = false
        for _ in 0..<400 {
            if let r = try? await TestSupport.get(port, "/readyz"), r.status == 200 { ready = true; break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        try #require(ready, "the installed gateway did not get ready: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        let (src, sout, serr) = try await Gateway.offPool {
            try TestSupport.run(l.prefix + "/bin/darkspere", ["sms", "--config", l.etc + "/darkspere/plugins.yaml", "--from", "+15557001234", "reverse installed"],
                                env: env)
        }
        #expect(src == 0, "sms: \(serr)")
        #expect(sout.contains("dellatsni"), "reply: \(sout) \(serr)")
        #expect(Self.mode(l.state + "/darkspere/darkspere.sqlite") == 0o600)
        p.terminate()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }

    @Test func badOptionsAreRefused() {
        let (rc, out) = sh("bash \(Self.script) --prefix relative/path --no-system")
        #expect(rc == 2 && out.contains("is not an absolute path"), "\(out)")
        let (rc2, out2) = sh("bash \(Self.script) --bogus")
        #expect(rc2 == 2 && out2.contains("unknown option '--bogus'"), "\(out2)")
        let (rc3, out3) = sh("bash \(Self.script) --build-dir /nonexistent-ds --no-system --prefix /tmp/x")
        #expect(rc3 != 0, "\(out3)")
    }
}
