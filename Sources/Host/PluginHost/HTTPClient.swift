import CCurl
import Foundation
import PluginAPI
import Synchronization

/// A response received by the host's HTTP client.
public struct ClientResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
}

/// The host's shared asynchronous HTTP client (libcurl multi interface: one connection
/// pool, HTTP/1.1 keep-alive, TLS through the system's OpenSSL).
///
/// Threading: one dedicated thread drives curl; `request` may be called from any thread;
/// completions run on that thread and must not block.
///
/// Lifetime: `shutdown` (or dropping the client) ends the thread's loop; transfers in
/// flight or queued then complete with an error, and the loop's last act frees the curl
/// multi handle with its connection cache and wake-up socket pair. The thread owns the
/// `Engine` that holds them, not the client: a client dropped without `shutdown` stops its
/// thread from `deinit`, and one dropped right after `shutdown` is never read by it.
public final class HTTPClient: Sendable {
    public typealias Completion = @Sendable (Result<ClientResponse, HTTPClientError>) -> Void

    public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
        /// DS_ERR_TIMEOUT, DS_ERR_UNAVAILABLE or DS_ERR_INVALID.
        public var status: Int32
        public var message: String
        public var description: String { message }
    }

    /// One request in flight. Its fields are touched only on the curl thread, except
    /// `cancelled` (any thread).
    /// Unchecked Sendable: its `var`s and `easy` are touched only on the curl thread (after
    /// `request` hands it over through the inbox's Mutex); `cancelled` is an atomic.
    final class Transfer: @unchecked Sendable {
        let easy: UnsafeMutableRawPointer
        /// Set by `cancel`; a transfer not yet handed to curl is finished as cancelled.
        let cancelled = Atomic<Bool>(false)
        var headerList: UnsafeMutablePointer<curl_slist>?
        var body: [UInt8] = []
        var responseHeaders: [(String, String)] = []
        let completion: Completion
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        init(easy: UnsafeMutableRawPointer, completion: @escaping Completion) { self.easy = easy; self.completion = completion }
    }

    private let engine: Engine

    public init(metrics: MetricsRegistry? = nil) {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        let requests = metrics?.counter("darkspere_http_client_requests_total", help: "Outgoing HTTP requests made through the host client")
        let failures = metrics?.counter("darkspere_http_client_failures_total", help: "Outgoing HTTP requests that got no response")
        engine = Engine(requests: requests, failures: failures)
        let e = engine
        let t = Thread { e.loop() }
        t.name = "darkspere-http-client"
        t.start()
    }

    deinit { engine.shutdown() }

    /// Ends the client: queued and in-flight transfers complete with an error, new ones are
    /// refused (DS_ERR_UNAVAILABLE). Any thread; idempotent.
    public func shutdown() { engine.shutdown() }

    /// Starts a request. Returns an error synchronously only for an unusable request.
    public func request(method: String, url: String, headers: [(String, String)], body: [UInt8], timeoutMs: UInt32,
                        completion: @escaping Completion) -> HTTPClientError? {
        if case .failure(let e) = start(method: method, url: url, headers: headers, body: body, timeoutMs: timeoutMs, completion: completion) { return e }
        return nil
    }

    /// Aborts a transfer started with `start` if it has not finished: its completion then
    /// gets DS_ERR_CANCELLED. A no-op for a finished transfer. Any thread.
    func cancel(_ t: Transfer) {
        guard !t.cancelled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        engine.post { $0.cancels.append(t) }
    }

    /// `request`, returning the transfer (for `cancel`).
    func start(method: String, url: String, headers: [(String, String)], body: [UInt8], timeoutMs: UInt32,
               completion: @escaping Completion) -> Result<Transfer, HTTPClientError> {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            return .failure(HTTPClientError(status: DS_ERR_INVALID, message: "only http:// and https:// URLs are supported"))
        }
        let shutDown = HTTPClientError(status: DS_ERR_UNAVAILABLE, message: "the HTTP client is shut down")
        guard engine.isRunning, let easy = curl_easy_init() else { return .failure(shutDown) }
        let t = Transfer(easy: easy, completion: completion)
        _ = url.withCString { ds_curl_setopt_ptr(easy, CURLOPT_URL, $0) }
        _ = ds_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        _ = ds_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(timeoutMs == 0 ? 30_000 : timeoutMs))
        _ = ds_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, 10_000)
        _ = ds_curl_setopt_long(easy, CURLOPT_TCP_NODELAY, 1)
        _ = t.errorBuffer.withUnsafeMutableBufferPointer { ds_curl_setopt_ptr(easy, CURLOPT_ERRORBUFFER, $0.baseAddress) }
        let m = method.uppercased()
        if m == "GET" {
            _ = ds_curl_setopt_long(easy, CURLOPT_HTTPGET, 1)
        } else if m == "HEAD" {
            _ = ds_curl_setopt_long(easy, CURLOPT_NOBODY, 1)
        } else {
            _ = m.withCString { ds_curl_setopt_ptr(easy, CURLOPT_CUSTOMREQUEST, $0) }
        }
        if !body.isEmpty || (m != "GET" && m != "HEAD") {
            _ = ds_curl_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
            _ = body.withUnsafeBytes { ds_curl_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)) }
        }
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for (k, v) in headers { list = curl_slist_append(list, "\(k): \(v)") }
        if !headers.contains(where: { $0.0.lowercased() == "expect" }) { list = curl_slist_append(list, "Expect:") }
        t.headerList = list
        _ = ds_curl_setopt_ptr(easy, CURLOPT_HTTPHEADER, UnsafeRawPointer(list))
        let user = Unmanaged.passUnretained(t).toOpaque()
        _ = ds_curl_setopt_write(easy, CURLOPT_WRITEFUNCTION, curlWrite)
        _ = ds_curl_setopt_ptr(easy, CURLOPT_WRITEDATA, user)
        _ = ds_curl_setopt_write(easy, CURLOPT_HEADERFUNCTION, curlHeader)
        _ = ds_curl_setopt_ptr(easy, CURLOPT_HEADERDATA, user)
        _ = ds_curl_setopt_ptr(easy, CURLOPT_PRIVATE, user)
        // The loop may have ended since the check above: then the transfer never reaches it.
        guard engine.post({ $0.pending.append(t) }) else {
            curl_slist_free_all(list)
            curl_easy_cleanup(easy)
            return .failure(shutDown)
        }
        engine.requests?.increment()
        return .success(t)
    }

    /// Async form of `request`.
    public func send(method: String, url: String, headers: [(String, String)] = [], body: [UInt8] = [], timeoutMs: UInt32 = 0) async throws -> ClientResponse {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<ClientResponse, any Error>) in
            if let e = request(method: method, url: url, headers: headers, body: body, timeoutMs: timeoutMs, completion: { c.resume(with: $0.mapError { $0 as any Error }) }) {
                c.resume(throwing: e)
            }
        }
    }
}

