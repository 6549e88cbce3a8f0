import NIOCore
import Synchronization

/// The open connections of one listener, at most `capacity` at once.
///
/// When it is full, a new connection takes the place of the one that has waited longest
/// without a request being handled (an idle keep-alive, a never-used connection, or a
/// request still trickling in); only when every connection is handling a request is the new
/// one refused (503). So a flood of idle or slow connections cannot lock out clients that
/// send their request at once.
///
/// Threading: thread-safe (one mutex; evicted channels are closed outside it).
final class ConnectionRegistry: Sendable {
    let capacity: Int
    private let open = Mutex<[ObjectIdentifier: ConnectionGuard]>([:])
    private let openGauge: Metric
    private let evicted: Metric
    private let refused: Metric

    init(capacity: Int, metrics: MetricsRegistry) {
        self.capacity = max(1, capacity)
        openGauge = metrics.gauge("darkspere_http_connections", help: "Open HTTP connections")
        evicted = metrics.counter("darkspere_http_connections_evicted_total",
                                  help: "Idle or slow HTTP connections closed to make room for a new one")
        refused = metrics.counter("darkspere_http_connections_refused_total",
                                  help: "HTTP connections refused (503) because every slot was handling a request")
    }

    /// The connection limit for a listener: `configured`, but leaving a quarter of the
    /// process's descriptors (at least 64) for the store, plugins and outgoing connections.
    static func capacity(configured: Int, fileLimit: Int) -> Int {
        min(configured, max(16, fileLimit - max(64, fileLimit / 4)))
    }

    /// Registers a new connection; false if there is no room (it must then be refused).
    func admit(_ g: ConnectionGuard) -> Bool {
        var victim: ConnectionGuard?
        let ok = open.withLock { m -> Bool in
            if m.count >= capacity {
                var oldest: (ObjectIdentifier, UInt64)?
                for (id, c) in m {
                    let since = c.evictableSince.load(ordering: .relaxed)
                    if since != 0 && since < (oldest?.1 ?? .max) { oldest = (id, since) }
                }
                guard let oldest else { return false }
                victim = m.removeValue(forKey: oldest.0)
            }
            m[ObjectIdentifier(g)] = g
            openGauge.record(Double(m.count))
            return true
        }
        if let victim { evicted.increment(); victim.evict() }
        if !ok { refused.increment() }
        return ok
    }

    func remove(_ g: ConnectionGuard) {
        open.withLock { m in
            m.removeValue(forKey: ObjectIdentifier(g))
            openGauge.record(Double(m.count))
        }
    }

    /// The channels open now (for shutdown).
    var channels: [any Channel] { open.withLock { $0.values.map(\.channel) } }
}
