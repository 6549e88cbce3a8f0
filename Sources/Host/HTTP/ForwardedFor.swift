import Foundation

/// The remote address a plugin sees for a request, with `server.trusted_proxies`: from a
/// trusted reverse proxy (nginx in front of the gateway), the client named by
/// `X-Forwarded-For` — its rightmost entry that is not itself a trusted proxy, since the
/// entries to the left of it are whatever the client sent. Otherwise the socket's peer.
/// Pure functions; thread-safe.
enum ForwardedFor {
    /// "ip:port" as plugins get it (port 0 when the address came from the header).
    static func remote(peerIP: String?, peerPort: Int?, headers: [(String, String)], trusted: [String]) -> String {
        let peer = "\(peerIP ?? ""):\(peerPort ?? 0)"
        guard let ip = peerIP, !trusted.isEmpty, trusted.contains(ip) else { return peer }
        let hops = headers.filter { $0.0 == "x-forwarded-for" }.flatMap { $0.1.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() where !trusted.contains(hop) {
            return isIPAddress(hop) ? "\(hop):0" : peer
        }
        return peer
    }

    static func isIPAddress(_ s: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
    }
}
