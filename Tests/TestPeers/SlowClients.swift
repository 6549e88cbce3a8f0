import Foundation

/// Many slow or idle TCP connections to a port, held by a python3 process (slow_clients.py)
/// so that their descriptors are not in the test process (where they would count against
/// its limits and those of every child it spawns). `stop()` ends it with SIGKILL.
public final class SlowClients: @unchecked Sendable {
    let process = Process()
    /// How many connections were made.
    public let connected: Int

    /// - Parameter mode: "idle" (connect, send nothing) or "trickle" (a request head, one
    ///   byte every 200 ms, never finished).
    public init(port: Int, count: Int, mode: String) throws {
        let out = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", TestPeers.repoRoot + "/Tests/TestPeers/slow_clients.py", String(port), String(count), mode]
        process.standardOutput = out
        try process.run()
        guard let n = Int(TestPeers.firstLine(out).replacingOccurrences(of: "ready ", with: "")) else {
            throw TestPeers.ProcessFailure(description: "slow_clients.py did not start")
        }
        connected = n
    }

    /// True while the process runs (it never exits by itself).
    public var isRunning: Bool { process.isRunning }

    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
