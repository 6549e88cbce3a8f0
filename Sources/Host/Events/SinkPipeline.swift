import Foundation
import Logging
import NIOCore
import PluginAPI
import Synchronization

/// Delivers events to one log sink, off the message path.
///
/// `enqueue` never blocks on the sink: events go to a bounded in-memory queue; when it is
/// full, they (and every later one, to keep the order) spill to the sink's spool file until
/// the sink has caught up. A single worker task writes batches in order, retrying a failed
/// batch with exponential backoff until the sink takes it.
/// Thread safety: `enqueue` from any thread; one worker per pipeline.
/// Unchecked Sendable: `worker` is written by start and read by stop, which the gateway calls one
/// at a time; queue state is behind Mutexes and atomics; `spool` is used only by `enqueue` and the
/// worker under `state`.
final class SinkPipeline: @unchecked Sendable {
    struct State {
        var queue: [String] = []
        var head = 0
        var spooling = false
        /// The end offset of the spooled batch being delivered (moved by `forget`).
        var spoolInFlight: UInt64?
        var waiter: CheckedContinuation<Void, Never>?
        var count: Int { queue.count - head }
    }

    /// The instance written to; a reload may replace it between two batches (`replaceSink`).
    private let sinkBox: Mutex<LogSinkInstance>
    var sink: LogSinkInstance { sinkBox.withLock { $0 } }
    /// The `plugins:` id of the sink (the same across a replacement).
    let sinkId: String
    let config: EventsConfig
    let logger: Logger
    private let state: Mutex<State>
    private let spool: SpoolFile
    private let stopping = Atomic<Bool>(false)
    private var worker: Task<Void, Never>?
    /// The worker's wait before retrying a batch; `stop` ends it.
    private let backoff: ServiceSleeper
    /// `stop`'s wait for the queue to empty; the worker wakes it whenever it runs out of work.
    private let drained: ServiceSleeper
    let written: Metric, retried: Metric, spooled: Metric, lost: Metric, depth: Metric

    init(sink: LogSinkInstance, config: EventsConfig, spoolPath: String, timerLoop: any EventLoop, metrics: MetricsRegistry, logger: Logger) throws {
        sinkBox = Mutex(sink)
        backoff = ServiceSleeper(loop: timerLoop)
        drained = ServiceSleeper(loop: timerLoop)
        sinkId = sink.instanceId
        self.config = config
        self.logger = logger
        spool = try SpoolFile(path: spoolPath)
        state = Mutex(State(spooling: spool.hasPending))
        let l = [("sink", sink.instanceId)]
        written = metrics.counter("darkspere_events_written_total", help: "Events a log sink accepted", labels: l)
        retried = metrics.counter("darkspere_events_retried_total", help: "Events whose write had to be retried", labels: l)
        spooled = metrics.counter("darkspere_events_spooled_total", help: "Events spilled to the spool file while a sink lagged", labels: l)
        lost = metrics.counter("darkspere_events_lost_total", help: "Events that could not even be spooled (disk error)", labels: l)
        depth = metrics.gauge("darkspere_events_queue_depth", help: "Events waiting in memory for a sink", labels: l)
        let spoolBytes = metrics.gauge("darkspere_events_spool_bytes", help: "Bytes of the sink's spool file not yet delivered", labels: l)
        metrics.addCollector { [weak self] in
            guard let self else { return }
            let spool = self.spool
            spoolBytes.record(Double(self.state.withLock { _ in spool.size - min(spool.size, spool.readOffset) }))
        }
    }

    func start() {
        worker = Task.detached { [self] in await run() }
    }

