import Foundation
import Logging
import NIOCore
import Synchronization

/// Destroys the plugin instances a reload replaced or removed, once their last operation
/// finished (`InstanceHandle.pending`), never before: in-flight messages finish on the
/// instances they started on.
///
/// A removed channel keeps serving its routes while requests it took are in flight; its
/// routes are taken away (404 from then on) once those finished, then it is destroyed. A
/// removed sink first delivers what it holds (or spools it). A transport is destroyed only
/// after every agent opened on it was closed (the router closes a retired agent once its
/// calls are done). Each wait is bounded by `drainLimit` seconds; an instance still busy
/// then is destroyed anyway, with a warning (its plugin broke the completion contract).
///
/// Nothing polls: each wait is woken by the event it waits for (the instance's last
/// operation finishing, `InstanceHandle.whenIdle`; its transport's last agent closing,
/// `PluginSet.whenAgentsClosed`), and the settle time and the bound are tasks on the host's
/// timer loop (`HostRuntime.timerLoop`).
///
/// Threading: `retire` runs on its own task; destroy calls run off the cooperative pool.
struct InstanceRetirer: Sendable {
    let runtime: HostRuntime
    let plugins: PluginSet
    let events: EventBus?
    let logger: Logger
    let drainLimit: Double
    let sinkGrace: Double
    /// A caller that looked an instance up just before the commit may still start an
    /// operation on it for a moment: waits begin after this settle time.
    static let settleSeconds = 0.2

    func retire(_ instances: [PluginInstanceBase], removedChannels: Set<ObjectIdentifier>, removedSinks: Set<String>) async {
        guard !instances.isEmpty else { return }
        try? await runtime.timerLoop.scheduleTask(in: .nanoseconds(Int64(Self.settleSeconds * 1e9))) {}.futureResult.get()
        await withTaskGroup(of: Void.self) { g in
            for i in instances {
                g.addTask { await retireOne(i, removedChannel: removedChannels.contains(ObjectIdentifier(i)), removedSink: removedSinks.contains(i.instanceId)) }
            }
        }
    }

    private func retireOne(_ i: PluginInstanceBase, removedChannel: Bool, removedSink: Bool) async {
        if removedSink, let events { await events.remove(sinkId: i.instanceId, grace: sinkGrace) }
        if removedChannel {
            _ = await wait { i.handle.whenIdle($0) }
            let n = runtime.removeRoutes(of: i.handle)
            logger.info("reload: channel '\(i.instanceId)' drained; \(n) route(s) removed")
        }
        if let t = i as? AgentTransportInstance {
            _ = await wait { [plugins] in plugins.whenAgentsClosed(on: t, $0) }
        }
        let idle = await wait { i.handle.whenIdle($0) }
        if !idle { logger.warning("reload: '\(i.instanceId)' still has \(i.pendingOperations) operation(s) after \(drainLimit) s; destroying it anyway") }
        _ = try? await Gateway.offPool { i.destroyInstance() }
        logger.info("reload: old instance of '\(i.instanceId)' (\(i.interfaceId)) destroyed")
    }

    /// Waits until `register`'s callback is called (the awaited event happened; true) or
    /// `drainLimit` passed (false), whichever comes first.
    private func wait(_ register: (@escaping @Sendable () -> Void) -> Void) async -> Bool {
        let waiter = Mutex<CheckedContinuation<Bool, Never>?>(nil)
        @Sendable func finish(_ ok: Bool) { waiter.withLock { c in defer { c = nil }; return c }?.resume(returning: ok) }
        return await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            waiter.withLock { $0 = c }
            let limit = runtime.timerLoop.scheduleTask(in: .nanoseconds(Int64(min(drainLimit, 86_400) * 1e9))) { finish(false) }
            register { limit.cancel(); finish(true) }
        }
    }
}
