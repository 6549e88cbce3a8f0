import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Fans events out to every enabled log sink (one SinkPipeline each).
///
/// `emit` formats the event once and hands the line to each pipeline; it never waits
/// for a sink. Events emitted before `run()` wait in the pipelines' queues.
///
/// A swift-service-lifecycle `Service`: `run()` starts the pipelines' writers and, on
/// graceful shutdown or cancellation (the last service stopped, after the outbox and usage
/// reporter, see `Gateway.shutdownOrder`), delivers what the sinks take within
/// `shutdownGrace` seconds and spools the rest; the sinks themselves are destroyed after it,
/// with the other plugins.
///
/// Thread safety: `emit` from any thread; the reload's `add`/`remove`/`handOver` from the
/// gateway (one at a time).
/// Unchecked Sendable: immutable after init; the pipelines are behind the `order` Mutex, counters
/// are atomics.
public final class EventBus: Service, @unchecked Sendable {
    let config: EventsConfig
    /// The pipelines, under the same lock that orders events (a reload's change of the
    /// list falls between two events, never inside one).
    private let order: Mutex<[SinkPipeline]>
    private let pipelineCount = Atomic<Int>(0)
    var pipelines: [SinkPipeline] { order.withLock { $0 } }
    let spoolDir: String
    let metrics: MetricsRegistry
    let logger: Logger
    /// How long the sinks get to take the queued events at shutdown.
    let shutdownGrace: Double
    /// Times the pipelines' retries and their drain at shutdown.
    let timerLoop: any EventLoop
    private let emitted: Metric
    private let sequence = Atomic<UInt64>(0)
    private let instanceTag: String
    /// Live watchers (the admin API's event stream): the same lines as the sinks.
    public let live = LiveEvents()

    init(config: EventsConfig, sinks: [LogSinkInstance], spoolDir: String, shutdownGrace: Double, timerLoop: any EventLoop,
         metrics: MetricsRegistry, logger: Logger) throws {
        self.config = config
        self.timerLoop = timerLoop
        self.shutdownGrace = shutdownGrace
        self.spoolDir = spoolDir
        self.metrics = metrics
        self.logger = logger
        let made = try sinks.map {
            try SinkPipeline(sink: $0, config: config, spoolPath: (spoolDir as NSString).appendingPathComponent("\($0.instanceId).jsonl"),
                             timerLoop: timerLoop, metrics: metrics, logger: logger)
        }
        order = Mutex(made)
        pipelineCount.store(made.count, ordering: .relaxed)
        emitted = metrics.counter("darkspere_events_emitted_total", help: "Events emitted by the gateway")
        // Unique across processes and restarts: random per process + a sequence number.
        instanceTag = String(UInt64.random(in: 0..<UInt64.max), radix: 36)
    }

    /// Delivers until graceful shutdown or cancellation, then stops the pipelines.
    public func run() async {
        for p in pipelines { p.start() }
        try? await gracefulShutdown()
        await stop(grace: shutdownGrace)
    }

    /// An erasure: drops the queued and spooled events that `drop` matches from every sink.
    func forget(where drop: (String) -> Bool) -> Int { pipelines.reduce(0) { $0 + $1.forget(where: drop) } }

    /// A unique event id.
    func nextId() -> String { "\(instanceTag)-\(sequence.add(1, ordering: .relaxed).newValue)" }

    /// Sends an event to every sink. Never blocks on a sink.
    public func emit(_ event: Event) {
        emitted.increment()
        let watched = live.isWatched
        guard pipelineCount.load(ordering: .relaxed) > 0 || watched else { return }
        let timeMs = Int64(Date().timeIntervalSince1970 * 1000)
        // Formatted outside the lock (it is most of an event's cost, and every turn emits
        // several from many threads); only numbering and handing over happen under it, so
        // ids are in the order the sinks and watchers receive the lines.
        let rest = event.jsonAfterId(timeMs: timeMs, includeBodies: config.includeBodies, redactNumbers: config.redactNumbers)
        let published: (wake: Bool, displaced: LiveEvents.Item?)? = order.withLock { pipelines in
            let id = nextId()
            let line = Event.line(id: id, rest: rest)
            for p in pipelines { p.enqueue(line) }
            return watched ? live.publish(LiveEvents.Item(id: id, type: event.type, session: event.session, line: line)) : nil
        }
        // After the lock: a watcher's writer is woken once per batch, not per event, and the
        // event the live ring displaced is released here, not under the lock.
        if let published, published.wake { live.wakeWaiting() }
    }

    /// A fresh correlation id for an inbound message.
    public func correlationId() -> String { "c-" + nextId() }

    func stop(grace: Double) async {
        let all = pipelines
        await withTaskGroup(of: Void.self) { g in
            for p in all { g.addTask { await p.stop(grace: grace) } }
        }
    }

    // MARK: reload

    /// Starts delivering to a new sink (its spool file, if one is left from an earlier run
    /// under the same id, is delivered first).
    func add(_ sink: LogSinkInstance) throws {
        let p = try SinkPipeline(sink: sink, config: config, spoolPath: (spoolDir as NSString).appendingPathComponent("\(sink.instanceId).jsonl"),
                                 timerLoop: timerLoop, metrics: metrics, logger: logger)
        p.start()
        order.withLock { $0.append(p); pipelineCount.store($0.count, ordering: .relaxed) }
    }

    /// Stops delivering to the sink with this id: later events no longer go to it; the
    /// events it holds are delivered within `grace` seconds, the rest stay in its spool file.
    func remove(sinkId: String, grace: Double) async {
        let gone = order.withLock { list -> [SinkPipeline] in
            let out = list.filter { $0.sinkId == sinkId }
            list.removeAll { $0.sinkId == sinkId }
            pipelineCount.store(list.count, ordering: .relaxed)
            return out
        }
        for p in gone { await p.stop(grace: grace) }
    }

    /// Makes the pipeline of `sink`'s id write to `sink` from its next batch on (a changed
    /// sink: same queue and spool file, new instance). Returns the instance it replaced,
    /// whose current write, if any, finishes first (the pipeline's one worker awaits it).
    func handOver(to sink: LogSinkInstance) -> LogSinkInstance? {
        pipelines.first { $0.sinkId == sink.instanceId }?.replaceSink(sink)
    }
}
