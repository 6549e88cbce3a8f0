import Foundation
import Logging

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
        try? await Task.sleep(nanoseconds: UInt64(Self.settleSeconds * 1e9))
        await withTaskGroup(of: Void.self) { g in
            for i in instances {
                g.addTask { await retireOne(i, removedChannel: removedChannels.contains(ObjectIdentifier(i)), removedSink: removedSinks.contains(i.instanceId)) }
            }
        }
    }

    private func retireOne(_ i: PluginInstanceBase, removedChannel: Bool, removedSink: Bool) async {
        if removedSink, let events { await events.remove(sinkId: i.instanceId, grace: sinkGrace) }
        if removedChannel {
            _ = await wait(i, "in-flight requests") { i.pendingOperations == 0 }
            let n = runtime.removeRoutes(of: i.handle)
            logger.info("reload: channel '\(i.instanceId)' drained; \(n) route(s) removed")
        }
        if let t = i as? AgentTransportInstance {
            _ = await wait(i, "open agents") { [plugins] in !plugins.agents.contains { $0.transport === t } }
        }
        let idle = await wait(i, "operations") { i.pendingOperations == 0 }
        if !idle { logger.warning("reload: '\(i.instanceId)' still has \(i.pendingOperations) operation(s) after \(drainLimit) s; destroying it anyway") }
        _ = try? await Gateway.offPool { i.destroyInstance() }
        logger.info("reload: old instance of '\(i.instanceId)' (\(i.interfaceId)) destroyed")
    }

    /// Polls `done` every 20 ms up to `drainLimit`; true if it became true.
    private func wait(_ i: PluginInstanceBase, _ what: String, _ done: @escaping @Sendable () -> Bool) async -> Bool {
        let until = Date().addingTimeInterval(drainLimit)
        while !done() {
            if Date() >= until { return false }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        return true
    }
}
