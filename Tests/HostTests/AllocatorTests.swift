import Foundation
import Testing

/// The gateway links jemalloc (Package.swift, `allocator`). Linking it is not enough: its
/// `malloc` serves the process only if the dynamic linker finds it before glibc's, for the
/// Swift runtime, libc itself and the libraries the plugins use. The sanitizer builds
/// (DARKSPERE_MALLOC=system, set by scripts/sanitize.sh) keep the sanitizer's allocator.
@Suite("Allocator")
struct AllocatorTests {
    static let systemMalloc = ProcessInfo.processInfo.environment["DARKSPERE_MALLOC"] == "system"

    /// `darkspere plugins` loads every plugin library next to it (dlopen), so the bindings
    /// cover the plugins and PluginKit as well as the host's own libraries.
    @Test("every library in the gateway, plugins included, binds malloc and free to jemalloc", .enabled(if: !systemMalloc))
    func gatewayRunsOnJemalloc() throws {
        let dir = TestSupport.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var env = ProcessInfo.processInfo.environment
        env["LD_DEBUG"] = "bindings"            // the dynamic linker's record of each symbol it binds
        env["LD_DEBUG_OUTPUT"] = dir + "/ld"    // written to ld.<pid>
        env["LD_BIND_NOW"] = "1"                // every symbol at start, not only the ones called
        let (status, out, err) = try TestSupport.run(TestEnv.buildDir + "/darkspere", ["plugins", "--config", dir + "/none.yaml"],
                                                     cwd: dir, env: env)
        #expect(status == 0, "darkspere plugins: \(err)")
        #expect(out.contains("libds-twilio.so"), "the plugins were not loaded: \(out)")
        let logs = try FileManager.default.contentsOfDirectory(atPath: dir)
        let text = try logs.map { try String(contentsOfFile: dir + "/" + $0, encoding: .utf8) }.joined()
        for symbol in ["malloc", "free"] {
            // "binding file /…/libswiftCore.so [0] to /…/libjemalloc.so.2 [0]: normal symbol `malloc' [GLIBC_2.2.5]"
            // (a library named in a line is the one binding: the other side is an allocator)
            let bindings = text.split(separator: "\n").filter { $0.contains("normal symbol `\(symbol)'") }
            for library in ["libswiftCore.so", "libsqlite3.so", "libPluginKit.so"] {
                #expect(bindings.contains { $0.contains(library) }, "no binding of \(symbol) from \(library)")
            }
            let elsewhere = bindings.filter { !$0.contains("libjemalloc.so") }.map(String.init)
            #expect(elsewhere.count == 0, "\(symbol) bound to another allocator, e.g. \(elsewhere.first ?? "")")
        }
    }
}
