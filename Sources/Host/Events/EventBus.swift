import Foundation
import Logging
import Synchronization

/// Fans events out to every enabled log sink (one SinkPipeline each).
///
/// `emit` formats the event once and hands the line to each pipeline; it never waits
/// for a sink. Thread safety: `emit` from any thread; start/stop from the gateway.
public final class EventBus: @unchecked Sendable {
    let config: EventsConfig
    let pipelines: [SinkPipeline]
    private let emitted: Metric
    private let sequence = Atomic<UInt64>(0)
    /// Makes "take an id, enqueue everywhere" one step, so every sink sees events in id order.
    private let order = Mutex<Void>(())
    private let instanceTag: String
    /// Live watchers (the admin API's event stream): the same lines as the sinks.
    public let live = LiveEvents()

    init(config: EventsConfig, sinks: [LogSinkInstance], spoolDir: String, metrics: MetricsRegistry, logger: Logger) throws {
        self.config = config
        pipelines = try sinks.map {
            try SinkPipeline(sink: $0, config: config, spoolPath: (spoolDir as NSString).appendingPathComponent("\($0.instanceId).jsonl"),
                             metrics: metrics, logger: logger)
        }
        emitted = metrics.counter("darkspere_events_emitted_total", help: "Events emitted by the gateway")
        // Unique across processes and restarts: random per process + a sequence number.
        instanceTag = String(UInt64.random(in: 0..<UInt64.max), radix: 36)
    }

    func start() { for p in pipelines { p.start() } }

    /// An erasure: drops the queued and spooled events that `drop` matches from every sink.
    func forget(where drop: (String) -> Bool) -> Int { pipelines.reduce(0) { $0 + $1.forget(where: drop) } }

    /// A unique event id.
    func nextId() -> String { "\(instanceTag)-\(sequence.add(1, ordering: .relaxed).newValue)" }

    /// Sends an event to every sink. Never blocks on a sink.
    public func emit(_ event: Event) {
        emitted.increment()
        let watched = live.isWatched
        guard !pipelines.isEmpty || watched else { return }
        let timeMs = Int64(Date().timeIntervalSince1970 * 1000)
        order.withLock { _ in
            let id = nextId()
            let line = event.json(id: id, timeMs: timeMs, includeBodies: config.includeBodies, redactNumbers: config.redactNumbers)
            for p in pipelines { p.enqueue(line) }
            if watched { live.publish(LiveEvents.Item(id: id, type: event.type, session: event.session, line: line)) }
        }
    }

    /// A fresh correlation id for an inbound message.
    public func correlationId() -> String { "c-" + nextId() }

    func stop(grace: Double) async {
        await withTaskGroup(of: Void.self) { g in
            for p in pipelines { g.addTask { await p.stop(grace: grace) } }
        }
    }
}
