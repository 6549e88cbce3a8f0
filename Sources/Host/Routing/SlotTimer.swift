import Foundation
import HeapModule
import NIOCore
import NIOPosix
import Synchronization

/// Runs short actions at (or up to one slot after) their deadlines on the host's timer
/// event loop (`HostRuntime.timerLoop`, the one loop where operation timeouts, plugin
/// timers, retry delays and the background services' sleeps run too), for timers that are
/// set, and usually cancelled, once per message: the router's inline reply budgets and the
/// PostgreSQL store's deferred unlocks (`DeferredFlusher`).
///
/// It is a thin layer over `EventLoop.scheduleTask`: deadlines are rounded up to slots of
/// `granularity`, and the loop holds one scheduled task, for the earliest slot, whatever
/// the number of entries. Why not one `scheduleTask` per message: every `scheduleTask`
/// from a thread other than the loop's writes the loop's eventfd and wakes its thread
/// (SelectableEventLoop wakes the selector unless a wake-up is already pending), and a
/// cancel searches NIO's heap linearly; at thousands of messages a second that is one
/// extra thread switch per message. Here a message costs one Mutex section (a dictionary
/// insert, and one removal when the reply is answered) and the loop wakes at most
/// 1/granularity times a second. Measured (SlotTimerTests.measureSchedulePlusCancel, debug
/// build, loaded 2-core machine, 2 threads each doing schedule + cancel every 100 µs, two
/// runs): slots 12.6 / 19.5 µs process CPU and 1.00 context switches per entry (the pacing
/// sleep's own), one `scheduleTask` + cancel per entry 51.3 / 59.9 µs and 1.9 / 2.0: about
/// 40 µs and one thread wake-up more per message. (Not yet measured on the release router
/// bench.) `DARKSPERE_TIMER_SLOT_MS` (a number of milliseconds, 0 = one `scheduleTask` per
/// entry) overrides the granularity of every slot timer, for such A/B runs only.
///
/// Threading: `schedule` and `cancel` from any thread; neither blocks beyond a short
/// Mutex section (arming the loop's task happens only when the earliest slot changes).
/// Actions run on the timer loop, one at a time, and must be short (they must not block).
/// Ownership: an entry's action is released once it ran, was cancelled, or `shutdown`
/// dropped it. The loop belongs to the caller (the runtime); `shutdown` cancels this
/// timer's task but never shuts the loop down.
final class SlotTimer: Sendable {
    /// A scheduled entry: pass it to `cancel`. 0 is never a token (use it for "none").
    typealias Token = UInt64

    private struct State {
        /// slot number → entries due in it (id → action).
        var slots: [UInt64: [UInt64: @Sendable () -> Void]] = [:]
        /// Slot numbers with entries, earliest first (a slot may stay after its entries were
        /// cancelled; the tick skips it).
        var order = Heap<UInt64>()
        /// Per-entry mode (granularity 0): the loop's task of each entry.
        var tasks: [UInt64: Scheduled<Void>] = [:]
        var nextId: UInt64 = 0
        /// The slot the loop's task is armed for, and the task.
        var armedSlot: UInt64?
        var armed: Scheduled<Void>?
        var stopped = false
    }

    let loop: any EventLoop
    /// Slot width in nanoseconds; 0: one `scheduleTask` per entry.
    private let slotNs: UInt64
    private let state = Mutex(State())
    /// Bits of a token that hold the entry's id (the rest: its slot).
    private static let idBits: UInt64 = 24

    /// A loop for timers of parts made without a runtime (tests, tools): NIO's shared group.
    static var fallbackLoop: any EventLoop { MultiThreadedEventLoopGroup.singleton.next() }

    /// `granularity` in seconds (slot width). See the type's comment for the environment override.
    init(loop: any EventLoop, granularity: Double = 0.002) {
        self.loop = loop
        var g = granularity
        if let s = ProcessInfo.processInfo.environment["DARKSPERE_TIMER_SLOT_MS"], let ms = Double(s), ms >= 0 { g = ms / 1000 }
        slotNs = g <= 0 ? 0 : UInt64(max(0.0001, g) * 1e9)
    }

