import Foundation
import PluginAPI
import Synchronization
import Testing
@testable import Host

/// A reload's retirer waits for a replaced instance's last operation by being woken, not by polling.
@Suite(.serialized) struct InstanceRetirerTests {
    /// An instance of no interface (its destroy does nothing) on `handle`.
    private func instance(_ runtime: HostRuntime, _ handle: InstanceHandle) -> (PluginInstanceBase, UnsafeMutablePointer<ds_plugin_descriptor>) {
        let desc = UnsafeMutablePointer<ds_plugin_descriptor>.allocate(capacity: 1)
        desc.initialize(to: ds_plugin_descriptor())
        let lib = PluginLibrary(path: "/retirer-test", descriptor: desc)
        return (PluginInstanceBase(instanceId: handle.instanceId, library: lib, interfaceId: "ds.test/1", handle: handle, instance: nil), desc)
    }

    private func pendingOp(_ handle: InstanceHandle) -> OpaquePointer {
        PluginOperation(onComplete: { _ in }).retainedPointer(owner: handle)
    }

    /// `whenIdle` runs on the thread that completes the last operation, before its
    /// `complete` returns (not after some polling interval); at once when already idle.
    @Test func idleWaitersRunWhenTheLastOperationCompletes() {
        let runtime = HostRuntime(logLevel: .error)
        defer { runtime.shutdown() }
        let handle = runtime.makeHandle("idle-waiters")
        let a = pendingOp(handle), b = pendingOp(handle)
        let woken = Atomic<Int>(0)
        handle.whenIdle { woken.add(1, ordering: .relaxed) }
        #expect(woken.load(ordering: .relaxed) == 0)
        PluginOperation.complete(a, OpOutcome(status: DS_OK))
        #expect(woken.load(ordering: .relaxed) == 0, "woken with an operation still pending")
        PluginOperation.complete(b, OpOutcome(status: DS_OK))
        #expect(woken.load(ordering: .relaxed) == 1, "not woken by the last completion")
        handle.whenIdle { woken.add(1, ordering: .relaxed) }
        #expect(woken.load(ordering: .relaxed) == 2)
        // A later op going 1 → 0 does not call the spent waiters again.
        PluginOperation.complete(pendingOp(handle), OpOutcome(status: DS_OK))
        #expect(woken.load(ordering: .relaxed) == 2)
    }

    /// A waiter registering while operations finish on other threads is never lost.
    @Test func idleWaiterIsNeverMissedUnderConcurrentCompletions() async {
        let runtime = HostRuntime(logLevel: .error)
        defer { runtime.shutdown() }
        for round in 0..<200 {
            let handle = runtime.makeHandle("race-\(round)")
            let ops = (0..<4).map { _ in UInt(bitPattern: pendingOp(handle)) }
            let woken = Atomic<Int>(0)
            await withTaskGroup(of: Void.self) { g in
                for p in ops { g.addTask { PluginOperation.complete(OpaquePointer(bitPattern: p)!, OpOutcome(status: DS_OK)) } }
                g.addTask { handle.whenIdle { woken.add(1, ordering: .relaxed) } }
            }
            #expect(woken.load(ordering: .relaxed) == 1, "round \(round)")
        }
    }

    /// retire() waits while an operation is in flight (its drain limit is far away), and
    /// finishes promptly once the last one completes.
    @Test func retireFinishesPromptlyWhenTheLastCallCompletes() async throws {
        let runtime = HostRuntime(logLevel: .error)
        defer { runtime.shutdown() }
        let handle = runtime.makeHandle("retiring")
        let (inst, desc) = instance(runtime, handle)
        defer { desc.deallocate() }
        let op = pendingOp(handle)
        var logger = TestEnv.logger
        logger.logLevel = .critical
        let retirer = InstanceRetirer(runtime: runtime, plugins: PluginSet(runtime: runtime), events: nil, logger: logger,
                                      drainLimit: 600, sinkGrace: 0)
        let done = Atomic<Bool>(false)
        let task = Task { await retirer.retire([inst], removedChannels: [ObjectIdentifier(inst)], removedSinks: []); done.store(true, ordering: .releasing) }
        // Wait until the retirer waits on the handle (past its settle time), then a while more.
        let until = Date().addingTimeInterval(60)
        while handle.idleWaiterCount == 0 && Date() < until { try await Task.sleep(nanoseconds: 5_000_000) }
        #expect(handle.idleWaiterCount == 1)
        try await Task.sleep(nanoseconds: 100_000_000)
        let finishedEarly = done.load(ordering: .acquiring)
        #expect(!finishedEarly, "retired with an operation in flight")
        let completed = Date()
        PluginOperation.complete(op, OpOutcome(status: DS_OK))
        await task.value
        let took = Date().timeIntervalSince(completed)
        // Woken, not timed out (the limit is 600 s); generous for a loaded machine.
        #expect(took < 30, "retire took \(took) s after the last completion")
        #expect(handle.idleWaiterCount == 0)
    }
}
