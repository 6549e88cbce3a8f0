import Foundation
import Testing

/// The ABI header compiles warning-free as C99 and C++ under -Wall -Wextra -pedantic -Werror,
/// and the C example builds by hand with the one command its README gives.
@Suite struct HeaderTests {
    static let include = TestSupport.root + "/Sources/PluginAPI/include"

    func compile(_ compiler: String, _ std: String, ext: String) throws -> (Int32, String) {
        let dir = TestSupport.tempDir()
        let src = "\(dir)/use.\(ext)"
        // Uses every inline helper and macro so they are compiled, not just parsed.
        try """
        #include "darkspere_plugin.h"
        int main(void) {
            ds_error e; ds_outcome o; ds_str s = ds_str_from_cstr("x");
            e.struct_size = sizeof e; o.struct_size = sizeof o; o.retry_after_ms = 0;
            ds_error_set(&e, "m");
            return (int)s.len + (DS_HAS_FIELD(ds_outcome, &o, retry_after_ms) ? 0 : 1) + (DS_STATUS_IS_RETRYABLE(DS_ERR_TIMEOUT) ? 0 : 1);
        }
        """.write(toFile: src, atomically: true, encoding: .utf8)
        let (rc, _, err) = try TestSupport.run(compiler, ["-std=\(std)", "-Wall", "-Wextra", "-pedantic", "-Werror", "-I", Self.include, src, "-o", "\(dir)/a.out"])
        return (rc, err)
    }

    @Test(arguments: [("/usr/bin/gcc", "c99", "c"), ("/usr/bin/g++", "c++11", "cpp"), ("/usr/bin/g++", "c++17", "cpp")])
    func headerCompilesCleanly(_ compiler: String, _ std: String, _ ext: String) throws {
        let (rc, err) = try compile(compiler, std, ext: ext)
        #expect(rc == 0, "\(compiler) -std=\(std): \(err)")
    }

    @Test func cExampleBuildsByHand() throws {
        let dir = TestSupport.tempDir()
        let (rc, _, err) = try TestSupport.run("/bin/sh", ["-c", "cc -std=c99 -Wall -Wextra -pedantic -Werror -shared -fPIC -O2 -I../../Sources/PluginAPI/include echo_agent.c -o \(dir)/libds-c-echo-agent.so"],
                                               cwd: TestSupport.root + "/Examples/c-echo-agent")
        #expect(rc == 0, "\(err)")
        let (_, syms, _) = try TestSupport.run("/usr/bin/nm", ["-D", "--defined-only", "\(dir)/libds-c-echo-agent.so"])
        #expect(syms.split(separator: "\n").filter { $0.hasSuffix(" T darkspere_plugin_entry") }.count == 1)
    }
}
