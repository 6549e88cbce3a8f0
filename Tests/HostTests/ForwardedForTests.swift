import Foundation
import Testing
@testable import Host

/// `server.trusted_proxies`: whose X-Forwarded-For is believed, and which entry counts.
@Suite struct ForwardedForTests {
    let trusted = ["127.0.0.1", "::1"]

    @Test func onlyATrustedPeerIsBelievedAndOnlyItsOwnHop() {
        let xff = [("x-forwarded-for", "203.0.113.9, 198.51.100.7")]
        // Not from a trusted proxy: the peer, whatever the header says.
        #expect(ForwardedFor.remote(peerIP: "192.0.2.1", peerPort: 5000, headers: xff, trusted: trusted) == "192.0.2.1:5000")
        // No proxies configured: the header is ignored.
        #expect(ForwardedFor.remote(peerIP: "127.0.0.1", peerPort: 5000, headers: xff, trusted: []) == "127.0.0.1:5000")
        // From nginx on loopback: the rightmost entry (what nginx saw), not what the client claimed.
        #expect(ForwardedFor.remote(peerIP: "127.0.0.1", peerPort: 5000, headers: xff, trusted: trusted) == "198.51.100.7:0")
        // Trusted hops are skipped; repeated headers are one list.
        #expect(ForwardedFor.remote(peerIP: "::1", peerPort: 1, headers: [("x-forwarded-for", "2001:db8::5"), ("x-forwarded-for", "127.0.0.1")],
                                    trusted: trusted) == "2001:db8::5:0")
        // Garbage or nothing: the peer.
        #expect(ForwardedFor.remote(peerIP: "127.0.0.1", peerPort: 7, headers: [("x-forwarded-for", "unknown")], trusted: trusted) == "127.0.0.1:7")
        #expect(ForwardedFor.remote(peerIP: "127.0.0.1", peerPort: 7, headers: [], trusted: trusted) == "127.0.0.1:7")
    }

    @Test func configAcceptsAddressesOnly() throws {
        let ok = try ConfigLoader(environment: [:]).load(yaml: "server:\n  trusted_proxies: [127.0.0.1, \"::1\"]\n")
        #expect(ok.server.trustedProxies == ["127.0.0.1", "::1"])
        #expect(throws: (any Error).self) { try ConfigLoader(environment: [:]).load(yaml: "server:\n  trusted_proxies: [nginx.local]\n") }
    }
}
