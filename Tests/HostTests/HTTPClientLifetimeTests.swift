import Foundation
import PluginAPI
import Testing
@testable import Host
import TestPeers

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

    /// A client that ends frees what curl holds: the multi handle's wake-up socket pair and
    /// its cached keep-alive connections, whether it was shut down or only dropped. Before the
    /// fix nothing freed them: a CI run's test process held over 1,350 descriptors (mostly
    /// those pairs, and connections in CLOSE_WAIT), enough for Foundation's `Process.run`
    /// (which copies each /proc/self/fd entry's full name buffer) to read past the end of the
    /// listing and die of SIGSEGV. A gateway that reloads made one such client each time.
    @Test func anEndedClientLeavesNoDescriptorOpen() async throws {
        let g = Gateway(config: try TestSupport.config(TestSupport.yaml(plugins: HTTPServerTests.plugins, agents: HTTPServerTests.agents)),
                        logger: TestSupport.logger)
        let port = try await g.start()
        func descriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1 }
        func useAndEnd(shutDown: Bool) async throws {
            let c = HTTPClient()
            for _ in 0..<2 {   // the second request reuses the cached connection
                let r = try await c.send(method: "GET", url: "http://127.0.0.1:\(port)/livez")
                #expect(r.status == 200)
            }
            if shutDown { c.shutdown() }
        }
        try await useAndEnd(shutDown: true)   // curl's first use opens what it keeps for the process
        let before = descriptors()
        for i in 0..<40 { try await useAndEnd(shutDown: i % 2 == 0) }
        // Each ended client's thread frees its handle on its loop's last turn.
        let settled = await TestPeers.eventually(10) { descriptors() <= before + 4 }
        #expect(settled, "descriptors: \(before) before 40 clients, \(descriptors()) after")
        await g.stop()
    }
}
