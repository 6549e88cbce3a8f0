import Foundation
import Testing
@testable import Host
import TestPeers

/// The gateway process under a low file-descriptor limit, flooded with idle connections:
/// it keeps answering, does not spin a core, and raises its soft limit to the hard limit.
@Suite(.serialized) struct ConnectionFloodTests {
    /// Runs `darkspere run` through `sh -c "ulimit ...; exec ..."`; returns the process and its port.
    func startGateway(ulimit: String) async throws -> (Process, Int) {
        let port = TestPeers.freePort()
        let dir = TestSupport.tempDir()
        let path = dir + "/plugins.yaml"
        try TestSupport.yaml(plugins: HTTPServerTests.plugins, agents: HTTPServerTests.agents)
            .replacingOccurrences(of: "listen: 127.0.0.1:0", with: "listen: 127.0.0.1:\(port)")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "\(ulimit) && exec \"$0\" run --config \"$1\" --log-level error", TestSupport.darkspere, path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        for _ in 0..<400 {
            if let r = try? await TestSupport.get(port, "/readyz"), r.status == 200 { return (p, port) }
            try await Task.sleep(nanoseconds: 25_000_000)
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        throw RawConnection.Failure(description: "the gateway did not turn ready")
    }

    /// User + system CPU seconds of a process.
    func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return 0 }
        let f = stat[stat.index(after: close)...].split(separator: " ")
        return Double((Int(f[11]) ?? 0) + (Int(f[12]) ?? 0)) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    @Test func idleFloodUnderALowFileLimitDoesNotTakeTheGatewayDown() async throws {
        let (p, port) = try await startGateway(ulimit: "ulimit -n 256")
        defer { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        // More idle connections than the process has descriptors (held by another process).
        let flood = try SlowClients(port: port, count: 400, mode: "idle")
        defer { flood.stop() }
        #expect(flood.connected == 400)
        try await Task.sleep(nanoseconds: 300_000_000)
        let cpu0 = cpuSeconds(p.processIdentifier)
        let t0 = Date()
        var answered = 0
        for _ in 0..<10 {
            let c = try RawConnection(port: port)
            try c.send("GET /livez HTTP/1.1\r\nHost: t\r\n\r\n")
            if await c.status(timeout: 2) == 200 { answered += 1 }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let cpu = (cpuSeconds(p.processIdentifier) - cpu0) / Date().timeIntervalSince(t0)
        #expect(answered == 10)
        #expect(cpu < 0.5, "the gateway used \(cpu) of a core while flooded")
    }

    @Test func softFileLimitIsRaisedToTheHardLimit() async throws {
        let (p, _) = try await startGateway(ulimit: "ulimit -Sn 256")
        defer { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        let limits = try String(contentsOfFile: "/proc/\(p.processIdentifier)/limits", encoding: .utf8)
        let line = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        let f = line.split(separator: " ", omittingEmptySubsequences: true)
        // "Max open files  SOFT  HARD  files"
        #expect(f.count >= 5 && f[3] == f[4] && f[3] != "256", "\(line)")
    }
}
