import Foundation
import Host
#if canImport(Glibc)
import Glibc
#endif

/// A direct HTTP POST through the host's libcurl client (the baseline: the agent
/// without the gateway's plugin, ABI and JSON mapping in between).
func directPost(_ client: HTTPClient, _ url: String, _ body: [UInt8], headers: [(String, String)] = []) async -> ClientResponse? {
    await withCheckedContinuation { (c: CheckedContinuation<ClientResponse?, Never>) in
        let err = client.request(method: "POST", url: url, headers: [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")] + headers,
                                 body: body, timeoutMs: 10_000) { r in
            switch r {
            case .success(let resp): c.resume(returning: resp)
            case .failure: c.resume(returning: nil)
            }
        }
        if err != nil { c.resume(returning: nil) }
    }
}

/// A bare JSON-RPC client over a child's stdin/stdout (the MCP stdio baseline):
/// one writer lock, one reader thread resolving continuations by id.
/// Unchecked Sendable: `pending` and `nextId` only under `lock`; the pipes and process are
/// thread-safe.
final class DirectStdio: @unchecked Sendable {
    let process = Process()
    let input = Pipe(), output = Pipe()
    let lock = NSLock()
    var pending: [Int: CheckedContinuation<Bool, Never>] = [:]
    var nextId = 0

    init(executable: String) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let fd = output.fileHandleForReading.fileDescriptor
        Thread.detachNewThread { [self] in
            var buf = [UInt8](repeating: 0, count: 65_536), line: [UInt8] = []
            while true {
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                for b in buf[0..<n] {
                    if b != 10 { line.append(b); continue }
                    if let o = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let id = o["id"] as? Int {
                        let c = lock.withLock { pending.removeValue(forKey: id) }
                        c?.resume(returning: o["result"] != nil)
                    }
                    line.removeAll(keepingCapacity: true)
                }
            }
        }
    }

    func send(_ method: String, _ params: [String: Any]) async -> Bool {
        await withCheckedContinuation { c in
            let id: Int = lock.withLock { nextId += 1; pending[nextId] = c; return nextId }
            var data = try! JSONSerialization.data(withJSONObject: ["jsonrpc": "2.0", "id": id, "method": method, "params": params])
            data.append(10)
            lock.withLock { input.fileHandleForWriting.write(data) }
        }
    }

    func stop() { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
}