extension HTTPClient {
    /// What the curl thread owns: the multi handle and the transfers handed to it. Other
    /// threads reach it only through `post` and `shutdown`, which take the inbox's Mutex
    /// and wake the thread while the multi handle is known to be alive (the loop frees it
    /// only after closing the inbox under the same Mutex).
    /// Unchecked Sendable: `multi` and `active` are used on the curl thread only, but for
    /// `curl_multi_wakeup` (thread-safe in libcurl) under the inbox's lock.
    final class Engine: @unchecked Sendable {
        struct Inbox {
            var pending: [Transfer] = []
            var cancels: [Transfer] = []
            /// False once the loop has ended: nothing more reaches it, `multi` is freed.
            var open = true
        }

        private let multi: UnsafeMutableRawPointer
        private let inbox = Mutex(Inbox())
        private let running = Atomic<Bool>(true)
        private var active: [UnsafeMutableRawPointer: Transfer] = [:]   // only touched on the curl thread
        let requests: Metric?
        let failures: Metric?

        init(requests: Metric?, failures: Metric?) {
            multi = curl_multi_init()
            _ = ds_curl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64)
            self.requests = requests
            self.failures = failures
        }

        var isRunning: Bool { running.load(ordering: .acquiring) }

        /// Changes the inbox and wakes the loop; false (and nothing changed) once the loop has ended.
        @discardableResult
        func post(_ change: (inout Inbox) -> Void) -> Bool {
            inbox.withLock { box in
                guard box.open else { return false }
                change(&box)
                curl_multi_wakeup(multi)
                return true
            }
        }

