import Synchronization

/// The routes of the instances a reload is creating, kept apart until the reload commits.
///
/// A new instance registers its routes in `create()`, before the reload knows whether the
/// whole new config is accepted: those routes must not serve a request yet, and they may
/// take over the paths of the instances the reload replaces or removes (`yielding`).
struct RouteStaging {
    /// Handles of the instances the reload replaces or removes.
    var yielding: Set<ObjectIdentifier>
    /// Routes registered by staged instances, in order.
    var routes: [PluginRoute] = []
}

/// Reload staging of routes (see `RouteStaging`). One reload at a time (the gateway's
/// reload lock); the route functions may be called from any thread meanwhile.
extension HostRuntime {
    /// True between `beginStaging` and `commitStaging` / `abortStaging`: new handles are staged.
    var isStaging: Bool { staging.withLock { $0 != nil } }

    /// Starts staging: handles made from now on are staged; `yielding` are the instances the
    /// reload will retire (their routes do not count as clashes).
    func beginStaging(yielding: [InstanceHandle]) {
        staging.withLock { $0 = RouteStaging(yielding: Set(yielding.map(ObjectIdentifier.init))) }
    }

    /// A staged instance's route_register: checked against the live routes that stay and the
    /// other staged routes, kept until commit. Nil, or why it clashes.
    func addStagedRoute(_ r: PluginRoute) -> String? {
        routeTable.withLock { live in
            staging.withLock { st -> String? in
                guard var s = st else { return live.add(r) }   // staging ended: a late registration goes live
                var probe = live.without(owners: s.yielding)
                for other in s.routes { _ = probe.add(other) }
                if let problem = probe.add(r) { return problem }
                s.routes.append(r)
                st = s
                return nil
            }
        }
    }

    /// A staged instance's route_unregister.
    func removeStagedRoute(method: String, path: String, owner: InstanceHandle) -> Bool {
        staging.withLock { st in
            guard var s = st else { return false }
            guard let i = s.routes.firstIndex(where: { $0.method == method && $0.path == path && $0.handle === owner }) else { return false }
            s.routes.remove(at: i)
            st = s
            return true
        }
    }

    /// Makes the reload's routes live in one step: the routes of `replaced` instances go, the
    /// staged routes come (displacing clashing routes of yielding instances that still
    /// drain), and the staged handles become ordinary ones. Returns problems (none expected:
    /// clashes were refused at registration).
    @discardableResult
    func commitStaging(replaced: [InstanceHandle], staged: [InstanceHandle]) -> [String] {
        var problems: [String] = []
        routeTable.withLock { live in
            staging.withLock { st in
                let s = st ?? RouteStaging(yielding: [])
                for h in replaced { live.removeAll(owner: h) }
                for r in s.routes {
                    if let p = live.add(r, displacing: s.yielding) { problems.append(p) }
                }
                st = nil
            }
        }
        for h in staged { h.staged.store(false, ordering: .releasing) }
        return problems
    }

    /// Drops the staged routes (the reload was refused; its instances are destroyed).
    func abortStaging() {
        staging.withLock { $0 = nil }
    }

    /// Removes every live route of `owner` (a removed channel, once drained).
    @discardableResult
    func removeRoutes(of owner: InstanceHandle) -> Int {
        routeTable.withLock { $0.removeAll(owner: owner) }
    }
}
