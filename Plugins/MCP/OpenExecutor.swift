import Foundation

/// A task executor on one dedicated serial queue. `open` blocks its caller until the
/// handshake is over (the ABI allows open to block); running the handshake here
/// instead of on Swift's cooperative pool means it can never wait for a pool thread
/// that the blocked caller itself occupies (the host may call open from a task).
/// close() waits for its DELETE the same way. Thread-safe; shared by every agent.
final class OpenExecutor: TaskExecutor, Sendable {
    static let shared = OpenExecutor()
    private let queue = DispatchQueue(label: "darkspere.mcp.open")

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        queue.async { unowned.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
