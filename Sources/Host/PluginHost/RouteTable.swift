/// The HTTP routes the plugins of one runtime registered: exact paths in a dictionary (the
/// hot path: one lookup), ABI 1.2 patterns in a list tried in order.
///
/// Not thread-safe on its own: HostRuntime keeps it in a Mutex.
struct RouteTable {
    /// "METHOD path" -> route; METHOD "*" serves any method.
    private var exact: [String: PluginRoute] = [:]
    private var patterns: [PluginRoute] = []

    /// Adds a route, or says why it clashes with one already registered.
    mutating func add(_ r: PluginRoute) -> String? {
        if r.pattern.isExact {
            let key = "\(r.method) \(r.path)"
            if let other = exact[key] { return "route \(key) is already registered by '\(other.owner)'" }
            if r.method == "*", let other = exact.values.first(where: { $0.path == r.path }) { return "route \(r.path) is already registered by '\(other.owner)'" }
            if let other = exact["* \(r.path)"] { return "route \(r.path) is already registered by '\(other.owner)'" }
            exact[key] = r
            return nil
        }
        let clash = patterns.first { p in
            (p.method == r.method || p.method == "*" || r.method == "*") && p.pattern.overlaps(r.pattern)
        }
        if let other = clash {
            return "route \(r.method) \(r.path) overlaps \(other.method) \(other.path), already registered by '\(other.owner)'"
        }
        patterns.append(r)
        return nil
    }

    /// Removes the route `owner` registered with exactly this method and path text.
    mutating func remove(method: String, path: String, owner: InstanceHandle) -> Bool {
        let key = "\(method) \(path)"
        if let r = exact[key], r.handle === owner {
            exact.removeValue(forKey: key)
            return true
        }
        if let i = patterns.firstIndex(where: { $0.method == method && $0.path == path && $0.handle === owner }) {
            patterns.remove(at: i)
            return true
        }
        return false
    }

    /// The route serving a request, with its path parameters filled in (an exact path wins
    /// over a pattern), and whether any route has this path (405 rather than 404).
    func find(method: String, path: String) -> (PluginRoute?, pathKnown: Bool) {
        if let r = exact["\(method) \(path)"] ?? exact["* \(path)"] { return (r, true) }
        var known = exact.values.contains { $0.path == path }
        for p in patterns {
            guard let params = p.pattern.match(path) else { continue }
            if p.method == method || p.method == "*" {
                var r = p
                r.params = params
                return (r, true)
            }
            known = true
        }
        return (nil, known)
    }

    /// The methods of the routes that serve `path` (exact, or a pattern that matches it),
    /// sorted: the Allow header of a 405.
    func allowedMethods(path: String) -> [String] {
        let exactOnes = exact.values.filter { $0.path == path }.map(\.method)
        let patternOnes = patterns.filter { $0.pattern.match(path) != nil }.map(\.method)
        return Array(Set(exactOnes + patternOnes)).sorted()
    }

    /// A copy without the routes of `owners` (what a reload's new instances may clash with).
    func without(owners: Set<ObjectIdentifier>) -> RouteTable {
        var t = RouteTable()
        t.exact = exact.filter { r in r.value.handle.map { !owners.contains(ObjectIdentifier($0)) } ?? true }
        t.patterns = patterns.filter { r in r.handle.map { !owners.contains(ObjectIdentifier($0)) } ?? true }
        return t
    }

    /// Removes every route of `owner`; returns how many.
    @discardableResult
    mutating func removeAll(owner: InstanceHandle) -> Int {
        let before = exact.count + patterns.count
        exact = exact.filter { $0.value.handle !== owner }
        patterns.removeAll { $0.handle === owner }
        return before - exact.count - patterns.count
    }

    /// Adds `r`, first removing the routes of `owners` it clashes with (a reload's new
    /// instance takes a path over from one being retired). Nil, or why it still clashes.
    mutating func add(_ r: PluginRoute, displacing owners: Set<ObjectIdentifier>) -> String? {
        guard add(r) != nil else { return nil }
        let clashes: (PluginRoute) -> Bool = { p in
            guard let h = p.handle, owners.contains(ObjectIdentifier(h)) else { return false }
            guard p.method == r.method || p.method == "*" || r.method == "*" else { return false }
            return p.path == r.path || p.pattern.overlaps(r.pattern)
        }
        exact = exact.filter { !clashes($0.value) }
        patterns.removeAll(where: clashes)
        return add(r)
    }

    /// "METHOD path" of every route, sorted (logs).
    var keys: [String] { (Array(exact.keys) + patterns.map { "\($0.method) \($0.path)" }).sorted() }
}
