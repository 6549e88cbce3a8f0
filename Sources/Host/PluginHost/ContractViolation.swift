import Logging
import Synchronization

/// A way a plugin broke the ABI's completion contract: the `kind` label of
/// `darkspere_plugin_contract_violations_total{plugin,kind}`. The host drops the offending
/// call; the plugin costs only its own calls.
enum ContractViolation: String, Sendable {
    /// `complete` on an op already completed (or refused, or never handed out).
    case completedTwice = "completed_twice"
    /// `respond` on a route op already answered by the plugin.
    case respondedTwice = "responded_twice"
    /// `complete`/`respond` after the instance's `destroy` returned.
    case completedAfterDestroy = "completed_after_destroy"
    /// The operation function completed the op and then returned a negative status.
    case refusedAfterComplete = "refused_after_complete"
    /// `complete` on a route op, or `respond` on an operation.
    case wrongFunction = "wrong_function"
    /// A host service called with the handle of a destroyed instance (submit_inbound, ...).
    case serviceAfterDestroy = "service_after_destroy"

    var what: String {
        switch self {
        case .completedTwice: "completed an operation that was already finished"
        case .respondedTwice: "answered a route request twice"
        case .completedAfterDestroy: "finished an operation after its instance was destroyed"
        case .refusedAfterComplete: "completed an operation and then refused it (negative return)"
        case .wrongFunction: "finished an operation with the wrong function (complete vs respond)"
        case .serviceAfterDestroy: "called a host service after its instance was destroyed"
        }
    }
}

extension InstanceHandle {
    static let metricName = "darkspere_plugin_contract_violations_total"
    static let metricHelp = "Calls a plugin made against the ABI contract (dropped by the host), by plugin and kind."

    /// Every handle made in this process, by `index` (index 0 is "none"): lets a stale id find
    /// the instance it belonged to. Handles live for the life of the process anyway.
    private static let all = Mutex<[InstanceHandle]>([])

    static func register(_ h: InstanceHandle) -> UInt16 {
        all.withLock { list in
            guard list.count < Int(UInt16.max) else { return 0 }
            list.append(h)
            return UInt16(list.count)
        }
    }

    static func registered(_ index: UInt16) -> InstanceHandle? {
        guard index > 0 else { return nil }
        return all.withLock { Int(index) <= $0.count ? $0[Int(index) - 1] : nil }
    }

    /// Counts a violation against this instance and logs the first one of its plugin.
    func violated(_ kind: ContractViolation) {
        runtime.metrics.counter(Self.metricName, help: Self.metricHelp, labels: [("plugin", instanceId), ("kind", kind.rawValue)]).increment()
        if runtime.firstViolation(of: instanceId) {
            violationsLoggedCount.add(1, ordering: .relaxed)
            logger.warning("plugin '\(instanceId)' broke the ABI contract: it \(kind.what). The call was dropped; later violations of this plugin are only counted in \(Self.metricName)")
        }
    }

    /// `violated` for an owner that may be unknown (an id the host never handed out).
    static func violated(_ owner: InstanceHandle?, _ kind: ContractViolation) {
        if let owner { owner.violated(kind); return }
        unattributed.add(1, ordering: .relaxed)
        if unattributed.load(ordering: .relaxed) == 1 {
            Logger(label: "darkspere.plugins").warning("a plugin passed an operation the host does not know (\(kind.rawValue)); the call was dropped")
        }
    }

    /// Violations whose plugin is unknown (the op id carried no instance).
    static let unattributed = Atomic<Int>(0)
}