        func shutdown() {
            running.store(false, ordering: .releasing)
            post { _ in }
        }

        func loop() {
            var stillRunning: Int32 = 0
            while true {
                let (new, cancels) = inbox.withLock { box in
                    defer { box.pending.removeAll(); box.cancels.removeAll() }
                    return (box.pending, box.cancels)
                }
                for t in new {
                    if t.cancelled.load(ordering: .acquiring) { finish(t, CURLE_ABORTED_BY_CALLBACK, cancelled: true); continue }
                    active[t.easy] = t
                    curl_multi_add_handle(multi, t.easy)
                }
                // Cancels of transfers still in flight (one already finished is not in `active`;
                // the identity check guards against a new transfer reusing the easy handle's address).
                for t in cancels {
                    guard let a = active[t.easy], a === t else { continue }
                    active.removeValue(forKey: t.easy)
                    curl_multi_remove_handle(multi, t.easy)
                    finish(t, CURLE_ABORTED_BY_CALLBACK, cancelled: true)
                }
                curl_multi_perform(multi, &stillRunning)
                var left: Int32 = 0
                while let msg = curl_multi_info_read(multi, &left) {
                    guard msg.pointee.msg == CURLMSG_DONE, let easy = msg.pointee.easy_handle, let t = active.removeValue(forKey: easy) else { continue }
                    let code = msg.pointee.data.result
                    curl_multi_remove_handle(multi, easy)
                    finish(t, code)
                }
                if !running.load(ordering: .acquiring) { break }
                var numfds: Int32 = 0
                curl_multi_poll(multi, nil, 0, 1000, &numfds)
            }
            for (_, t) in active { curl_multi_remove_handle(multi, t.easy); finish(t, CURLE_ABORTED_BY_CALLBACK) }
            active.removeAll()
            // Close the inbox; what reached it since the last turn never ran.
            let late = inbox.withLock { box in
                box.open = false
                defer { box.pending.removeAll(); box.cancels.removeAll() }
                return box.pending
            }
            for t in late { finish(t, CURLE_ABORTED_BY_CALLBACK, cancelled: t.cancelled.load(ordering: .acquiring)) }
            curl_multi_cleanup(multi)   // the connection cache and the wake-up socket pair
        }

        private func finish(_ t: Transfer, _ code: CURLcode, cancelled: Bool = false) {
            var status = 0
            _ = ds_curl_getinfo_long(t.easy, CURLINFO_RESPONSE_CODE, &status)
            let message = String(cString: t.errorBuffer)
            curl_slist_free_all(t.headerList)
            curl_easy_cleanup(t.easy)
            if code == CURLE_OK {
                t.completion(.success(ClientResponse(status: status, headers: t.responseHeaders, body: t.body)))
                return
            }
            if cancelled {
                t.completion(.failure(HTTPClientError(status: DS_ERR_CANCELLED, message: "cancelled")))
                return
            }
            failures?.increment()
            let why = message.isEmpty ? String(cString: curl_easy_strerror(code)) : message
            let s: Int32 = code == CURLE_OPERATION_TIMEDOUT ? DS_ERR_TIMEOUT : (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL ? DS_ERR_INVALID : DS_ERR_UNAVAILABLE)
            t.completion(.failure(HTTPClientError(status: s, message: why)))
        }
    }
}

private let curlWrite: ds_curl_write_fn = { ptr, size, n, user in
    let t = Unmanaged<HTTPClient.Transfer>.fromOpaque(user!).takeUnretainedValue()
    let count = size * n
    if let ptr { ptr.withMemoryRebound(to: UInt8.self, capacity: count) { t.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: count)) } }
    return count
}

private let curlHeader: ds_curl_write_fn = { ptr, size, n, user in
    let t = Unmanaged<HTTPClient.Transfer>.fromOpaque(user!).takeUnretainedValue()
    let count = size * n
    guard let ptr else { return count }
    let line = ptr.withMemoryRebound(to: UInt8.self, capacity: count) { String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self) }
    if line.hasPrefix("HTTP/") { t.responseHeaders.removeAll() }   // a new response (after 100-continue or a redirect)
    if let colon = line.firstIndex(of: ":") {
        let k = line[..<colon].trimmingCharacters(in: .whitespaces)
        let v = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        t.responseHeaders.append((k, v))
    }
    return count
}