    /// Adds one event (a JSON line). Never blocks on the sink.
    func enqueue(_ line: String) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { s in
            if !s.spooling && s.count < config.queueCapacity {
                s.queue.append(line)
            } else {
                s.spooling = true
                do { try spool.append(line); spooled.increment() } catch {
                    lost.increment()
                    logger.error("event lost: cannot write the spool file \(spool.path): \(error)")
                }
            }
            let w = s.waiter
            s.waiter = nil
            return w
        }
        waiter?.resume()
    }

    private func nextBatch() -> (events: [String], spoolNext: UInt64?) {
        state.withLock { s in
            if s.count > 0 {
                let n = min(config.batchSize, s.count)
                let batch = Array(s.queue[s.head..<s.head + n])
                s.head += n
                if s.head > 4096 && s.head * 2 > s.queue.count { s.queue.removeFirst(s.head); s.head = 0 }
                depth.record(Double(s.count))
                return (batch, nil)
            }
            if s.spooling {
                if let (events, next) = try? spool.read(max: config.batchSize), !events.isEmpty {
                    s.spoolInFlight = next
                    return (events, next)
                }
                if !spool.hasPending { s.spooling = false }
            }
            return ([], nil)
        }
    }

    /// An erasure: drops the events `drop` matches from the memory queue and the spool file
    /// (whose delivered part goes too). A batch already handed to the sink is not recalled.
    /// Returns how many events were dropped.
    func forget(where drop: (String) -> Bool) -> Int {
        state.withLock { s in
            let before = s.count
            let kept = s.queue[s.head...].filter { !drop($0) }
            s.queue = Array(kept)
            s.head = 0
            var dropped = before - s.count
            if let r = try? spool.remove(where: drop, mapping: s.spoolInFlight) {
                dropped += r.dropped
                if s.spoolInFlight != nil { s.spoolInFlight = r.mapped }
            }
            depth.record(Double(s.count))
            return dropped
        }
    }

    private func waitForWork() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.count > 0 || s.spooling || stopping.load(ordering: .acquiring) { return true }
                s.waiter = c
                return false
            }
            if resumeNow { c.resume() }
        }
    }

    private func run() async {
        var backoffMs: UInt64 = 100
        while true {
            let (batch, spoolNext) = nextBatch()
            if batch.isEmpty {
                drained.wake()
                if stopping.load(ordering: .acquiring) { return }
                await waitForWork()
                continue
            }
            // Deliver this batch, retrying until it is taken (or we are told to stop).
            while true {
                let target = sink
                let outcome = await target.write(batch, timeoutMs: UInt32(config.writeTimeout * 1000))
                if outcome.status == DS_OK {
                    written.record(Double(batch.count))
                    if spoolNext != nil {
                        state.withLock { s in
                            if let n = s.spoolInFlight { try? spool.commit(n) }
                            s.spoolInFlight = nil
                        }
                    }
                    backoffMs = 100
                    break
                }
                retried.record(Double(batch.count))
                logger.warning("sink '\(sinkId)' did not take \(batch.count) event(s) (status \(outcome.status): \(outcome.error)); retrying in \(backoffMs) ms")
                if stopping.load(ordering: .acquiring) {
                    // Keep the batch for the next start: it goes back in front of the queue.
                    if spoolNext == nil { state.withLock { s in s.queue.insert(contentsOf: batch, at: s.head) } }
                    return
                }
                _ = await backoff.sleep(Double(backoffMs) / 1000)
                backoffMs = min(backoffMs * 2, 30_000)
            }
        }
    }

    /// Writes to `new` from the next batch on; returns the instance replaced.
    func replaceSink(_ new: LogSinkInstance) -> LogSinkInstance {
        sinkBox.withLock { s in let old = s; s = new; return old }
    }

    /// Stops the worker after it has delivered what it can within `grace` seconds; what is
    /// left in memory is written to the spool file, ahead of older spooled events.
    func stop(grace: Double) async {
        let deadline = ContinuousClock.now + .milliseconds(Int64(max(0, grace) * 1000))
        while worker != nil && !state.withLock({ $0.count == 0 && !$0.spooling }) && ContinuousClock.now < deadline {
            let left = deadline - ContinuousClock.now
            _ = await drained.sleep(Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18)
        }
        stopping.store(true, ordering: .releasing)
        backoff.close()
        let w = state.withLock { s -> CheckedContinuation<Void, Never>? in let w = s.waiter; s.waiter = nil; return w }
        w?.resume()
        await worker?.value
        state.withLock { s in
            let rest = Array(s.queue[s.head...])
            s.queue.removeAll(); s.head = 0
            if !rest.isEmpty {
                do { try spool.prepend(rest); spooled.record(Double(rest.count)) } catch {
                    lost.record(Double(rest.count))
                    logger.error("\(rest.count) event(s) lost at shutdown: \(error)")
                }
            }
        }
    }
}
