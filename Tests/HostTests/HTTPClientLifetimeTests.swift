import Foundation
import PluginAPI
import Testing
@testable import Host

/// The host HTTP client's curl thread and the client's lifetime. A gateway whose start
/// fails shuts its runtime down and drops it at once; the client's thread, started in
/// `init`, may first run only after that. It read the client through an `unowned`
/// reference and the process died with "Attempted to read an unowned reference but object
/// ... was already destroyed" (PluginLoaderTests, about one run in six; CI failed on it).
@Suite struct HTTPClientLifetimeTests {
    /// Clients shut down and dropped at once, many times: none of their threads may find
    /// the client gone. Before the fix this aborted the test process in the first rounds.
    @Test func aClientDroppedRightAfterShutdownOutlivesItsThreadsStart() async throws {
        for _ in 0..<300 {
            let c = HTTPClient()
            c.shutdown()
        }
        // Let every thread run its loop's first (and last) turn.
        try await Task.sleep(nanoseconds: 300_000_000)
        // A client still works afterwards, and one shut down refuses new requests.
        let c = HTTPClient()
        c.shutdown()
        let refused = c.request(method: "GET", url: "http://127.0.0.1:9/", headers: [], body: [], timeoutMs: 100) { _ in }
        #expect(refused?.status == DS_ERR_UNAVAILABLE)
    }

    /// The same through the gateway: starts that fail (a plugin for another ABI) many times
    /// in a row, each dropping its runtime.
    @Test func failedStartsDropTheirRuntimeSafely() async throws {
        for _ in 0..<20 {
            let g = Gateway(config: try TestSupport.config(TestSupport.yaml(plugins: "  - id: future\n    library: \(TestSupport.library("fixture-abi2"))\n")),
                            logger: TestSupport.logger)
            await #expect(throws: StartupErrors.self) { try await g.start() }
        }
        try await Task.sleep(nanoseconds: 300_000_000)
    }
}