    /// Runs `action` on the timer loop once `seconds` have passed (rounded up to the next
    /// slot). Returns the entry's token (0 after `shutdown`: nothing was scheduled).
    @discardableResult
    func schedule(after seconds: Double, _ action: @escaping @Sendable () -> Void) -> Token {
        let delayNs = UInt64(min(max(0, seconds), 86_400 * 365) * 1e9)
        let deadline = NIODeadline.now().uptimeNanoseconds &+ delayNs
        if slotNs == 0 { return schedulePerEntry(deadline, action) }
        let slot = (deadline + slotNs - 1) / slotNs
        return state.withLock { s -> Token in
            guard !s.stopped else { return 0 }
            s.nextId &+= 1
            let id = s.nextId & ((1 << Self.idBits) - 1)
            if s.slots[slot] == nil {
                s.slots[slot] = [id: action]
                s.order.insert(slot)
            } else {
                s.slots[slot]![id] = action
            }
            if s.armedSlot.map({ slot < $0 }) ?? true { arm(&s, slot) }
            return (slot << Self.idBits) | id   // never 0: slot > 0
        }
    }

    /// Drops the entry of `token` if it has not run yet (no-op for 0, a spent or unknown token).
    func cancel(_ token: Token) {
        guard token != 0 else { return }
        if slotNs == 0 {
            let task = state.withLock { $0.tasks.removeValue(forKey: token) }
            task?.cancel()
            return
        }
        let slot = token >> Self.idBits, id = token & ((1 << Self.idBits) - 1)
        // The action is released after the lock (its captures may be the last references).
        let dropped: (@Sendable () -> Void)? = state.withLock { s in
            guard s.slots[slot] != nil else { return nil }
            let a = s.slots[slot]!.removeValue(forKey: id)
            if s.slots[slot]!.isEmpty { s.slots[slot] = nil }
            return a
        }
        _ = dropped
    }

    /// Entries waiting (tests).
    var pending: Int { state.withLock { s in s.slots.values.reduce(s.tasks.count) { $0 + $1.count } } }

    /// Drops the pending entries and stops: later `schedule` calls do nothing.
    func shutdown() {
        let (armed, tasks, slots) = state.withLock { s in
            s.stopped = true
            defer { s.armed = nil; s.armedSlot = nil; s.tasks = [:]; s.slots = [:]; s.order = Heap() }
            return (s.armed, s.tasks, s.slots)
        }
        armed?.cancel()
        for t in tasks.values { t.cancel() }
        _ = slots
    }

    // MARK: per-entry mode (granularity 0: for A/B runs)

    private func schedulePerEntry(_ deadline: UInt64, _ action: @escaping @Sendable () -> Void) -> Token {
        state.withLock { s -> Token in
            guard !s.stopped else { return 0 }
            s.nextId &+= 1
            let id = s.nextId == 0 ? 1 : s.nextId
            s.tasks[id] = loop.scheduleTask(deadline: .uptimeNanoseconds(deadline)) { [self] in
                if state.withLock({ $0.tasks.removeValue(forKey: id) }) != nil { action() }
            }
            return id
        }
    }

    // MARK: slots

    /// Arms the loop's task for `slot` (replacing a later one). With the state locked.
    private func arm(_ s: inout State, _ slot: UInt64) {
        s.armed?.cancel()
        s.armedSlot = slot
        s.armed = loop.scheduleTask(deadline: .uptimeNanoseconds(slot &* slotNs)) { [self] in tick(slot) }
    }

    /// On the loop: runs the entries of every slot that is due, then arms for the next one.
    private func tick(_ slot: UInt64) {
        let nowSlot = NIODeadline.now().uptimeNanoseconds / slotNs
        let due: [@Sendable () -> Void] = state.withLock { s in
            if s.armedSlot == slot { s.armedSlot = nil; s.armed = nil }
            guard !s.stopped else { return [] }
            var due: [@Sendable () -> Void] = []
            while let first = s.order.min, first <= nowSlot {
                _ = s.order.popMin()
                if let entries = s.slots.removeValue(forKey: first) { due.append(contentsOf: entries.values) }
            }
            // Skip slots whose entries were all cancelled.
            while let first = s.order.min, s.slots[first] == nil { _ = s.order.popMin() }
            if let next = s.order.min, s.armedSlot.map({ next < $0 }) ?? true { arm(&s, next) }
            return due
        }
        for a in due { a() }
    }
}
