import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension TestPeers {
    /// fake_stripe.py on a loopback port; stop() ends it.
    public final class FakeStripe: @unchecked Sendable {
        let server: PythonServer
        public var port: Int { server.port }
        public init() throws {
            server = try PythonServer(script: TestPeers.repoRoot + "/Tests/StripeTests/fake_stripe.py")
        }
        public var base: String { "http://127.0.0.1:\(port)" }

        /// Every meter-event request received, oldest first.
        public func requests() async throws -> [[String: Any]] {
            let (data, _) = try await URLSession.shared.data(from: URL(string: "\(base)/requests")!)
            return try JSONSerialization.jsonObject(with: data) as! [[String: Any]]
        }

        /// The next answers to meter events: (HTTP status, Retry-After seconds or nil).
        public func script(_ answers: [(Int, Int?)]) async throws {
            var req = URLRequest(url: URL(string: "\(base)/script")!)
            req.httpMethod = "POST"
            req.httpBody = try JSONSerialization.data(withJSONObject: answers.map { [$0.0, $0.1 as Any? ?? NSNull()] })
            _ = try await URLSession.shared.data(for: req)
        }

        /// Waits until at least `count` requests arrived (or `timeout` seconds passed).
        public func waitFor(_ count: Int, timeout: Double = 15) async throws -> [[String: Any]] {
            let deadline = Date().addingTimeInterval(timeout)
            while true {
                let r = try await requests()
                if r.count >= count || Date() > deadline { return r }
                try await Task.sleep(nanoseconds: 50_000_000)
            }
        }

        /// What Stripe would have counted: per customer and event name, the sum of the
        /// values of accepted meter events, each identifier once (Stripe's deduplication).
        public func totals() async throws -> [String: [String: Int]] {
            let (data, _) = try await URLSession.shared.data(from: URL(string: "\(base)/totals")!)
            return try JSONSerialization.jsonObject(with: data) as! [String: [String: Int]]
        }

        /// Makes every later meter-event answer wait `ms` after the event is recorded.
        public func delay(ms: Int) async throws {
            var req = URLRequest(url: URL(string: "\(base)/delay")!)
            req.httpMethod = "POST"
            req.httpBody = Data(String(ms).utf8)
            _ = try await URLSession.shared.data(for: req)
        }

        public func stop() { server.stop() }
    }
}
