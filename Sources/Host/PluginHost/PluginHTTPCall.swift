import Foundation
import PluginAPI

/// One HTTP request a plugin started through `ds_host.http_request` or (1.2) `http_start`.
///
/// Ownership: registered in `table` from the start until its callback has returned; the
/// `ds_http_call *` is its id there, so `http_cancel` after that finds nothing and does
/// nothing. Thread safety: `cancel` from any thread; the callback runs on the HTTP client's
/// thread, exactly once.
/// Unchecked Sendable: `transfer` and `cancelRequested` only under `lock`.
final class PluginHTTPCall: @unchecked Sendable {
    static let table = HandleTable<PluginHTTPCall>()

    private let client: HTTPClient
    private let lock = NSLock()
    private var transfer: HTTPClient.Transfer?
    private var cancelRequested = false

    private init(client: HTTPClient) { self.client = client }

    /// Starts the request; with `out`, stores the call's handle there before the callback can run.
    static func start(_ h: InstanceHandle, _ r: ds_http_request, _ cb: @escaping ds_http_callback, _ user: UnsafeMutableRawPointer?,
                      _ out: UnsafeMutablePointer<OpaquePointer?>?) -> ds_status {
        let call = PluginHTTPCall(client: h.runtime.httpClient)
        let id = table.insert(call, owner: h.index)
        out?.pointee = HandleTable<PluginHTTPCall>.pointer(id)
        let u = UnsafeSendable(user)
        HopProbe.record("plugin.http_request", url: r.url.string)
        #if DEBUG
        let probeURL = r.url.string
        #endif
        let started = h.runtime.httpClient.start(
            method: r.method.len == 0 ? "GET" : r.method.string, url: r.url.string,
            headers: kvPairs(r.headers, r.header_count), body: r.body.bytes, timeoutMs: r.timeout_ms
        ) { result in
            #if DEBUG
            HopProbe.record("plugin.http_response", url: probeURL)
            #endif
            switch result {
            case .success(let resp):
                let arena = CArena()
                defer { withExtendedLifetime(arena) {} }
                var o = ds_http_response()
                o.struct_size = UInt32(MemoryLayout<ds_http_response>.size)
                o.status = Int32(resp.status)
                o.headers = arena.kvs(resp.headers)
                o.header_count = resp.headers.count
                o.body = arena.bytes(resp.body)
                cb(u.value, DS_OK, &o, ds_str.empty)
            case .failure(let e):
                withDSStr(e.message) { cb(u.value, e.status, nil, $0) }
            }
            _ = table.take(id)
        }
        switch started {
        case .failure(let e):
            _ = table.take(id)
            out?.pointee = nil
            return e.status
        case .success(let t):
            call.lock.lock()
            call.transfer = t
            let cancelNow = call.cancelRequested
            call.lock.unlock()
            if cancelNow { call.client.cancel(t) }
            return DS_OK
        }
    }

    /// `http_cancel`: aborts the transfer if it is still running (its callback then gets
    /// DS_ERR_CANCELLED); a no-op for a finished call.
    static func cancel(_ p: OpaquePointer) {
        guard let call = table.get(HandleTable<PluginHTTPCall>.id(p)) else { return }
        call.lock.lock()
        call.cancelRequested = true
        let t = call.transfer
        call.lock.unlock()
        if let t { call.client.cancel(t) }
    }
}
