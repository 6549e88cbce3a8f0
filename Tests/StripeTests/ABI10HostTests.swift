import Foundation
import Testing
import TestPeers

/// The stripe plugin (built against ABI 1.2) on a host frozen at ABI 1.0: a small C
/// host (abi10_host.c) whose ds_host ends before account_update. The plugin must load,
/// verify webhooks and record usage, and must not call the missing service: a
/// subscription/invoice webhook answers 500 (Stripe retries later) instead of crashing.
@Suite struct ABI10HostTests {
    @Test func stripePluginOnAnABI10Host() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("abi10-host-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let include = StripeSupport.repoRoot.appendingPathComponent("Sources/PluginAPI/include").path
        let src = StripeSupport.testsDir.appendingPathComponent("abi10_host.c").path
        let exe = dir + "/abi10_host"
        // Under a sanitizer the plugin is instrumented: the host needs the same runtime
        // (TestPeers.cCompiler, scripts/sanitize.sh).
        let cc = TestPeers.cCompiler
        let (rc, _, err) = try run(cc[0], Array(cc.dropFirst()) + ["-std=c99", "-D_DEFAULT_SOURCE", "-Wall", "-Wextra", "-Werror", "-I", include, src, "-o", exe, "-ldl", "-lcrypto"])
        try #require(rc == 0, "\(cc.joined(separator: " ")): \(err)")
        let (code, out, log) = try run(exe, [StripeSupport.buildDir + "/libds-stripe.so", "whsec_abi10"])
        #expect(code == 0, "\(out)\n\(log)")
        let lines = Set(out.split(separator: "\n").map(String.init))
        #expect(lines.contains("plugin_abi=1.2"))
        #expect(lines.contains("create=0"), "\(out)\n\(log)")
        #expect(lines.contains("route=/stripe/webhook"))
        #expect(lines.contains("webhook=500"), "account_update is missing on 1.0: \(out)")
        #expect(lines.contains("webhook_bad_secret=400"))
        #expect(lines.contains("webhook_unknown_type=200"))
        #expect(lines.contains("record=1 completed=0"), "\(out)")
        #expect(log.contains("offers no account_update; it needs ABI 1.1"), "\(log)")
        #expect(!log.contains("sk_test_x"), "the API key is never logged")
    }

    func run(_ exe: String, _ args: [String]) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}
